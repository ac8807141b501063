//! One test per transition and trip, driven by a manual clock, pinning the listener's events
//! (from, to, reason with its measured value), snapshots and rejections exactly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_core::testing::ManualClock;
use breaker_core::{
    CircuitBreaker, Config, ConfigBuilder, Listener, ManualOp, Reason, RejectReason, Rejected, Snapshot, State,
    ThresholdExceeded, Transition,
};

const NAME: &str = "inventory";

#[derive(Default)]
struct Recorder {
    transitions: Mutex<Vec<Transition>>,
    exceeded: Mutex<Vec<ThresholdExceeded>>,
}

impl Listener for Recorder {
    fn on_transition(&self, t: &Transition) {
        self.transitions.lock().unwrap().push(t.clone());
    }
    fn on_threshold_exceeded(&self, e: &ThresholdExceeded) {
        self.exceeded.lock().unwrap().push(e.clone());
    }
}

impl Recorder {
    fn take(&self) -> Vec<Transition> {
        std::mem::take(&mut *self.transitions.lock().unwrap())
    }
    /// Exactly one transition since the last call, which is returned.
    fn one(&self) -> Transition {
        let mut all = self.take();
        assert_eq!(all.len(), 1, "expected exactly one transition, got {all:#?}");
        all.pop().unwrap()
    }
    fn none(&self) {
        let all = self.take();
        assert!(all.is_empty(), "expected no transition, got {all:#?}");
    }
    fn take_exceeded(&self) -> Vec<ThresholdExceeded> {
        std::mem::take(&mut *self.exceeded.lock().unwrap())
    }
}

struct Rig {
    breaker: CircuitBreaker,
    clock: ManualClock,
    events: Arc<Recorder>,
}

