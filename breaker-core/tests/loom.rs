//! Loom model tests: every interleaving of a few threads racing for half-open probes.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p breaker-core --release --test loom`
//!
//! Under `--cfg loom` the crate's atomics and mutex are loom's (see `src/sync.rs`). The manual
//! clock uses std atomics and is only advanced by the main thread, outside the races. Breakers
//! are shared through `std::sync::Arc` because owned permits need one.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::sync::Arc as StdArc;
use std::time::Duration;

use breaker_core::testing::ManualClock;
use breaker_core::{CircuitBreaker, Config, Listener, RejectReason, State, Transition};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Transitions {
    to_half_open: StdAtomicUsize,
    total: StdAtomicUsize,
    log: std::sync::Mutex<Vec<(State, State, &'static str, u32)>>,
}

impl Listener for Transitions {
    fn on_transition(&self, t: &Transition) {
        self.total.fetch_add(1, StdOrdering::SeqCst);
        self.log.lock().unwrap().push((t.from, t.to, t.reason.as_str(), t.snapshot.calls_in_window));
        if t.to == State::HalfOpen {
            self.to_half_open.fetch_add(1, StdOrdering::SeqCst);
        }
    }
}

/// A breaker that has just opened and whose wait has passed: the next call moves it to
/// half-open. Built inside the model, since it holds loom atomics.
fn expired_open(permits: u32, success_threshold: u32) -> (StdArc<CircuitBreaker>, ManualClock, StdArc<Transitions>) {
    let clock = ManualClock::new();
    let events = StdArc::new(Transitions::default());
    let config = Config::builder()
        .consecutive_failures(1)
        .wait(WAIT)
        .half_open_permits(permits)
        .success_threshold(success_threshold)
        .max_half_open(Duration::from_secs(3600))
        .build()
        .unwrap();
    let breaker = CircuitBreaker::new("loom", config).with_clock(clock.clone()).with_listener(events.clone());
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    clock.advance(WAIT);
    (StdArc::new(breaker), clock, events)
}

fn builder() -> loom::model::Builder {
    bounded(3)
}

/// A model checker that explores every interleaving with at most `preemptions` forced thread
/// switches. Three threads racing through a probe's whole life take 312 s at 3 and 28 s at 2,
/// the bound tokio's CI uses; at 2 the race still fails within seconds when a probe slot is
/// released with a load and a store instead of a compare-exchange (checked by hand).
fn bounded(preemptions: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b
}

/// Half-open never has more than `half_open_permits` probes in flight, and the lazy
/// open -> half-open transition is made (and reported) exactly once.
#[test]
fn half_open_never_admits_more_than_its_permits() {
    builder().check(|| {
        let (breaker, _clock, events) = expired_open(1, 1);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let admitted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (breaker, in_flight, admitted) = (breaker.clone(), in_flight.clone(), admitted.clone());
                thread::spawn(move || {
                    if let Ok(probe) = breaker.try_acquire() {
                        assert!(probe.is_probe());
                        admitted.fetch_add(1, Ordering::SeqCst);
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= 1, "{now} probes in flight with 1 permit");
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        probe.ignore();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(admitted.load(Ordering::SeqCst) >= 1, "the first caller after the wait is a probe");
        assert_eq!(events.to_half_open.load(StdOrdering::SeqCst), 1, "open -> half-open reported once");
        assert_eq!(breaker.state(), State::HalfOpen);
        assert_eq!(breaker.snapshot().permits_in_use, 0);
    });
}

/// Every probe slot is given back exactly once, whether the probe reports or is dropped: after
/// the race, exactly `half_open_permits` new probes are admitted and the next is rejected.
#[test]
fn every_probe_slot_is_released_exactly_once() {
    builder().check(|| {
        let (breaker, _clock, _events) = expired_open(2, 2);
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let breaker = breaker.clone();
                thread::spawn(move || {
                    if let Ok(probe) = breaker.try_acquire_owned() {
                        if i == 0 {
                            probe.ignore();
                        } else {
                            drop(probe);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(breaker.state(), State::HalfOpen);
        assert_eq!(breaker.snapshot().permits_in_use, 0);
        let a = breaker.try_acquire().expect("slot 1 was released");
        let b = breaker.try_acquire().expect("slot 2 was released");
        assert_eq!(breaker.try_acquire().unwrap_err().reason(), RejectReason::HalfOpenFull);
        drop((a, b));
    });
}

/// Probes racing to succeed, fail and be dropped never leave the breaker wedged: it ends closed,
/// half-open with a free slot, or open, and then admits a probe once the wait has passed.
#[test]
fn racing_probe_outcomes_never_wedge_the_breaker() {
    bounded(2).check(|| {
        let (breaker, clock, events) = expired_open(2, 1);
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let breaker = breaker.clone();
                thread::spawn(move || {
                    if let Ok(probe) = breaker.try_acquire() {
                        if i == 0 {
                            probe.success();
                        } else {
                            probe.failure();
                        }
                    }
                })
            })
            .collect();
        // The main thread takes part too: a probe it abandons.
        drop(breaker.try_acquire());
        for t in threads {
            t.join().unwrap();
        }
        let s = breaker.snapshot();
        assert_eq!(s.permits_in_use, 0, "no slot leaked: {s:?} after {:?}", events.log.lock().unwrap());
        match s.state {
            State::Closed => assert!(!breaker.try_acquire().unwrap().is_probe()),
            State::HalfOpen => assert!(breaker.try_acquire().unwrap().is_probe()),
            State::Open => {
                clock.advance(WAIT);
                assert!(breaker.try_acquire().expect("a probe after the wait").is_probe());
            }
            other => panic!("unexpected state {other:?}"),
        }
        assert!(events.total.load(StdOrdering::SeqCst) >= 2);
    });
}

/// A late outcome from a call admitted while closed races with a probe: it must never decide
/// the half-open trial (generation fence), whatever the interleaving.
#[test]
fn a_late_closed_outcome_never_decides_the_trial() {
    builder().check(|| {
        let clock = ManualClock::new();
        let config = Config::builder()
            .consecutive_failures(1)
            .wait(WAIT)
            .half_open_permits(1)
            .success_threshold(1)
            .build()
            .unwrap();
        let breaker = StdArc::new(CircuitBreaker::new("loom", config).with_clock(clock.clone()));
        let late = breaker.clone().try_acquire_owned().unwrap();
        breaker.try_acquire().unwrap().failure();
        clock.advance(WAIT);
        let probe = breaker.try_acquire().unwrap();
        let t = thread::spawn(move || late.success());
        probe.failure();
        t.join().unwrap();
        assert_eq!(breaker.state(), State::Open, "the failed probe reopens; the late success is discarded");
    });
}

/// Records every transition it hears, in the order heard.
#[derive(Default)]
struct Ordered(std::sync::Mutex<Vec<(State, State)>>);

impl Listener for Ordered {
    fn on_transition(&self, t: &Transition) {
        self.0.lock().unwrap().push((t.from, t.to));
    }
}

/// Two threads change one breaker's state at once: the listener hears the transitions as one
/// chain (each starts where the previous ended), and the last one heard is the final state.
#[test]
fn listeners_hear_transitions_in_order() {
    builder().check(|| {
        let heard = StdArc::new(Ordered::default());
        let breaker = StdArc::new(CircuitBreaker::new("loom", Config::default()).with_listener(heard.clone()));
        let opener = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.force_open())
        };
        breaker.disable();
        opener.join().unwrap();
        let heard = heard.0.lock().unwrap().clone();
        assert_eq!(heard.len(), 2, "{heard:?}");
        assert_eq!(heard[0].0, State::Closed, "{heard:?}");
        assert_eq!(heard[0].1, heard[1].0, "out of order: {heard:?}");
        assert_eq!(heard[1].1, breaker.state(), "the last heard is the final state: {heard:?}");
    });
}
