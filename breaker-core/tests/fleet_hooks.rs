//! The hooks a fleet crate (`breaker-redis`) drives: sensitising, adopting an outside open or
//! close, and holding probes while another replica holds the fleet's probe budget. Manual
//! clock throughout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_core::testing::ManualClock;
use breaker_core::{CircuitBreaker, Config, FleetCause, InstanceId, Listener, Reason, RejectReason, State, Transition};

#[derive(Default)]
struct Log(Mutex<Vec<Transition>>);

impl Listener for Log {
    fn on_transition(&self, t: &Transition) {
        self.0.lock().unwrap().push(t.clone());
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Opens only after 5 failures in a row or 50% of at least 10 calls, waits 60 s.
fn breaker(clock: &ManualClock) -> (CircuitBreaker, Arc<Log>) {
    let log = Arc::new(Log::default());
    let config = Config::builder()
        .consecutive_failures(5)
        .failure_rate(0.5)
        .minimum_calls(10)
        .wait(secs(60))
        .half_open_permits(1)
        .success_threshold(1)
        .build()
        .unwrap();
    let breaker = CircuitBreaker::new("db", config).with_clock(clock.clone()).with_listener(log.clone());
    (breaker, log)
}

fn peer() -> InstanceId {
    InstanceId::new("replica-2")
}

#[test]
fn a_sensitised_breaker_opens_on_its_first_failure_for_the_fleets_remaining_wait() {
    let clock = ManualClock::new();
    let (breaker, log) = breaker(&clock);
    assert!(breaker.sensitise(secs(30), peer()));
    clock.advance(secs(10));
    assert_eq!(breaker.sensitised_for(), Some(secs(20)));
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), Some(secs(20)), "the fleet's remaining wait, not the local 60 s");
    let log = log.0.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].reason, Reason::Fleet { cause: FleetCause::Sensitised, instance: peer() });
    assert_eq!(log[0].reason.as_str(), "fleet_sensitised");
    assert!(log[0].reason.to_string().contains("replica-2"), "{}", log[0].reason);
}

#[test]
fn a_success_clears_the_sensitisation_so_a_healthy_replica_keeps_its_own_judgement() {
    let clock = ManualClock::new();
    let (breaker, _) = breaker(&clock);
    breaker.sensitise(secs(30), peer());
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.sensitised_for(), None);
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Closed, "one failure after a success is local judgement again");
}

#[test]
fn a_sensitisation_expires_with_the_fleets_wait() {
    let clock = ManualClock::new();
    let (breaker, _) = breaker(&clock);
    breaker.sensitise(secs(30), peer());
    clock.advance(secs(30));
    assert_eq!(breaker.sensitised_for(), None);
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn only_a_closed_breaker_is_sensitised_and_the_later_end_wins() {
    let clock = ManualClock::new();
    let (breaker, _) = breaker(&clock);
    assert!(breaker.sensitise(secs(30), peer()));
    assert!(breaker.sensitise(secs(10), InstanceId::new("other")));
    assert_eq!(breaker.sensitised_for(), Some(secs(30)));
    breaker.force_open();
    assert!(!breaker.sensitise(secs(30), peer()));
    breaker.metrics_only();
    assert!(!breaker.sensitise(secs(30), peer()));
}

#[test]
fn adopting_an_open_is_a_transition_with_the_fleets_remaining_wait_and_instance() {
    let clock = ManualClock::new();
    let (breaker, log) = breaker(&clock);
    assert!(breaker.adopt_open(secs(12), peer(), FleetCause::Opened));
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!((rejected.reason(), rejected.retry_after()), (RejectReason::Open, Some(secs(12))));
    let log = log.0.lock().unwrap();
    assert_eq!((log[0].from, log[0].to), (State::Closed, State::Open));
    assert_eq!(log[0].reason, Reason::Fleet { cause: FleetCause::Opened, instance: peer() });
    assert_eq!(log[0].snapshot.retry_after, Some(secs(12)));
}

#[test]
fn adopting_an_open_while_open_only_extends_the_wait_and_reports_nothing() {
    let clock = ManualClock::new();
    let (breaker, log) = breaker(&clock);
    breaker.adopt_open(secs(12), peer(), FleetCause::Opened);
    assert!(!breaker.adopt_open(secs(5), peer(), FleetCause::Opened));
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Some(secs(12)), "a shorter wait is ignored");
    assert!(!breaker.adopt_open(secs(40), peer(), FleetCause::ProbeFailed));
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Some(secs(40)));
    assert_eq!(log.0.lock().unwrap().len(), 1);
}