fn rig(config: ConfigBuilder) -> Rig {
    let clock = ManualClock::new();
    let events = Arc::new(Recorder::default());
    let breaker =
        CircuitBreaker::new(NAME, config.build().unwrap()).with_clock(clock.clone()).with_listener(events.clone());
    Rig { breaker, clock, events }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Only the trip under test is on: no consecutive-failure trip, no failure rate.
fn quiet() -> ConfigBuilder {
    Config::builder().consecutive_failures(0).without_failure_rate().wait(secs(10))
}

fn reject(breaker: &CircuitBreaker) -> Rejected {
    breaker.try_acquire().expect_err("expected a rejection")
}

fn assert_rejected(r: &Rejected, state: State, reason: RejectReason, retry_after: Option<Duration>) {
    assert_eq!(r.name(), NAME);
    assert_eq!(r.state(), state);
    assert_eq!(r.reason(), reason);
    assert_eq!(r.retry_after(), retry_after);
}

fn snap(state: State, calls: u32, failed: u32, slow: u32, consecutive: u32) -> Snapshot {
    let rate = |n: u32| if calls == 0 { 0.0 } else { f64::from(n) / f64::from(calls) };
    Snapshot {
        state,
        failure_rate: rate(failed),
        slow_call_rate: rate(slow),
        calls_in_window: calls,
        failed_calls: failed,
        slow_calls: slow,
        consecutive_failures: consecutive,
        permits_in_use: 0,
        retry_after: None,
    }
}

impl Rig {
    fn fail(&self, n: usize) {
        for _ in 0..n {
            self.breaker.try_acquire().unwrap().failure();
        }
    }
    fn succeed(&self, n: usize) {
        for _ in 0..n {
            self.breaker.try_acquire().unwrap().success();
        }
    }
    /// Trips a breaker built with `consecutive_failures(1)` and checks the event.
    fn trip(&self) {
        self.fail(1);
        let t = self.events.one();
        assert_eq!((t.from, t.to), (State::Closed, State::Open));
    }
    /// Open now; the wait passes and the next call is a probe.
    fn to_half_open(&self) {
        let wait = reject(&self.breaker).retry_after().unwrap();
        self.clock.advance(wait);
        assert_eq!(self.breaker.state(), State::Open, "half-open is entered lazily");
    }
}

#[test]
fn consecutive_failures_open_the_breaker() {
    let r = rig(quiet().consecutive_failures(3));
    r.fail(2);
    r.succeed(1);
    r.fail(2);
    assert_eq!(r.breaker.state(), State::Closed);
    assert_eq!(r.breaker.snapshot(), snap(State::Closed, 5, 4, 0, 2));
    r.events.none();

    r.fail(1);
    let t = r.events.one();
    assert_eq!(t.name.as_str(), NAME);
    assert_eq!((t.from, t.to), (State::Closed, State::Open));
    assert_eq!(t.reason, Reason::ConsecutiveFailures { count: 3, threshold: 3 });
    assert_eq!(t.reason.measurement(), Some((3.0, 3.0)));
    let expected = Snapshot { retry_after: Some(secs(10)), ..snap(State::Open, 6, 5, 0, 3) };
    assert_eq!(t.snapshot, expected);
    assert_eq!(r.breaker.snapshot(), expected);
    assert_eq!(r.breaker.state(), State::Open);

    assert_rejected(&reject(&r.breaker), State::Open, RejectReason::Open, Some(secs(10)));
    r.clock.advance(Duration::from_millis(3_250));
    assert_rejected(&reject(&r.breaker), State::Open, RejectReason::Open, Some(Duration::from_millis(6_750)));
    assert_eq!(r.breaker.snapshot().retry_after, Some(Duration::from_millis(6_750)));
    r.events.none();
}

#[test]
fn failure_rate_opens_before_the_window_is_full() {
    let r = rig(quiet().failure_rate(0.5).count_window(10).minimum_calls(4));
    r.fail(3);
    assert_eq!(r.breaker.state(), State::Closed, "3 outcomes are below the minimum of 4");
    r.events.none();
    r.fail(1);
    let t = r.events.one();
    assert_eq!((t.from, t.to), (State::Closed, State::Open));
    assert_eq!(t.reason, Reason::FailureRate { rate: 1.0, threshold: 0.5 });
    assert_eq!(t.snapshot, Snapshot { retry_after: Some(secs(10)), ..snap(State::Open, 4, 4, 0, 4) });
}

#[test]
fn failure_rate_below_the_threshold_keeps_the_breaker_closed() {
    let r = rig(quiet().failure_rate(0.5).count_window(10).minimum_calls(4));
    for _ in 0..10 {
        r.succeed(2);
        r.fail(1);
    }
    // The window holds outcomes 21..=30 of (S S F) x 10: F S S F S S F S S F -> 4 failures, 0.4.
    assert_eq!(r.breaker.snapshot(), snap(State::Closed, 10, 4, 0, 1));
    r.events.none();
}

#[test]
fn a_success_completing_the_minimum_can_trip() {
    let r = rig(quiet().failure_rate(0.5).count_window(10).minimum_calls(4));
    r.fail(3);
    assert_eq!(r.breaker.state(), State::Closed);
    r.succeed(1);
    let t = r.events.one();
    assert_eq!(t.reason, Reason::FailureRate { rate: 0.75, threshold: 0.5 });
    assert_eq!(t.snapshot, Snapshot { retry_after: Some(secs(10)), ..snap(State::Open, 4, 3, 0, 0) });
}

#[test]
fn slow_call_rate_opens_the_breaker_and_slow_means_at_least_the_duration() {
    let r = rig(quiet().slow_call(secs(1)).slow_call_rate(0.5).count_window(10).minimum_calls(2));
    let p = r.breaker.try_acquire().unwrap();
    r.clock.advance(Duration::from_millis(999));
    p.success();
    assert_eq!(r.breaker.snapshot(), snap(State::Closed, 1, 0, 0, 0), "999ms is not slow");

    // A failure can be slow too (the failure rate is off here).
    let p = r.breaker.try_acquire().unwrap();
    r.clock.advance(secs(1));
    p.failure();
    let t = r.events.one();
    assert_eq!((t.from, t.to), (State::Closed, State::Open));
    assert_eq!(t.reason, Reason::SlowCallRate { rate: 0.5, threshold: 0.5 });
    assert_eq!(t.reason.measurement(), Some((0.5, 0.5)));
    assert_eq!(t.snapshot, Snapshot { retry_after: Some(secs(10)), ..snap(State::Open, 2, 1, 1, 1) });
}

#[test]
fn slow_successes_alone_open_the_breaker() {
    let r = rig(quiet().slow_call(Duration::from_millis(100)).count_window(5).minimum_calls(3));
    for _ in 0..3 {
        let p = r.breaker.try_acquire().unwrap();
        r.clock.advance(Duration::from_millis(100));
        p.success();
    }
    let t = r.events.one();
    assert_eq!(t.reason, Reason::SlowCallRate { rate: 1.0, threshold: 1.0 });
    assert_eq!(t.snapshot.slow_calls, 3);
    assert_eq!(t.snapshot.failed_calls, 0);
}

#[test]
fn time_window_counts_only_the_last_seconds() {
    let r = rig(quiet().failure_rate(0.5).time_window(secs(3)).minimum_calls(4));
    r.fail(2); // second 0
    r.clock.advance(secs(1));
    r.succeed(1); // second 1
    r.clock.advance(secs(2));
    // Second 0 has left the 3-second window (seconds 1..=3).
    assert_eq!(r.breaker.snapshot(), snap(State::Closed, 1, 0, 0, 0));
    r.succeed(1);
    r.fail(1);
    assert_eq!(r.breaker.state(), State::Closed, "3 calls are below the minimum");
    r.fail(1);
    let t = r.events.one();
    assert_eq!(t.reason, Reason::FailureRate { rate: 0.5, threshold: 0.5 });
    assert_eq!(t.snapshot, Snapshot { retry_after: Some(secs(10)), ..snap(State::Open, 4, 2, 0, 2) });
}

#[test]
fn open_moves_to_half_open_lazily_on_the_first_call_after_the_wait() {
    let r = rig(quiet().consecutive_failures(1).half_open_permits(2).success_threshold(2));
    r.trip();
    r.clock.advance(Duration::from_nanos(10_000_000_000 - 1));
    assert_rejected(&reject(&r.breaker), State::Open, RejectReason::Open, Some(Duration::from_nanos(1)));
    r.clock.advance(Duration::from_nanos(1));
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(r.breaker.snapshot().retry_after, Some(Duration::ZERO));
    r.events.none();

    let probe = r.breaker.try_acquire().expect("the first call after the wait is a probe");
    assert!(probe.is_probe());
    let t = r.events.one();
    assert_eq!((t.from, t.to, t.reason), (State::Open, State::HalfOpen, Reason::WaitElapsed));
    assert_eq!(t.reason.measurement(), None);
    assert_eq!(t.snapshot.state, State::HalfOpen);
    assert_eq!(t.snapshot.permits_in_use, 0);
    assert_eq!(t.snapshot.retry_after, None);
    assert_eq!(r.breaker.state(), State::HalfOpen);
    assert_eq!(r.breaker.snapshot().permits_in_use, 1);
    drop(probe);
    assert_eq!(r.breaker.snapshot().permits_in_use, 0);
}

#[test]
fn half_open_admits_at_most_the_permits_and_rejects_the_rest() {
    let r = rig(quiet().consecutive_failures(1).half_open_permits(3).success_threshold(3));
    r.trip();
    r.to_half_open();
    let probes: Vec<_> = (0..3).map(|_| r.breaker.try_acquire().unwrap()).collect();
    assert!(probes.iter().all(|p| p.is_probe()));
    assert_eq!(r.breaker.snapshot().permits_in_use, 3);
    for _ in 0..5 {
        assert_rejected(&reject(&r.breaker), State::HalfOpen, RejectReason::HalfOpenFull, None);
    }
    let mut probes = probes.into_iter();
    probes.next().unwrap().success();
    assert_eq!(r.breaker.snapshot().permits_in_use, 2);
    let again = r.breaker.try_acquire().expect("a reported probe frees its slot");
    assert!(again.is_probe());
    assert!(r.breaker.try_acquire().is_err());
    r.events.take();
}

#[test]
fn half_open_closes_after_success_threshold_probes() {
    let r = rig(quiet().consecutive_failures(1).half_open_permits(3).success_threshold(2));
    r.trip();
    r.to_half_open();
    r.succeed(1);
    assert_eq!(r.breaker.state(), State::HalfOpen);
    r.events.take(); // open -> half-open
    r.succeed(1);
    let t = r.events.one();
    assert_eq!((t.from, t.to), (State::HalfOpen, State::Closed));
    assert_eq!(t.reason, Reason::ProbesSucceeded { successes: 2 });
    assert_eq!(t.snapshot, snap(State::Closed, 0, 0, 0, 0), "closing starts a fresh window");
    assert_eq!(r.breaker.snapshot(), snap(State::Closed, 0, 0, 0, 0));
    assert!(!r.breaker.try_acquire().unwrap().is_probe());
}

#[test]
fn a_failed_probe_reopens_even_after_successes() {
    let r = rig(quiet().consecutive_failures(1).half_open_permits(3).success_threshold(3));
    r.trip();
    r.to_half_open();
    let a = r.breaker.try_acquire().unwrap();
    let b = r.breaker.try_acquire().unwrap();
    a.success();
    r.events.take();
    b.failure();
    let t = r.events.one();
    assert_eq!((t.from, t.to, t.reason), (State::HalfOpen, State::Open, Reason::ProbeFailed));
    assert_eq!(t.snapshot.retry_after, Some(secs(10)));
    assert_eq!(t.snapshot.permits_in_use, 0);
    assert_rejected(&reject(&r.breaker), State::Open, RejectReason::Open, Some(secs(10)));
}

#[test]
fn a_slow_successful_probe_reopens() {
    let r = rig(quiet().consecutive_failures(1).slow_call(secs(2)).half_open_permits(1).success_threshold(1));
    r.trip();
    r.to_half_open();
    let p = r.breaker.try_acquire().unwrap();
    r.events.take();
    r.clock.advance(secs(2));
    p.success();
    let t = r.events.one();
    assert_eq!((t.from, t.to, t.reason), (State::HalfOpen, State::Open, Reason::ProbeFailed));
}

#[test]
fn half_open_whose_probes_never_report_reopens_after_max_half_open() {
    let r = rig(quiet().consecutive_failures(1).half_open_permits(1).success_threshold(1).max_half_open(secs(30)));
    r.trip();
    r.to_half_open();
    let stuck = r.breaker.try_acquire().unwrap();
    r.events.take();
    r.clock.advance(Duration::from_nanos(30_000_000_000 - 1));
    assert_rejected(&reject(&r.breaker), State::HalfOpen, RejectReason::HalfOpenFull, None);
    r.events.none();
    r.clock.advance(Duration::from_nanos(1));
    assert_rejected(&reject(&r.breaker), State::Open, RejectReason::Open, Some(secs(10)));
    let t = r.events.one();
    assert_eq!((t.from, t.to, t.reason), (State::HalfOpen, State::Open, Reason::HalfOpenTimeout));
    assert_eq!(t.snapshot.retry_after, Some(secs(10)));
    // The stuck probe reports at last: it belongs to the old half-open period and decides nothing.
    stuck.success();
    assert_eq!(r.breaker.state(), State::Open);
    r.events.none();
    r.clock.advance(secs(10));
    r.breaker.try_acquire().unwrap().success();
    let kinds: Vec<_> = r.events.take().into_iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(kinds, [(State::Open, State::HalfOpen), (State::HalfOpen, State::Closed)]);
}

#[test]
fn ignored_and_dropped_outcomes_count_for_nothing() {
    // Counted as a failure, an ignored or dropped call would trip on 2 consecutive failures;
    // counted as a success, it would complete the minimum of 2 at a failure rate of 0.5.
    let r = rig(quiet().consecutive_failures(2).failure_rate(0.5).count_window(4).minimum_calls(2));
    r.fail(1);
    for _ in 0..10 {
        r.breaker.try_acquire().unwrap().ignore();
        drop(r.breaker.try_acquire().unwrap());
    }
    assert_eq!(r.breaker.snapshot(), snap(State::Closed, 1, 1, 0, 1));
    r.events.none();
}

#[test]
fn ignored_and_dropped_probes_free_their_slot_and_decide_nothing() {
    let r = rig(quiet().consecutive_failures(1).half_open_permits(1).success_threshold(1));
    r.trip();
    r.to_half_open();
    for i in 0..10 {
        let p = r.breaker.try_acquire().expect("the slot was freed");
        assert_eq!(r.breaker.snapshot().permits_in_use, 1);
        if i % 2 == 0 {
            p.ignore();
        } else {
            drop(p);
        }
        assert_eq!(r.breaker.snapshot().permits_in_use, 0);
    }
    assert_eq!(r.breaker.state(), State::HalfOpen);
    assert_eq!(r.events.take().len(), 1, "only open -> half-open");
}

#[test]
fn force_open_rejects_everything_until_reset() {
    let r = rig(quiet().consecutive_failures(1));
    r.breaker.force_open();
    let t = r.events.one();
    assert_eq!((t.from, t.to, t.reason), (State::Closed, State::ForcedOpen, Reason::Manual(ManualOp::ForceOpen)));
    assert_eq!(t.snapshot.state, State::ForcedOpen);
    assert_eq!(t.snapshot.retry_after, None);
    for _ in 0..3 {
        r.clock.advance(secs(3600));
        assert_rejected(&reject(&r.breaker), State::ForcedOpen, RejectReason::ForcedOpen, None);
    }
    r.breaker.force_open();
    r.events.none();
    r.breaker.reset();
    let t = r.events.one();
    assert_eq!((t.from, t.to, t.reason), (State::ForcedOpen, State::Closed, Reason::Manual(ManualOp::Reset)));
    r.succeed(1);
}

#[test]
fn force_open_from_half_open_discards_the_probes() {
    let r = rig(quiet().consecutive_failures(1).half_open_permits(1).success_threshold(1));
    r.trip();
    r.to_half_open();
    let p = r.breaker.try_acquire().unwrap();
    r.events.take();
    r.breaker.force_open();
    assert_eq!(r.events.one().from, State::HalfOpen);
    p.success();
    assert_eq!(r.breaker.state(), State::ForcedOpen);
    r.events.none();
}

#[test]
fn disabled_admits_everything_and_records_nothing() {
    let r = rig(quiet().consecutive_failures(1).failure_rate(0.1).minimum_calls(1));
    r.succeed(1);
    r.breaker.disable();
    let t = r.events.one();
    assert_eq!((t.from, t.to, t.reason), (State::Closed, State::Disabled, Reason::Manual(ManualOp::Disable)));
    r.fail(100);
    let p = r.breaker.try_acquire().unwrap();
    assert!(!p.is_probe());
    r.clock.advance(secs(100));
    p.failure();
    assert_eq!(r.breaker.snapshot(), snap(State::Disabled, 1, 0, 0, 0));
    r.events.none();
    r.breaker.disable();
    r.events.none();
}

#[test]
fn metrics_only_records_reports_each_crossing_once_and_never_trips() {
    let r = rig(quiet().consecutive_failures(3));
    r.breaker.metrics_only();
    let t = r.events.one();
    assert_eq!((t.from, t.to, t.reason), (State::Closed, State::MetricsOnly, Reason::Manual(ManualOp::MetricsOnly)));
    r.fail(2);
    assert!(r.events.take_exceeded().is_empty());
    r.fail(1);
    let e = r.events.take_exceeded();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].name.as_str(), NAME);
    assert_eq!(e[0].reason, Reason::ConsecutiveFailures { count: 3, threshold: 3 });
    assert_eq!(e[0].snapshot, snap(State::MetricsOnly, 3, 3, 0, 3));
    r.fail(20);
    assert!(r.events.take_exceeded().is_empty(), "still the same crossing");
    assert_eq!(r.breaker.state(), State::MetricsOnly);
    assert_eq!(r.breaker.snapshot(), snap(State::MetricsOnly, 23, 23, 0, 23));

    r.succeed(1); // below the threshold again
    r.fail(2);
    assert!(r.events.take_exceeded().is_empty());
    r.fail(1);
    let e = r.events.take_exceeded();
    assert_eq!(e.len(), 1, "a second crossing is reported again");
    assert_eq!(e[0].reason, Reason::ConsecutiveFailures { count: 3, threshold: 3 });
    r.events.none();
}

