//! No allocation per call, in any state: a counting global allocator measures every call path
//! after warm-up. Counts are per thread, so tests running in parallel do not disturb each other.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_core::testing::ManualClock;
use breaker_core::{CircuitBreaker, Config, ConfigBuilder, Listener, State, ThresholdExceeded, Transition};

#[path = "../../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::measure;

/// Runs `call` a few times to warm up, then 10 000 times, and asserts it never allocated.
fn assert_no_allocation(what: &str, mut call: impl FnMut(usize)) {
    for i in 0..100 {
        call(i);
    }
    let (allocations, bytes) = measure(|| {
        for i in 0..10_000 {
            call(i);
        }
    });
    assert_eq!((allocations, bytes), (0, 0), "{what}: allocations and net bytes over 10 000 calls");
}

#[derive(Default)]
struct CountingListener(AtomicUsize);

impl Listener for CountingListener {
    fn on_transition(&self, _: &Transition) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn on_threshold_exceeded(&self, _: &ThresholdExceeded) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn breaker(config: ConfigBuilder) -> (CircuitBreaker, ManualClock, Arc<CountingListener>) {
    let clock = ManualClock::new();
    let listener = Arc::new(CountingListener::default());
    let b =
        CircuitBreaker::new("alloc", config.build().unwrap()).with_clock(clock.clone()).with_listener(listener.clone());
    (b, clock, listener)
}

#[test]
fn closed_successes_and_failures_with_a_count_window() {
    let (b, _, events) =
        breaker(Config::builder().consecutive_failures(0).failure_rate(0.9).count_window(100).minimum_calls(10));
    assert_no_allocation("closed, count window", |i| {
        let p = b.try_acquire().unwrap();
        if i % 2 == 0 {
            p.success();
        } else {
            p.failure();
        }
    });
    assert_eq!(b.snapshot().failed_calls, 50, "the failures were recorded");
    assert_eq!(events.0.load(Ordering::Relaxed), 0);
}

#[test]
fn closed_with_a_time_window_and_slow_calls() {
    let (b, clock, _) = breaker(
        Config::builder()
            .consecutive_failures(0)
            .failure_rate(0.9)
            .time_window(Duration::from_secs(60))
            .slow_call(Duration::from_millis(100))
            .slow_call_rate(0.9),
    );
    assert_no_allocation("closed, time window", |i| {
        let p = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(if i % 3 == 0 { 150 } else { 7 }));
        match i % 4 {
            0 => p.failure(),
            1 => p.ignore(),
            2 => drop(p),
            _ => p.success(),
        }
    });
    assert_eq!(b.state(), State::Closed);
    assert!(b.snapshot().slow_calls > 0);
}

#[test]
fn open_rejections() {
    let (b, clock, _) = breaker(Config::builder().consecutive_failures(1).wait(Duration::from_secs(3600)));
    b.try_acquire().unwrap().failure();
    assert_no_allocation("open", |_| {
        clock.advance(Duration::from_millis(1));
        let rejected = b.try_acquire().unwrap_err();
        assert!(rejected.retry_after().is_some());
    });
}

#[test]
fn half_open_probes_and_rejections() {
    let (b, clock, _) = breaker(
        Config::builder()
            .consecutive_failures(1)
            .wait(Duration::from_secs(1))
            .half_open_permits(2)
            .success_threshold(2),
    );
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(1));
    b.try_acquire().unwrap().ignore();
    assert_eq!(b.state(), State::HalfOpen);
    assert_no_allocation("half-open", |i| {
        let p = b.try_acquire().unwrap();
        let q = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
        if i % 2 == 0 {
            p.ignore();
        } else {
            drop(p);
        }
        q.ignore();
    });
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn the_calls_that_trip_probe_and_close_the_breaker() {
    let (b, clock, events) = breaker(
        Config::builder()
            .consecutive_failures(1)
            .count_window(100)
            .wait(Duration::from_secs(1))
            .half_open_permits(1)
            .success_threshold(1),
    );
    assert_no_allocation("a closed -> open -> half-open -> (open ->) closed cycle", |i| {
        b.try_acquire().unwrap().failure();
        clock.advance(Duration::from_secs(1));
        if i % 2 == 0 {
            b.try_acquire().unwrap().failure();
            clock.advance(Duration::from_secs(1));
        }
        b.try_acquire().unwrap().success();
    });
    assert_eq!(b.state(), State::Closed);
    assert!(events.0.load(Ordering::Relaxed) >= 30_000);
}

#[test]
fn forced_open_rejections() {
    let (b, _, _) = breaker(Config::builder());
    b.force_open();
    assert_no_allocation("forced open", |_| {
        assert!(b.try_acquire().is_err());
    });
}

#[test]
fn disabled_calls() {
    let (b, _, _) = breaker(Config::builder().consecutive_failures(1));
    b.disable();
    assert_no_allocation("disabled", |i| {
        let p = b.try_acquire().unwrap();
        if i % 2 == 0 {
            p.failure();
        } else {
            p.success();
        }
    });
    assert_eq!(b.state(), State::Disabled);
}

#[test]
fn metrics_only_calls_and_crossings() {
    let (b, _, events) = breaker(Config::builder().consecutive_failures(2).without_failure_rate());
    b.metrics_only();
    let before = events.0.load(Ordering::Relaxed);
    assert_no_allocation("metrics-only", |i| {
        let p = b.try_acquire().unwrap();
        if i % 3 == 2 {
            p.success();
        } else {
            p.failure();
        }
    });
    assert_eq!(b.state(), State::MetricsOnly);
    assert!(events.0.load(Ordering::Relaxed) - before >= 3_000, "crossings were reported");
}

#[test]
fn owned_permits() {
    let (b, _, _) = breaker(Config::builder().consecutive_failures(0).failure_rate(0.9));
    let b = Arc::new(b);
    assert_no_allocation("owned permits", |i| {
        let p = b.try_acquire_owned().unwrap();
        if i % 2 == 0 {
            p.failure();
        } else {
            p.success();
        }
    });
}

#[test]
fn manual_operations() {
    let (b, _, _) = breaker(Config::builder().count_window(100));
    assert_no_allocation("force_open, disable, metrics_only, reset", |_| {
        b.force_open();
        b.disable();
        b.metrics_only();
        b.reset();
    });
}

#[test]
fn no_heap_growth_across_1000_transitions() {
    let (b, clock, _) = breaker(
        Config::builder()
            .consecutive_failures(1)
            .count_window(100)
            .wait(Duration::from_secs(1))
            .half_open_permits(1)
            .success_threshold(1),
    );
    let cycle = || {
        b.try_acquire().unwrap().failure();
        clock.advance(Duration::from_secs(1));
        b.try_acquire().unwrap().success();
        b.force_open();
        b.reset();
    };
    cycle();
    let (_, bytes) = measure(|| (0..250).for_each(|_| cycle()));
    assert_eq!(bytes, 0, "live heap bytes after 1000 transitions");
}

#[test]
fn a_100_call_breaker_fits_in_a_kilobyte() {
    let (b, _, _) = breaker(Config::builder().count_window(100));
    let footprint = b.memory_footprint();
    assert!(footprint <= 1024, "memory_footprint() = {footprint}");
    // The footprint accounts for the window's heap: building one allocates about that much.
    let (_, bytes) = measure(|| {
        let b = CircuitBreaker::new("alloc", Config::builder().count_window(100).build().unwrap());
        std::mem::forget(b);
    });
    assert!(bytes >= 100 && usize::try_from(bytes).unwrap() <= footprint, "heap {bytes}, footprint {footprint}");
}
