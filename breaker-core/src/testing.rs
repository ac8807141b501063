//! Deterministic time for tests: drive a breaker through open, half-open and closed without
//! sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{nanos, Clock};

/// A clock that only moves when told to. Clones share the same time.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_core::{CircuitBreaker, Config, State};
/// use breaker_core::testing::ManualClock;
///
/// let clock = ManualClock::new();
/// let config = Config::builder()
///     .consecutive_failures(1)
///     .wait(Duration::from_secs(30))
///     .half_open_permits(1)
///     .success_threshold(1)
///     .build()
///     .unwrap();
/// let breaker = CircuitBreaker::new("db", config).with_clock(clock.clone());
///
/// breaker.try_acquire().unwrap().failure();
/// assert_eq!(breaker.state(), State::Open);
///
/// clock.advance(Duration::from_secs(30));
/// breaker.try_acquire().unwrap().success();
/// assert_eq!(breaker.state(), State::Closed);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`. The clock stops at its largest reading (about 584
    /// years) rather than wrapping around to zero.
    pub fn advance(&self, by: Duration) {
        let by = nanos(by);
        // `fetch_update` with a closure that always returns `Some` cannot fail.
        let _ = self.now.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| Some(now.saturating_add(by)));
    }

    /// Sets the clock to `at` since its origin. Ignored if that would move it backwards.
    pub fn set(&self, at: Duration) {
        self.now.fetch_max(nanos(at), Ordering::SeqCst);
    }

    /// The time since the origin.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock").field("now", &self.elapsed()).finish()
    }
}