#[test]
fn metrics_only_reports_rate_crossings() {
    let r = rig(quiet().failure_rate(0.5).count_window(4).minimum_calls(4));
    r.breaker.metrics_only();
    r.events.take();
    r.succeed(2);
    r.fail(1);
    assert!(r.events.take_exceeded().is_empty());
    r.fail(1);
    let e = r.events.take_exceeded();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].reason, Reason::FailureRate { rate: 0.5, threshold: 0.5 });
    assert_eq!(r.breaker.state(), State::MetricsOnly);
}

#[test]
fn reset_closes_with_an_empty_window() {
    let r = rig(quiet().consecutive_failures(2).failure_rate(0.9).count_window(10).minimum_calls(10));
    r.fail(2);
    let t = r.events.one();
    assert_eq!((t.from, t.to), (State::Closed, State::Open));
    r.breaker.reset();
    let t = r.events.one();
    assert_eq!((t.from, t.to, t.reason), (State::Open, State::Closed, Reason::Manual(ManualOp::Reset)));
    assert_eq!(t.snapshot, snap(State::Closed, 0, 0, 0, 0));
    r.fail(1);
    assert_eq!(r.breaker.state(), State::Closed, "the consecutive count was reset too");
}

#[test]
fn every_transition_of_a_full_cycle_is_reported_exactly_once_in_order() {
    let r = rig(quiet().consecutive_failures(1).half_open_permits(2).success_threshold(2));
    r.fail(1); // closed -> open
    r.to_half_open();
    let a = r.breaker.try_acquire().unwrap(); // open -> half-open
    let b = r.breaker.try_acquire().unwrap();
    a.success();
    b.failure(); // half-open -> open
    r.clock.advance(secs(10));
    r.succeed(2); // open -> half-open -> closed
    r.breaker.metrics_only();
    r.breaker.disable();
    r.breaker.force_open();
    r.breaker.reset();
    let seen: Vec<_> = r.events.take().into_iter().map(|t| (t.from, t.to, t.reason.as_str())).collect();
    use State::*;
    assert_eq!(
        seen,
        [
            (Closed, Open, "consecutive_failures"),
            (Open, HalfOpen, "wait_elapsed"),
            (HalfOpen, Open, "probe_failed"),
            (Open, HalfOpen, "wait_elapsed"),
            (HalfOpen, Closed, "probes_succeeded"),
            (Closed, MetricsOnly, "metrics_only"),
            (MetricsOnly, Disabled, "disable"),
            (Disabled, ForcedOpen, "force_open"),
            (ForcedOpen, Closed, "reset"),
        ]
    );
}

