//! Time sources: the system's monotonic clock, or a manual one for deterministic tests.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::testing::ManualClock;

/// A monotonic time source, read in nanoseconds since an arbitrary fixed origin.
///
/// The breaker reads the clock only where it must: when a call may be slow (slow-call
/// detection on), when the window is time-based, and while the breaker is not closed.
/// Implement this trait to drive breakers from your own notion of time; for tests use
/// [`ManualClock`].
///
/// # Example
///
/// ```
/// use breaker_core::Clock;
///
/// #[derive(Debug)]
/// struct Frozen;
///
/// impl Clock for Frozen {
///     fn now_nanos(&self) -> u64 {
///         42
///     }
/// }
///
/// assert_eq!(Frozen.now_nanos(), 42);
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// Nanoseconds since this clock's origin. Must never go backwards.
    fn now_nanos(&self) -> u64;
}

/// The process's monotonic clock ([`Instant`]), measured from the first time any breaker read it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Clock for SystemClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        // A u64 of nanoseconds lasts 584 years; saturate rather than wrap.
        nanos(origin().elapsed())
    }
}

/// A cheap, coarse reading of the same timeline as [`SystemClock`], for deciding that an open
/// breaker is *certainly* still open without paying for a precise clock read.
///
/// On Linux this is `CLOCK_MONOTONIC_COARSE` (a few nanoseconds, a few milliseconds of
/// resolution) against the origin of [`SystemClock`], whose `Instant` is `CLOCK_MONOTONIC`.
/// The benchmark `open_rejection` shows it pays: an open rejection costs a fraction of a
/// precise read. Elsewhere, and without the `coarse-clock` feature, it falls back to the
/// precise clock.
#[cfg(all(target_os = "linux", feature = "coarse-clock", not(loom)))]
mod coarse {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    #[inline]
    fn read(clock: libc::clockid_t) -> Option<u64> {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, exclusively borrowed `timespec` for the duration of the
        // call, and `clock_gettime` writes nothing but that struct. Both clock ids used here
        // exist on every Linux since 2.6.32; a failure is reported through the return code.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
        if rc != 0 {
            return None;
        }
        // A monotonic clock counts from boot: never negative, and 584 years of uptime before
        // its nanoseconds fill a u64, so plain arithmetic is exact (the checked conversion cost
        // a dozen instructions on every open rejection).
        #[allow(clippy::cast_sign_loss)]
        Some((ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64))
    }

