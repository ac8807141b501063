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

    /// The calibration (below), mirrored where the hot path reads it with plain loads, in one
    /// place so that one address serves both: `[origin_raw, slack]`. `u64::MAX` as the origin
    /// until calibrated, and for good when the coarse clock is unusable or its slack could
    /// overflow `reading + slack`: no reading is past it, so [`upper_bound_if_ready`] answers
    /// `None` and [`calibration`] asks [`calibrate`].
    static READY: [AtomicU64; 2] = [AtomicU64::new(u64::MAX), AtomicU64::new(0)];

    /// (raw CLOCK_MONOTONIC at the origin, slack to add to a coarse reading so it is never
    /// ahead of the precise clock), or `None` when the coarse clock is unusable.
    #[inline]
    fn calibration() -> Option<(u64, u64)> {
        match READY[0].load(Ordering::Acquire) {
            u64::MAX => calibrate(),
            // The slack was stored before the origin was released: the one calibration's.
            origin_raw => Some((origin_raw, READY[1].load(Ordering::Relaxed))),
        }
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
        // The slack before the origin that publishes it. A slack that could overflow
        // `reading + slack` is never published (the cheap path stays off).
        if let Some((origin_raw, slack)) = calibration.filter(|&(_, slack)| slack < 1 << 62) {
            READY[1].store(slack, Ordering::Relaxed);
            READY[0].store(origin_raw, Ordering::Release);
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

/// An opt-in time source that a background thread keeps current, so an open breaker on the
/// [`SystemClock`] decides "the wait has certainly not passed" with one atomic load instead of
/// a clock read.
///
/// [`Ticker::start`] spawns one thread, named `breaker-ticker`, that every `period` reads
/// [`SystemClock`] (the same timeline and origin the breakers use) and stores that reading plus
/// a slack of `period + 10 ms` in a static atomic. While a ticker runs, an open rejection on the
/// system clock compares its deadline with that stored bound; without one (before
/// [`start`](Ticker::start), after the [`Ticker`] is dropped) it reads the coarse clock as
/// before (the `coarse-clock` feature) or the precise one.
///
/// # Lateness bound
///
/// The stored bound is only used to decide that a wait has *certainly not* passed; a wait that
/// may have passed is decided with the precise clock, as without a ticker. So a ticker can never
/// make the move to half-open early, only late, and only when its thread falls behind. A bound
/// is `r + slack`, `r` a [`SystemClock`] reading taken just before it is stored, and it stays
/// until the next store; if that store is done by `r + G` (`G` is normally `period` plus wake-up
/// delay), the bound is behind the clock by at most `max(0, G − slack)` while it is read. So a
/// breaker moves to half-open at most `max(0, G − (period + 10 ms))` after its wait ended, and
/// a rejection's `retry_after` overstates the wait by at most the same amount.
/// With the recommended 1 ms period that is zero unless the thread is kept off a CPU for more
/// than 10 ms past its period. Readers do not check the age of the stored bound (that would
/// need the clock read the ticker exists to avoid), so a thread that is descheduled for longer,
/// or a process whose ticker thread is stopped while other threads run, delays the move by that
/// excess; [`Ticker::worst_gap`] reports the largest `G` seen, so the bound actually achieved
/// can be checked in production.
///
/// Dropping the [`Ticker`] stops and joins the thread and turns the stored bound off, so
/// breakers fall back to the clock read. One ticker runs at a time per process.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_core::{CircuitBreaker, Config, Ticker};
///
/// // Keep the handle for as long as breakers should use the ticked time: dropping it stops
/// // the thread.
/// let ticker = Ticker::start(Duration::from_millis(1)).expect("no other ticker is running");
/// let breaker = CircuitBreaker::new(
///     "db",
///     Config::builder().consecutive_failures(1).wait(Duration::from_secs(30)).build().unwrap(),
/// );
/// breaker.try_acquire().unwrap().failure();
/// assert!(breaker.try_acquire().is_err()); // rejected without reading a clock
/// assert!(Ticker::start(Duration::from_millis(1)).is_err()); // one at a time
/// drop(ticker);
/// assert!(breaker.try_acquire().is_err()); // rejected after a clock read, as before
/// ```
#[cfg(not(loom))]
#[must_use = "dropping the Ticker stops its thread at once"]
#[derive(Debug)]
pub struct Ticker {
    shared: Arc<ticker::Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Why [`Ticker::start`] did not start a ticker.
#[cfg(not(loom))]
#[derive(Debug)]
#[non_exhaustive]
pub enum TickerError {
    /// Another [`Ticker`] is running; one per process.
    AlreadyRunning,
    /// The period is zero or longer than [`Ticker::MAX_PERIOD`].
    Period(Duration),
    /// The thread could not be spawned.
    Spawn(std::io::Error),
}

#[cfg(not(loom))]
impl fmt::Display for TickerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TickerError::AlreadyRunning => f.write_str("a breaker ticker is already running"),
            TickerError::Period(period) => {
                write!(f, "ticker period {period:?} is not in (0, {:?}]", Ticker::MAX_PERIOD)
            }
            TickerError::Spawn(e) => write!(f, "could not spawn the breaker ticker thread: {e}"),
        }
    }
}