#[test]
fn a_panicking_listener_cannot_break_the_breaker() {
    struct Panics;
    impl Listener for Panics {
        fn on_transition(&self, _: &Transition) {
            panic!("listener bug");
        }
        fn on_threshold_exceeded(&self, _: &ThresholdExceeded) {
            panic!("listener bug");
        }
    }
    let clock = ManualClock::new();
    let config = quiet().consecutive_failures(1).half_open_permits(1).success_threshold(1).build().unwrap();
    let breaker = CircuitBreaker::new(NAME, config).with_clock(clock.clone()).with_listener(Arc::new(Panics));
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    clock.advance(secs(10));
    let p = breaker.try_acquire().unwrap();
    assert!(p.is_probe());
    p.success();
    assert_eq!(breaker.state(), State::Closed);
    breaker.metrics_only();
    breaker.try_acquire().unwrap().failure();
    breaker.force_open();
    assert_eq!(breaker.state(), State::ForcedOpen);
    breaker.reset();
    // A permit dropped during a panic records a failure, whose transition panics the listener
    // again while unwinding; the nested panic is caught and the breaker still opens.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _permit = breaker.try_acquire().unwrap();
        panic!("the protected call panicked");
    }));
    assert!(caught.is_err());
    assert_eq!(breaker.state(), State::Open);
}

