//! One test per bug seen in other circuit-breaker crates, named for the bug.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use breaker_core::testing::ManualClock;
use breaker_core::{CircuitBreaker, Config, ConfigBuilder, RejectReason, State};

fn breaker(config: ConfigBuilder) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    (CircuitBreaker::new("peer", config.build().unwrap()).with_clock(clock.clone()), clock)
}

/// Half-open with `permits` probe slots (the breaker opens on one failure, waits 10s).
fn half_open(permits: u32) -> (CircuitBreaker, ManualClock) {
    let (b, clock) = breaker(
        Config::builder()
            .consecutive_failures(1)
            .wait(Duration::from_secs(10))
            .half_open_permits(permits)
            .success_threshold(permits),
    );
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(10));
    (b, clock)
}

/// A window that counts from the start (or is reset only when full) lets 1000 successes hide
/// any number of later failures. With a window of 10, the defaults' minimum of 10 calls and a
/// 0.5 rate, exactly 5 failures after the successes must open it.
#[test]
fn count_window_that_does_not_slide() {
    let (b, _) = breaker(Config::builder().count_window(10).consecutive_failures(0));
    assert_eq!(b.config().minimum_calls(), 10);
    for _ in 0..1000 {
        b.try_acquire().unwrap().success();
    }
    for i in 1..=4 {
        b.try_acquire().unwrap().failure();
        let s = b.snapshot();
        assert_eq!((s.state, s.calls_in_window, s.failed_calls), (State::Closed, 10, i));
    }
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), State::Open, "5 of the last 10 calls failed");
    assert_eq!(b.snapshot().failure_rate, 0.5);
}

#[test]
fn unbounded_half_open_admission() {
    let (b, _) = half_open(3);
    let results: Vec<_> = (0..100).map(|_| b.try_acquire()).collect();
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(admitted, 3);
    assert!(results[3..].iter().all(|r| r.as_ref().unwrap_err().reason() == RejectReason::HalfOpenFull));
    assert_eq!(b.snapshot().permits_in_use, 3);
}

#[test]
fn cancelled_probes_wedging_half_open() {
    let (b, _) = half_open(2);
    let b = Arc::new(b);
    for _ in 0..100 {
        let borrowed = b.try_acquire().expect("a cancelled probe frees its slot");
        let owned = b.try_acquire_owned().expect("a cancelled probe frees its slot");
        assert!(borrowed.is_probe() && owned.is_probe());
        assert!(b.try_acquire().is_err());
        drop(borrowed);
        drop(owned);
        assert_eq!(b.snapshot().permits_in_use, 0);
    }
    // No time has passed (no max_half_open rescue): the slots were simply given back.
    let p = b.try_acquire().unwrap();
    let q = b.try_acquire().unwrap();
    p.success();
    q.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn zero_permits_or_zero_window_accepted_by_config() {
    let err = Config::builder().half_open_permits(0).count_window(0).build().unwrap_err();
    assert_eq!(err.fields().collect::<Vec<_>>(), ["window", "half_open_permits"]);
    let err = Config::builder().time_window(Duration::ZERO).success_threshold(0).minimum_calls(0).build().unwrap_err();
    assert_eq!(err.fields().collect::<Vec<_>>(), ["window", "minimum_calls", "success_threshold"]);
    let err = Config::builder().wait(Duration::ZERO).max_half_open(Duration::ZERO).build().unwrap_err();
    assert_eq!(err.fields().collect::<Vec<_>>(), ["wait", "max_half_open"]);
}

#[test]
fn panics_not_counted_as_failures() {
    let (b, _) = breaker(Config::builder().consecutive_failures(2));
    for _ in 0..2 {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let _permit = b.try_acquire().unwrap();
            panic!("the protected call panicked");
        }));
        assert!(caught.is_err());
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.snapshot().failed_calls, 2);
}

#[test]
fn panicking_probe_not_counted_as_a_failure() {
    let (b, _) = half_open(2);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _probe = b.try_acquire().unwrap();
        panic!("the probe panicked");
    }));
    assert!(caught.is_err());
    assert_eq!(b.state(), State::Open, "a panicking probe is a failed probe");
}

/// A call admitted while closed that reports late must not decide the half-open trial, nor
/// count in the window of a later closed period.
#[test]
fn late_outcomes_from_a_previous_state_counted() {
    let (b, clock) = breaker(
        Config::builder()
            .consecutive_failures(1)
            .slow_call(Duration::from_secs(1))
            .wait(Duration::from_secs(10))
            .half_open_permits(1)
            .success_threshold(1),
    );
    let slow_from_closed = b.try_acquire().unwrap();
    let failure_from_closed = b.try_acquire().unwrap();
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(10));
    let probe = b.try_acquire().unwrap();
    slow_from_closed.success(); // 10s: slow, but admitted while closed
    failure_from_closed.failure();
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot().permits_in_use, 1);
    probe.success();
    assert_eq!(b.state(), State::Closed);

    let stale = b.try_acquire().unwrap();
    b.reset();
    stale.failure();
    let s = b.snapshot();
    assert_eq!((s.state, s.calls_in_window, s.consecutive_failures), (State::Closed, 0, 0));
}

#[test]
fn memory_growing_across_transitions() {
    let (b, clock) = breaker(
        Config::builder()
            .consecutive_failures(1)
            .count_window(100)
            .wait(Duration::from_secs(1))
            .half_open_permits(1)
            .success_threshold(1),
    );
    let before = b.memory_footprint();
    for i in 0..1000 {
        b.try_acquire().unwrap().failure();
        clock.advance(Duration::from_secs(1));
        let probe = b.try_acquire().unwrap();
        if i % 2 == 0 {
            probe.success();
        } else {
            probe.failure();
            clock.advance(Duration::from_secs(1));
            b.try_acquire().unwrap().success();
        }
        b.force_open();
        b.reset();
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.memory_footprint(), before);
    // The counting allocator in tests/alloc.rs checks the heap itself.
}

/// recloser evaluated the rate only after a failure, so the success that filled the ring could
/// not trip it (recloser PR #10).
#[test]
fn success_that_fills_the_window_does_not_trip() {
    let (b, _) = breaker(Config::builder().count_window(4).consecutive_failures(0).failure_rate(0.5));
    assert_eq!(b.config().minimum_calls(), 4);
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Closed);
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Open, "the 4th outcome, a success, fills the window at 2/4 failures");
}

/// Long-lived processes: a breaker that trips after running for longer than its wait must still
/// wait the full wait (the open deadline is measured from the trip, not from the clock origin).
#[test]
fn open_deadline_measured_from_the_clock_origin() {
    let (b, clock) = breaker(Config::builder().consecutive_failures(1).wait(Duration::from_secs(60)));
    clock.advance(Duration::from_secs(24 * 3600));
    b.try_acquire().unwrap().failure();
    let r = b.try_acquire().unwrap_err();
    assert_eq!((r.state(), r.retry_after()), (State::Open, Some(Duration::from_secs(60))));
    assert!(matches!(b.snapshot().retry_after, Some(d) if d == Duration::from_secs(60)));
}