#[test]
fn manual_states_win_over_the_fleet() {
    let clock = ManualClock::new();
    let (breaker, _) = breaker(&clock);
    for manual in [CircuitBreaker::disable, CircuitBreaker::metrics_only, CircuitBreaker::force_open] {
        manual(&breaker);
        let state = breaker.state();
        assert!(!breaker.adopt_open(secs(12), peer(), FleetCause::Opened));
        assert!(!breaker.adopt_close(peer()));
        assert_eq!(breaker.state(), state);
    }
}

#[test]
fn adopting_a_failed_probe_from_half_open_reopens_with_the_given_wait() {
    let clock = ManualClock::new();
    let (breaker, log) = breaker(&clock);
    for _ in 0..5 {
        breaker.try_acquire().unwrap().failure();
    }
    clock.advance(secs(60));
    let probe = breaker.try_acquire().unwrap();
    assert!(probe.is_probe());
    assert!(breaker.adopt_open(secs(90), peer(), FleetCause::ProbeFailed));
    probe.success(); // stale: admitted before the fleet's verdict
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Some(secs(90)));
    let last = log.0.lock().unwrap().last().unwrap().clone();
    assert_eq!((last.from, last.reason.as_str()), (State::HalfOpen, "fleet_probe_failed"));
}

#[test]
fn adopting_a_close_empties_the_window_and_is_reported() {
    let clock = ManualClock::new();
    let (breaker, log) = breaker(&clock);
    for _ in 0..5 {
        breaker.try_acquire().unwrap().failure();
    }
    assert!(breaker.adopt_close(peer()));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.snapshot().calls_in_window, 0);
    assert!(!breaker.adopt_close(peer()), "already closed");
    let last = log.0.lock().unwrap().last().unwrap().clone();
    assert_eq!(last.reason, Reason::Fleet { cause: FleetCause::ProbesSucceeded, instance: peer() });
}

#[test]
fn held_probes_reject_with_the_time_until_the_verdict_then_fall_back_to_probing_locally() {
    let clock = ManualClock::new();
    let (breaker, _) = breaker(&clock);
    breaker.adopt_open(secs(10), peer(), FleetCause::Opened);
    breaker.hold_probes(secs(15));
    clock.advance(secs(5));
    assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), Some(secs(5)), "the wait first");
    clock.advance(secs(5));
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!((rejected.state(), rejected.retry_after()), (State::Open, Some(secs(5))), "then the verdict");
    assert_eq!(breaker.state(), State::Open, "no probe while another replica holds the budget");
    clock.advance(secs(5));
    assert_eq!(breaker.probes_held_for(), None);
    assert!(breaker.try_acquire().unwrap().is_probe(), "no verdict came: probe locally rather than wedge");
}

#[test]
fn a_transition_ends_a_hold() {
    let clock = ManualClock::new();
    let (breaker, _) = breaker(&clock);
    breaker.adopt_open(secs(10), peer(), FleetCause::Opened);
    breaker.hold_probes(secs(100));
    breaker.adopt_close(peer());
    assert_eq!(breaker.probes_held_for(), None);
    breaker.adopt_open(secs(10), peer(), FleetCause::Opened);
    clock.advance(secs(10));
    assert!(breaker.try_acquire().unwrap().is_probe());
}

#[test]
fn instance_ids_are_cut_at_a_char_boundary() {
    let long = "x".repeat(100);
    assert_eq!(InstanceId::new(&long).as_str().len(), InstanceId::MAX_LEN);
    assert_eq!(InstanceId::new("").as_str(), "");
    assert_eq!(format!("{:?}", InstanceId::new("a\"b")), "\"a\\\"b\"");
}