// ---- backoff -----------------------------------------------------------------------------

/// Reopens a half-open breaker with a failed probe and returns the new wait.
fn reopen(r: &Rig) -> Duration {
    r.to_half_open();
    r.breaker.try_acquire().unwrap().failure();
    reject(&r.breaker).retry_after().unwrap()
}

#[test]
fn backoff_grows_with_each_reopen_caps_at_max_wait_and_resets_on_close() {
    let r = rig(quiet()
        .consecutive_failures(1)
        .half_open_permits(1)
        .success_threshold(1)
        .exponential_backoff(2.0, secs(35)));
    r.trip();
    assert_eq!(reject(&r.breaker).retry_after(), Some(secs(10)));
    assert_eq!(reopen(&r), secs(20));
    assert_eq!(reopen(&r), secs(35), "40s capped at max_wait");
    assert_eq!(reopen(&r), secs(35));
    r.events.take();

    r.to_half_open();
    r.succeed(1);
    assert_eq!(r.events.take().last().unwrap().to, State::Closed);
    r.trip();
    assert_eq!(reject(&r.breaker).retry_after(), Some(secs(10)), "closing resets the exponent");
    assert_eq!(reopen(&r), secs(20));

    r.breaker.reset();
    r.events.take();
    r.trip();
    assert_eq!(reject(&r.breaker).retry_after(), Some(secs(10)), "reset resets the exponent");
    let t = r.events.take();
    assert!(t.is_empty());
}