#[cfg(not(loom))]
impl std::error::Error for TickerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TickerError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(not(loom))]
impl Ticker {
    /// The recommended period: 1 ms.
    pub const DEFAULT_PERIOD: Duration = Duration::from_millis(1);
    /// The longest period accepted: 1 s. A longer one would only make the slack, and so the
    /// stretch at the end of a wait that reads the precise clock, longer.
    pub const MAX_PERIOD: Duration = Duration::from_secs(1);
    /// What the stored bound adds to a reading beyond the period: scheduling delay that the
    /// bound absorbs before any lateness (see [the lateness bound](Ticker#lateness-bound)).
    pub const MARGIN: Duration = Duration::from_millis(10);

    /// Starts the ticker thread, which stores a bound every `period`
    /// ([`DEFAULT_PERIOD`](Self::DEFAULT_PERIOD) recommended). The first bound is stored before
    /// this returns, so breakers use it at once.
    ///
    /// # Errors
    ///
    /// [`TickerError::AlreadyRunning`] while another [`Ticker`] is alive,
    /// [`TickerError::Period`] for a zero period or one above [`MAX_PERIOD`](Self::MAX_PERIOD),
    /// [`TickerError::Spawn`] if the thread cannot be spawned.
    pub fn start(period: Duration) -> Result<Ticker, TickerError> {
        ticker::start(period)
    }

    /// The stored bound's slack: `period +` [`MARGIN`](Self::MARGIN).
    pub fn slack(&self) -> Duration {
        Duration::from_nanos(self.shared.slack)
    }

