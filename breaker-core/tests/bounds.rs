//! Arithmetic at the edges: every configuration duration has documented bounds, and the manual
//! clock saturates rather than wrapping.

use std::time::Duration;

use breaker_core::testing::ManualClock;
use breaker_core::{CircuitBreaker, Config, ConfigBuilder, State};

/// The documented bounds (`breaker_core::MAX_DURATION`, `MIN_WAIT`), spelled out.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
const MIN_WAIT: Duration = Duration::from_millis(1);

fn error_of(b: &ConfigBuilder) -> String {
    b.build().unwrap_err().to_string()
}

#[test]
fn a_wait_of_centuries_is_rejected_naming_the_field_and_the_bound() {
    let mut b = ConfigBuilder::new();
    b.set("wait", "18446744073709551615s").unwrap();
    let err = error_of(&b);
    assert!(err.contains("`wait`: must be at most 24h, got "), "{err}");
}

#[test]
fn a_nanosecond_wait_is_rejected() {
    let mut b = ConfigBuilder::new();
    b.set("wait", "2ns").unwrap();
    assert_eq!(error_of(&b), "invalid circuit breaker configuration: `wait`: must be at least 1ms, got 2ns");
    assert!(Config::builder().wait(MIN_WAIT).build().is_ok());
    assert!(Config::builder().wait(MAX_DURATION).build().is_ok());
}

#[test]
fn every_duration_setting_is_bounded_above() {
    let long = MAX_DURATION + Duration::from_secs(1);
    for key in ["wait", "max_wait", "slow_call", "max_half_open"] {
        let mut b = ConfigBuilder::new();
        b.set(key, "86401s").unwrap();
        let err = b.build().unwrap_err();
        assert_eq!(err.fields().collect::<Vec<_>>(), [key], "{err}");
        assert!(err.to_string().contains("must be at most 24h, got 86401s"), "{err}");
    }
    // A `wait` over the bound is reported once, not again as a `max_wait` shorter than it.
    let err = Config::builder().wait(long).build().unwrap_err();
    assert_eq!(err.fields().collect::<Vec<_>>(), ["wait"]);
    let err = Config::builder().exponential_backoff(2.0, Duration::MAX).build().unwrap_err();
    assert_eq!(err.fields().collect::<Vec<_>>(), ["max_wait"]);
}

#[test]
fn the_longest_settings_still_work() {
    let config = Config::builder()
        .consecutive_failures(1)
        .wait(MAX_DURATION)
        .exponential_backoff(1e300, MAX_DURATION)
        .jitter(0.99)
        .max_half_open(MAX_DURATION)
        .slow_call(MAX_DURATION)
        .build()
        .unwrap();
    assert_eq!(config.wait_for(u32::MAX), MAX_DURATION);
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::new("edge", config).with_clock(clock.clone());
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    assert!(breaker.snapshot().retry_after.unwrap() <= MAX_DURATION);
    clock.advance(MAX_DURATION);
    assert!(breaker.try_acquire().is_ok(), "a probe once the longest wait has passed");
}

#[test]
fn the_manual_clock_saturates_instead_of_wrapping() {
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(5));
    clock.advance(Duration::MAX);
    assert!(clock.elapsed() >= Duration::from_secs(5), "wrapped around to {:?}", clock.elapsed());
    assert_eq!(clock.elapsed(), Duration::from_nanos(u64::MAX));
    clock.advance(Duration::from_secs(1));
    assert_eq!(clock.elapsed(), Duration::from_nanos(u64::MAX));
}