#[test]
fn transition_snapshot_carries_the_backed_off_wait() {
    let r = rig(quiet()
        .consecutive_failures(1)
        .half_open_permits(1)
        .success_threshold(1)
        .exponential_backoff(3.0, secs(600)));
    r.trip();
    r.to_half_open();
    r.breaker.try_acquire().unwrap().failure();
    let t = r.events.take().pop().unwrap();
    assert_eq!((t.from, t.to), (State::HalfOpen, State::Open));
    assert_eq!(t.snapshot.retry_after, Some(secs(30)));
}

#[test]
fn a_half_open_timeout_backs_off_like_a_failed_probe() {
    let r = rig(quiet()
        .consecutive_failures(1)
        .half_open_permits(1)
        .success_threshold(1)
        .max_half_open(secs(30))
        .exponential_backoff(2.0, secs(600)));
    r.trip();
    r.to_half_open();
    let _stuck = r.breaker.try_acquire().unwrap();
    r.clock.advance(secs(30));
    let t = reject(&r.breaker);
    assert_eq!((t.state(), t.retry_after()), (State::Open, Some(secs(20))), "the second wait is doubled");
    assert_eq!(r.events.take().pop().unwrap().reason, Reason::HalfOpenTimeout);
    assert_eq!(reopen(&r), secs(40), "and the next one doubles again");
}

