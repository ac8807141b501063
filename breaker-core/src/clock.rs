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
    use std::sync::OnceLock;

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
        as_nanos(ts)
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

    /// (raw CLOCK_MONOTONIC at the origin, slack to add to a coarse reading so it is never
    /// ahead of the precise clock), or `None` when the coarse clock is unusable.
    fn calibration() -> Option<(u64, u64)> {
        static CALIBRATION: OnceLock<Option<(u64, u64)>> = OnceLock::new();
        *CALIBRATION.get_or_init(|| {
            // Read the raw clock right after the origin Instant: the origin is then at most
            // a few microseconds earlier than `raw`, which the slack below absorbs.
            let _ = super::origin();
            let raw = read(libc::CLOCK_MONOTONIC)?;
            let since_origin = u64::try_from(super::origin().elapsed().as_nanos()).ok()?;
            let origin_raw = raw.checked_sub(since_origin)?;
            let slack = resolution(libc::CLOCK_MONOTONIC_COARSE)?.checked_add(1_000_000)?;
            Some((origin_raw, slack))
        })
    }

    /// A coarse reading since the origin, and how far behind the precise clock it may be.
    #[inline]
    pub(super) fn now() -> Option<(u64, u64)> {
        let (origin_raw, slack) = calibration()?;
        Some((read(libc::CLOCK_MONOTONIC_COARSE)?.saturating_sub(origin_raw), slack))
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
    fn manual_clocks_are_read_exactly() {
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(3));
        assert_eq!(ClockSource::from(clock).now_coarse(), (3_000_000_000, 0));
    }
}