    /// The largest gap seen so far between the reading behind one stored bound and the store
    /// that replaced it (read right after that store): the `G` of
    /// [the lateness bound](Ticker#lateness-bound). A move to half-open was late by at most
    /// `worst_gap() − slack()`, when that is positive.
    pub fn worst_gap(&self) -> Duration {
        Duration::from_nanos(self.shared.worst_gap.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[cfg(not(loom))]
impl Drop for Ticker {
    fn drop(&mut self) {
        ticker::stop(&self.shared, self.thread.take());
    }
}

/// The ticker's state: the stored bound that readers load, and the one-at-a-time flag.
#[cfg(not(loom))]
mod ticker {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::{nanos, Clock, SystemClock, Ticker, TickerError};

    /// A [`SystemClock`] reading plus the slack, stored by the ticker thread; 0 when no ticker
    /// runs (a stored bound is at least the 10 ms margin, so never 0).
    static BOUND: AtomicU64 = AtomicU64::new(0);
    /// Whether a [`Ticker`] is alive.
    static RUNNING: AtomicBool = AtomicBool::new(false);

    #[derive(Debug)]
    pub(super) struct Shared {
        pub(super) stop: AtomicBool,
        pub(super) slack: u64,
        pub(super) worst_gap: AtomicU64,
    }

    /// The stored bound, a time the [`SystemClock`] has not passed yet unless the ticker thread
    /// is late (see [`Ticker`]); `None` when no ticker runs. One load.
    #[inline]
    pub(super) fn upper_bound() -> Option<u64> {
        match BOUND.load(Ordering::Relaxed) {
            0 => None,
            bound => Some(bound),
        }
    }

    pub(super) fn start(period: Duration) -> Result<Ticker, TickerError> {
        if period.is_zero() || period > Ticker::MAX_PERIOD {
            return Err(TickerError::Period(period));
        }
        if RUNNING.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(TickerError::AlreadyRunning);
        }
        let slack = nanos(period) + nanos(Ticker::MARGIN);
        let shared = Arc::new(Shared { stop: AtomicBool::new(false), slack, worst_gap: AtomicU64::new(0) });
        // The first bound before returning, so a caller's next rejection already uses it.
        let mut last = SystemClock.now_nanos();
        BOUND.store(last + slack, Ordering::Relaxed);
        let thread_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new().name("breaker-ticker".into()).spawn(move || {
            let shared = thread_shared;
            while !shared.stop.load(Ordering::Acquire) {
                std::thread::park_timeout(period);
                let now = SystemClock.now_nanos();
                BOUND.store(now + shared.slack, Ordering::Relaxed);
                // The previous bound was readable from before `last` until this store, which
                // is done by `stored`: no reader saw that bound later than `stored`.
                let stored = SystemClock.now_nanos();
                shared.worst_gap.fetch_max(stored.saturating_sub(last), Ordering::Relaxed);
                last = now;
            }
        });
        match spawned {
            Ok(thread) => Ok(Ticker { shared, thread: Some(thread) }),
            Err(e) => {
                BOUND.store(0, Ordering::Relaxed);
                RUNNING.store(false, Ordering::Release);
                Err(TickerError::Spawn(e))
            }
        }
    }

    pub(super) fn stop(shared: &Shared, thread: Option<std::thread::JoinHandle<()>>) {
        shared.stop.store(true, Ordering::Release);
        if let Some(thread) = thread {
            thread.thread().unpark();
            // The thread does nothing that panics; a panic would only mean it stopped already.
            let _ = thread.join();
        }
        // After the thread's last store: from here on breakers read the clock again.
        BOUND.store(0, Ordering::Relaxed);
        RUNNING.store(false, Ordering::Release);
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
    ///
    /// While a [`Ticker`] runs this is its stored bound (one load, no clock read), which its
    /// thread keeps ahead of the clock unless it falls behind by more than its slack (the
    /// [lateness bound](Ticker#lateness-bound)).
    #[inline]
    pub(crate) fn cheap_upper_bound(&self) -> Option<u64> {
        match self {
            #[cfg(not(loom))]
            ClockSource::System => match ticker::upper_bound() {
                Some(bound) => Some(bound),
                #[cfg(all(target_os = "linux", feature = "coarse-clock"))]
                None => coarse::upper_bound_if_ready(),
                #[cfg(not(all(target_os = "linux", feature = "coarse-clock")))]
                None => None,
            },
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

    /// The ticker's bound is process-wide: the tests that start a ticker or read the system
    /// clock's cheap bound take turns.
    static SYSTEM_BOUND: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn system_bound() -> std::sync::MutexGuard<'static, ()> {
        SYSTEM_BOUND.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// 10,000 times: the system clock's cheap bound, when it has one, lies between the
    /// `coarse + lag` read just before and just after it. Returns whether it ever had one.
    fn cheap_bound_is_coarse_plus_lag() -> bool {
        let source = ClockSource::System;
        let _ = source.now_coarse(); // calibrates
        let mut seen = false;
        for _ in 0..10_000 {
            let (coarse, lag) = source.now_coarse();
            let upper = source.cheap_upper_bound();
            let (coarse_after, lag_after) = source.now_coarse();
            // `None` only before the coarse clock passes the origin, or without the coarse clock.
            let Some(upper) = upper else { continue };
            seen = true;
            assert!(upper >= coarse + lag, "{upper} below an earlier {coarse} + {lag}");
            assert!(upper <= coarse_after + lag_after, "{upper} above a later {coarse_after} + {lag_after}");
        }
        seen
    }

    #[test]
    fn the_cheap_upper_bound_is_the_coarse_reading_plus_its_lag() {
        let _turn = system_bound();
        cheap_bound_is_coarse_plus_lag();
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

    #[test]
    fn a_ticked_bound_is_a_past_reading_plus_the_slack_and_late_only_by_the_ticker_s_gap() {
        let _turn = system_bound();
        let source = ClockSource::System;
        let ticker = Ticker::start(Ticker::DEFAULT_PERIOD).unwrap();
        let shared = Arc::clone(&ticker.shared);
        let slack = shared.slack;
        assert_eq!(ticker.slack(), Ticker::DEFAULT_PERIOD + Ticker::MARGIN);
        let (mut ticks, mut last, mut worst_deficit) = (0u32, 0, 0);
        let started = std::time::Instant::now();
        // At least 200,000 reads and a few of the thread's stores (a wait for them, not a sleep).
        for i in 0.. {
            if i >= 200_000 && ticks >= 3 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the ticker thread stored {ticks} bounds in 30 s");
            let before = SystemClock.now_nanos();
            let upper = source.cheap_upper_bound().expect("a running ticker has a bound");
            let after = SystemClock.now_nanos();
            // The stored reading is of the system clock's timeline, and never from its future.
            assert!(upper - slack <= after, "ticked reading {} ahead of precise {after}", upper - slack);
            // Never below the precise clock unless the thread fell behind by more than the
            // slack; how far, checked against its gaps below.
            worst_deficit = worst_deficit.max(before.saturating_sub(upper));
            ticks += u32::from(upper != last);
            last = upper;
        }
        drop(ticker); // joins the thread: every gap is in `worst_gap`
        let worst_gap = shared.worst_gap.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            // 10 µs for a store to reach this thread's core.
            worst_deficit <= worst_gap.saturating_sub(slack) + 10_000,
            "bound {worst_deficit} ns behind the clock, more than the worst gap {worst_gap} − slack {slack}"
        );
    }

    #[test]
    fn a_stopped_ticker_falls_back_to_the_clock_read() {
        let _turn = system_bound();
        drop(Ticker::start(Duration::from_millis(1)).unwrap());
        assert_eq!(ticker::upper_bound(), None);
        // The coarse clock's bound as before, or none without it.
        let seen = cheap_bound_is_coarse_plus_lag();
        assert!(!seen || cfg!(all(target_os = "linux", feature = "coarse-clock")), "a bound without a coarse clock");
    }

    #[test]
    fn one_ticker_at_a_time_with_a_period_up_to_a_second() {
        let _turn = system_bound();
        assert!(matches!(Ticker::start(Duration::ZERO), Err(TickerError::Period(_))));
        assert!(matches!(Ticker::start(Duration::from_millis(1001)), Err(TickerError::Period(_))));
        let ticker = Ticker::start(Ticker::MAX_PERIOD).unwrap();
        assert!(matches!(Ticker::start(Ticker::DEFAULT_PERIOD), Err(TickerError::AlreadyRunning)));
        // Dropping stops the thread at once, not after its period.
        let started = std::time::Instant::now();
        drop(ticker);
        assert!(started.elapsed() < Ticker::MAX_PERIOD);
        drop(Ticker::start(Ticker::DEFAULT_PERIOD).unwrap());
    }
}