#[test]
fn jitter_spreads_each_wait_within_its_bounds() {
    let jitter = 0.25;
    let r = rig(quiet()
        .consecutive_failures(1)
        .half_open_permits(1)
        .success_threshold(1)
        .exponential_backoff(2.0, secs(40))
        .jitter(jitter));
    let mut waits = Vec::new();
    for _ in 0..50 {
        r.breaker.reset();
        r.fail(1);
        let mut base = 10.0;
        let mut wait = reject(&r.breaker).retry_after().unwrap();
        for _ in 0..4 {
            let w = wait.as_secs_f64();
            let most = f64::min(base * (1.0 + jitter), 40.0);
            assert!(w >= base * (1.0 - jitter) && w <= most, "wait {w} outside {base}s ± {jitter} capped at 40s");
            waits.push(wait);
            wait = reopen(&r);
            base = f64::min(base * 2.0, 40.0);
        }
    }
    let first = waits[0];
    let distinct_first_waits = waits.iter().step_by(4).filter(|w| **w != first).count();
    assert!(distinct_first_waits > 40, "jitter must actually vary the wait: {waits:?}");
}

#[test]
fn jitter_never_lengthens_a_wait_past_max_wait() {
    let r = rig(quiet()
        .consecutive_failures(1)
        .half_open_permits(1)
        .success_threshold(1)
        .exponential_backoff(2.0, secs(40))
        .jitter(0.5));
    let mut longest = Duration::ZERO;
    for _ in 0..50 {
        r.breaker.reset();
        r.fail(1);
        reject(&r.breaker);
        for _ in 0..6 {
            longest = longest.max(reopen(&r));
        }
    }
    assert!(longest <= secs(40), "a wait of {longest:?} exceeds max_wait");
    assert!(longest > secs(35), "capped waits still reach close to max_wait: {longest:?}");
}