    fn resolution(clock: libc::clockid_t) -> Option<u64> {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: as in `read`: `clock_getres` writes only into the borrowed `ts`.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::clock_getres(clock, &mut ts) };
        if rc != 0 {
            return None;
        }
        as_nanos(ts)
    }

    fn as_nanos(ts: libc::timespec) -> Option<u64> {
        u64::try_from(ts.tv_sec).ok()?.checked_mul(1_000_000_000)?.checked_add(u64::try_from(ts.tv_nsec).ok()?)
    }

    /// The calibration (below), mirrored where the hot path reads it with plain loads: raw
    /// `CLOCK_MONOTONIC` at the origin, and the slack. `SLACK` is 0 until the first
    /// calibration and [`UNUSABLE`] when the coarse clock cannot be used; a calibrated slack is
    /// at least 10 ms, so it is neither.
    static ORIGIN_RAW: AtomicU64 = AtomicU64::new(0);
    static SLACK: AtomicU64 = AtomicU64::new(0);
    const UNUSABLE: u64 = u64::MAX;
    /// [`upper_bound_if_ready`]'s copy: `[origin_raw, slack]`, in one place so that one address
    /// serves both loads. `u64::MAX` as the origin until calibrated (and for good when the
    /// coarse clock is unusable): no reading is past it, so that function answers `None`.
    static READY: [AtomicU64; 2] = [AtomicU64::new(u64::MAX), AtomicU64::new(0)];

    /// (raw CLOCK_MONOTONIC at the origin, slack to add to a coarse reading so it is never
    /// ahead of the precise clock), or `None` when the coarse clock is unusable.
    #[inline]
    fn calibration() -> Option<(u64, u64)> {
        let slack = SLACK.load(Ordering::Acquire);
        if slack == 0 || slack == UNUSABLE {
            return calibrate();
        }
        // Stored before `SLACK` was released: the value of the one calibration.
        Some((ORIGIN_RAW.load(Ordering::Relaxed), slack))
    }

    /// The one calibration, computed once; every caller mirrors the same values.
    #[cold]
    #[inline(never)]
    fn calibrate() -> Option<(u64, u64)> {
        static CALIBRATION: OnceLock<Option<(u64, u64)>> = OnceLock::new();
        let calibration = *CALIBRATION.get_or_init(|| {
            // Read the raw clock right after the origin Instant: the origin is then at most
            // a few microseconds earlier than `raw`, which the slack below absorbs.
            let _ = super::origin();
            let raw = read(libc::CLOCK_MONOTONIC)?;
            let since_origin = u64::try_from(super::origin().elapsed().as_nanos()).ok()?;
            let origin_raw = raw.checked_sub(since_origin)?;
            // The coarse clock moves at the timer tick, and a busy VM delays ticks: lags of
            // 6.9 ms were measured against a 4 ms resolution. 10 ms over the resolution keeps
            // the bound true under that; its only cost is a precise read in a wait's last
            // ~14 ms.
            let slack = resolution(libc::CLOCK_MONOTONIC_COARSE)?.checked_add(10_000_000)?;
            Some((origin_raw, slack))
        });
        match calibration {
            Some((origin_raw, slack)) => {
                ORIGIN_RAW.store(origin_raw, Ordering::Relaxed);
                SLACK.store(slack, Ordering::Release);
                // The slack before the origin that publishes it. A slack that could overflow
                // `reading + slack` is never published (the cheap path stays off).
                if slack < 1 << 62 {
                    READY[1].store(slack, Ordering::Relaxed);
                    READY[0].store(origin_raw, Ordering::Release);
                }
            }
            None => SLACK.store(UNUSABLE, Ordering::Release),
        }
        calibration
    }

    /// A coarse reading since the origin, and how far behind the precise clock it may be.
    #[inline]
    pub(super) fn now() -> Option<(u64, u64)> {
        // Read first, so the calibration is loaded after the call rather than held across it.
        // On the very first call the origin is set after this reading: the reading then
        // saturates to 0, and `0 + slack` is still never behind the precise clock.
        let raw = read(libc::CLOCK_MONOTONIC_COARSE);
        let (origin_raw, slack) = calibration()?;
        Some((raw?.saturating_sub(origin_raw), slack))
    }

    /// `coarse + lag` of [`now`], exactly, when the clock is calibrated, readable and past
    /// the origin; `None` otherwise, and then the caller takes the way that calibrates (and
    /// saturates a reading before the origin). Nothing but the read, two loads from one address
    /// and the arithmetic, so a caller keeps few registers across it.
    #[inline]
    pub(super) fn upper_bound_if_ready() -> Option<u64> {
        let raw = read(libc::CLOCK_MONOTONIC_COARSE)?;
        let origin_raw = READY[0].load(Ordering::Acquire);
        if raw < origin_raw {
            return None;
        }
        // No overflow: a reading below 2^63 (292 years of uptime), a slack below 2^62.
        Some(raw - origin_raw + READY[1].load(Ordering::Relaxed))
    }
}

/// The clock a breaker reads: the system clock unless told otherwise.
///
/// An enum rather than a trait object so the common case (the system clock) is a direct,
/// inlinable call.
#[derive(Clone, Default)]
pub enum ClockSource {
    /// [`SystemClock`].
    #[default]
    System,
    /// A [`ManualClock`] that tests advance by hand.
    Manual(ManualClock),
    /// Any other [`Clock`].
    Custom(Arc<dyn Clock>),
}

