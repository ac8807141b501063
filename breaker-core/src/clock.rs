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
        u64::try_from(origin().elapsed().as_nanos()).unwrap_or(u64::MAX)
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