#[test]
fn jitter_is_reproducible_for_a_name() {
    let run = || {
        let r = rig(quiet().consecutive_failures(1).jitter(0.5));
        (0..5)
            .map(|_| {
                r.breaker.reset();
                r.fail(1);
                reject(&r.breaker).retry_after().unwrap()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

// ---- generation fence and reconfiguration ------------------------------------------------

#[test]
fn outcomes_of_calls_admitted_before_a_state_change_are_discarded() {
    let r = rig(quiet().consecutive_failures(2).half_open_permits(1).success_threshold(1));
    let early = r.breaker.try_acquire().unwrap();
    let late_success = r.breaker.try_acquire().unwrap();
    r.fail(2);
    r.events.take();
    early.failure(); // while open: nothing
    assert_eq!(r.breaker.snapshot().consecutive_failures, 2);
    r.to_half_open();
    let probe = r.breaker.try_acquire().unwrap();
    r.events.take();
    late_success.success(); // while half-open: must not close
    assert_eq!(r.breaker.state(), State::HalfOpen);
    assert_eq!(r.breaker.snapshot().permits_in_use, 1);
    r.events.none();
    probe.success();
    assert_eq!(r.breaker.state(), State::Closed);
}

#[test]
fn reconfigure_keeps_the_state_and_applies_new_thresholds() {
    let r = rig(quiet().consecutive_failures(5).count_window(10));
    r.fail(3);
    r.breaker.reconfigure(quiet().consecutive_failures(4).count_window(10).build().unwrap());
    assert_eq!(r.breaker.snapshot(), snap(State::Closed, 3, 3, 0, 3), "same window kind and size: kept");
    r.fail(1);
    assert_eq!(r.events.one().reason, Reason::ConsecutiveFailures { count: 4, threshold: 4 });
    r.breaker.reconfigure(quiet().consecutive_failures(4).count_window(20).build().unwrap());
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(r.breaker.snapshot().calls_in_window, 0, "a resized window starts empty");
}

#[test]
fn reconfigure_turning_slow_detection_on_does_not_make_running_calls_slow() {
    let r = rig(quiet().count_window(10));
    r.clock.advance(secs(100));
    let running = r.breaker.try_acquire().unwrap();
    r.breaker
        .reconfigure(quiet().count_window(10).slow_call(secs(1)).slow_call_rate(0.5).minimum_calls(1).build().unwrap());
    running.success();
    // The call's start was never measured: it took an unknown time and must not count as slow.
    assert_eq!(r.breaker.snapshot(), snap(State::Closed, 1, 0, 0, 0));
    r.events.none();
}