impl ClockSource {
    /// A reading that may lag the clock, and the most it may lag by: cheaper than
    /// [`now_nanos`](Self::now_nanos) for the system clock, exact for the others.
    #[inline]
    pub fn now_coarse(&self) -> (u64, u64) {
        match self {
            #[cfg(all(target_os = "linux", feature = "coarse-clock", not(loom)))]
            ClockSource::System => coarse::now().unwrap_or_else(|| (SystemClock.now_nanos(), 0)),
            _ => (self.now_nanos(), 0),
        }
    }

    /// `coarse + lag` of [`now_coarse`](Self::now_coarse), a time the clock has not passed yet,
    /// when that is cheap: the system clock, calibrated, its coarse reading past the origin.
    /// `None` for the other clocks and otherwise (before the first `now_coarse` calibrates,
    /// say): then the caller reads `now_coarse`. What an open breaker compares its deadline
    /// with first.
    #[inline]
    pub(crate) fn cheap_upper_bound(&self) -> Option<u64> {
        match self {
            #[cfg(all(target_os = "linux", feature = "coarse-clock", not(loom)))]
            ClockSource::System => coarse::upper_bound_if_ready(),
            _ => None,
        }
    }

    /// Reads the clock.
    #[inline]
    pub fn now_nanos(&self) -> u64 {
        match self {
            ClockSource::System => SystemClock.now_nanos(),
            ClockSource::Manual(clock) => clock.now_nanos(),
            ClockSource::Custom(clock) => clock.now_nanos(),
        }
    }
}

impl fmt::Debug for ClockSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockSource::System => f.write_str("System"),
            ClockSource::Manual(clock) => f.debug_tuple("Manual").field(clock).finish(),
            ClockSource::Custom(clock) => f.debug_tuple("Custom").field(clock).finish(),
        }
    }
}

impl From<ManualClock> for ClockSource {
    fn from(clock: ManualClock) -> Self {
        ClockSource::Manual(clock)
    }
}

impl From<Arc<dyn Clock>> for ClockSource {
    fn from(clock: Arc<dyn Clock>) -> Self {
        ClockSource::Custom(clock)
    }
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_reading_is_never_ahead_and_lags_at_most_its_slack() {
        let source = ClockSource::System;
        for _ in 0..10_000 {
            let before = SystemClock.now_nanos();
            let (coarse, lag) = source.now_coarse();
            let after = SystemClock.now_nanos();
            assert!(coarse <= after, "coarse {coarse} ahead of precise {after}");
            assert!(coarse + lag >= before, "coarse {coarse} + {lag} behind precise {before}");
        }
    }

    #[test]
    fn the_cheap_upper_bound_is_the_coarse_reading_plus_its_lag() {
        let source = ClockSource::System;
        let _ = source.now_coarse(); // calibrates
        for _ in 0..10_000 {
            let (coarse, lag) = source.now_coarse();
            let upper = source.cheap_upper_bound();
            let (coarse_after, lag_after) = source.now_coarse();
            // `None` only before the coarse clock passes the origin, or off Linux.
            let Some(upper) = upper else { continue };
            assert!(upper >= coarse + lag, "{upper} below an earlier {coarse} + {lag}");
            assert!(upper <= coarse_after + lag_after, "{upper} above a later {coarse_after} + {lag_after}");
        }
    }

    #[test]
    fn only_the_system_clock_has_a_cheap_upper_bound() {
        let clock = ManualClock::new();
        assert_eq!(ClockSource::from(clock).cheap_upper_bound(), None);
    }

    #[test]
    fn manual_clocks_are_read_exactly() {
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(3));
        assert_eq!(ClockSource::from(clock).now_coarse(), (3_000_000_000, 0));
    }
}
