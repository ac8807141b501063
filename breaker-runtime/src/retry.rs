//! Retry with exponential backoff and jitter, outside the breaker.

use std::cell::Cell;
use std::time::Duration;

/// How to retry failed calls: a number of attempts and an exponential, jittered backoff.
///
/// Used by [`Breaker::call_retrying`](crate::Breaker::call_retrying). The breaker sits inside
/// the retry loop, so every attempt is recorded and an open breaker stops the loop at once.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_runtime::Retry;
///
/// let retry = Retry::new(4, Duration::from_millis(100)).multiplier(2.0).max_backoff(Duration::from_millis(300));
/// assert_eq!(retry.delay(1), Duration::from_millis(100));
/// assert_eq!(retry.delay(2), Duration::from_millis(200));
/// assert_eq!(retry.delay(3), Duration::from_millis(300));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    attempts: u32,
    backoff: Duration,
    multiplier: f64,
    max_backoff: Duration,
    jitter: f64,
}

impl Retry {
    /// Up to `attempts` attempts in all (at least 1), waiting `backoff` before the first retry
    /// and doubling it each time, capped at 30 s, without jitter.
    pub const fn new(attempts: u32, backoff: Duration) -> Self {
        Retry {
            attempts: if attempts == 0 { 1 } else { attempts },
            backoff,
            multiplier: 2.0,
            max_backoff: Duration::from_secs(30),
            jitter: 0.0,
        }
    }

    /// Multiply the wait by this after each retry (at least 1; `NaN` is 1).
    pub const fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier >= 1.0 { multiplier } else { 1.0 };
        self
    }

    /// The longest wait between attempts, jitter included.
    pub const fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// Spread each wait randomly by up to this fraction (clamped to [0, 1); `NaN` is 0). Jitter
    /// may shorten a wait capped at `max_backoff`, never lengthen it.
    pub const fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_nan() || fraction < 0.0 {
            0.0
        } else if fraction >= 1.0 {
            0.99
        } else {
            fraction
        };
        self
    }

    /// Attempts in all.
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait after failed attempt number `attempt` (1-based). Never panics: a wait too long
    /// for a `Duration` saturates, and every wait is at most `max_backoff`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let grown = saturating_secs(self.backoff.as_secs_f64() * self.multiplier.powi(exp));
        let capped = grown.min(self.max_backoff);
        if self.jitter == 0.0 {
            return capped;
        }
        let factor = 1.0 + self.jitter * (2.0 * unit_random() - 1.0);
        saturating_secs(capped.as_secs_f64() * factor).min(self.max_backoff)
    }
}

/// `secs` seconds as a `Duration`: `Duration::MAX` when too long for one (or infinite), zero
/// when negative or `NaN` (only `0 × ∞` gives `NaN` here: a zero backoff stays zero).
fn saturating_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}

fn unit_random() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let addr = &STATE as *const _ as u64;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos().into());
            (addr ^ now) | 1
        });
    }
    STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        #[allow(clippy::cast_precision_loss)]
        let unit = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        unit
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_bounds() {
        let r = Retry::new(5, Duration::from_millis(100)).jitter(0.5).multiplier(1.0);
        for _ in 0..1000 {
            let d = r.delay(1);
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(150), "{d:?}");
        }
    }

    #[test]
    fn the_longest_backoffs_saturate_instead_of_panicking() {
        let r = Retry::new(3, Duration::MAX).max_backoff(Duration::MAX);
        assert_eq!(r.delay(1), Duration::MAX);
        assert_eq!(r.delay(u32::MAX), Duration::MAX);
        let r = r.jitter(0.9);
        assert!(r.delay(2) <= Duration::MAX);
        let r = Retry::new(3, Duration::from_secs(1)).multiplier(f64::INFINITY).max_backoff(Duration::MAX);
        assert_eq!(r.delay(2), Duration::MAX);
    }

    #[test]
    fn a_nan_jitter_or_multiplier_is_clamped_not_a_zero_delay() {
        let r = Retry::new(3, Duration::from_millis(100)).jitter(f64::NAN).multiplier(f64::NAN);
        assert_eq!(r.delay(1), Duration::from_millis(100));
        assert_eq!(r.delay(2), Duration::from_millis(100), "a NaN multiplier is 1");
    }

    #[test]
    fn jitter_never_lengthens_a_wait_past_max_backoff() {
        let r = Retry::new(5, Duration::from_secs(10)).jitter(0.5).max_backoff(Duration::from_secs(10));
        for _ in 0..1000 {
            let d = r.delay(3);
            assert!(d >= Duration::from_secs(5) && d <= Duration::from_secs(10), "{d:?}");
        }
    }

    #[test]
    fn zero_attempts_means_one() {
        assert_eq!(Retry::new(0, Duration::ZERO).attempts(), 1);
    }
}
