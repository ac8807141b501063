//! Model-based test: random sequences of operations run against the breaker and against a
//! small sequential reference model written here (a `VecDeque` window and an explicit state),
//! compared after every step.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_core::testing::ManualClock;
use breaker_core::{
    CircuitBreaker, Config, Listener, Outcome, Permit, RejectReason, State, ThresholdExceeded, Transition,
};
use proptest::prelude::*;

const MS: u64 = 1_000_000;

#[derive(Debug, Clone)]
struct Params {
    window: usize,
    minimum: u32,
    consecutive: Option<u32>,
    failure_rate: Option<f64>,
    /// Slow-call duration (nanoseconds) and rate threshold.
    slow: Option<(u64, f64)>,
    wait: u64,
    permits: u32,
    success_threshold: u32,
    max_half_open: u64,
}

impl Params {
    fn config(&self) -> Config {
        let mut b = Config::builder()
            .count_window(u32::try_from(self.window).unwrap())
            .minimum_calls(self.minimum)
            .consecutive_failures(self.consecutive.unwrap_or(0))
            .wait(Duration::from_nanos(self.wait))
            .half_open_permits(self.permits)
            .success_threshold(self.success_threshold)
            .max_half_open(Duration::from_nanos(self.max_half_open));
        b = match self.failure_rate {
            Some(rate) => b.failure_rate(rate),
            None => b.without_failure_rate(),
        };
        if let Some((duration, rate)) = self.slow {
            b = b.slow_call(Duration::from_nanos(duration)).slow_call_rate(rate);
        }
        b.build().unwrap()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Normal,
    Probe,
    Passthrough,
}

#[derive(Debug, Clone, Copy)]
struct ModelPermit {
    generation: u64,
    kind: Kind,
    started: u64,
}

/// The reference: the semantics written as plainly as possible.
#[derive(Debug)]
struct Model {
    p: Params,
    state: State,
    generation: u64,
    now: u64,
    /// Oldest first: (failed, slow).
    window: VecDeque<(bool, bool)>,
    consecutive: u32,
    in_flight: u32,
    probe_successes: u32,
    open_until: u64,
    half_open_until: u64,
    exceeded: bool,
    transitions: Vec<(State, State)>,
    reports: usize,
}

impl Model {
    fn new(p: Params) -> Self {
        Model {
            p,
            state: State::Closed,
            generation: 0,
            now: 0,
            window: VecDeque::new(),
            consecutive: 0,
            in_flight: 0,
            probe_successes: 0,
            open_until: 0,
            half_open_until: 0,
            exceeded: false,
            transitions: Vec::new(),
            reports: 0,
        }
    }

    fn transition(&mut self, to: State) {
        self.transitions.push((self.state, to));
        self.generation += 1;
        self.in_flight = 0;
        self.probe_successes = 0;
        match to {
            State::Closed => self.window.clear(),
            State::Open => self.open_until = self.now + self.p.wait,
            State::HalfOpen => self.half_open_until = self.now + self.p.max_half_open,
            State::MetricsOnly => self.exceeded = false,
            State::ForcedOpen | State::Disabled => {}
        }
        if matches!(to, State::Closed | State::MetricsOnly) {
            self.consecutive = 0;
        }
        self.state = to;
    }

    fn acquire(&mut self) -> Result<ModelPermit, (RejectReason, Option<Duration>)> {
        loop {
            let permit = |kind| ModelPermit { generation: self.generation, kind, started: self.now };
            match self.state {
                State::Closed | State::MetricsOnly => return Ok(permit(Kind::Normal)),
                State::Disabled => return Ok(permit(Kind::Passthrough)),
                State::ForcedOpen => return Err((RejectReason::ForcedOpen, None)),
                State::Open if self.now < self.open_until => {
                    return Err((RejectReason::Open, Some(Duration::from_nanos(self.open_until - self.now))))
                }
                State::Open => self.transition(State::HalfOpen),
                State::HalfOpen if self.in_flight < self.p.permits => {
                    self.in_flight += 1;
                    return Ok(permit(Kind::Probe));
                }
                State::HalfOpen if self.now >= self.half_open_until => self.transition(State::Open),
                State::HalfOpen => return Err((RejectReason::HalfOpenFull, None)),
            }
        }
    }

    fn slow(&self, permit: &ModelPermit) -> bool {
        self.p.slow.is_some_and(|(duration, _)| self.now - permit.started >= duration)
    }

    fn trips(&self) -> bool {
        if self.p.consecutive.is_some_and(|t| self.consecutive >= t) {
            return true;
        }
        let calls = u32::try_from(self.window.len()).unwrap();
        if calls == 0 || calls < self.p.minimum {
            return false;
        }
        let rate = |n: usize| f64::from(u32::try_from(n).unwrap()) / f64::from(calls);
        let failures = self.window.iter().filter(|(f, _)| *f).count();
        let slow = self.window.iter().filter(|(_, s)| *s).count();
        self.p.failure_rate.is_some_and(|t| rate(failures) >= t) || self.p.slow.is_some_and(|(_, t)| rate(slow) >= t)
    }

    fn finish(&mut self, permit: ModelPermit, outcome: Option<Outcome>) {
        let counted = matches!(outcome, Some(Outcome::Success | Outcome::Failure));
        let failed = outcome == Some(Outcome::Failure);
        match permit.kind {
            Kind::Passthrough => {}
            Kind::Normal => {
                if !counted || permit.generation != self.generation {
                    return;
                }
                let slow = self.slow(&permit);
                self.window.push_back((failed, slow));
                if self.window.len() > self.p.window {
                    self.window.pop_front();
                }
                self.consecutive = if failed { self.consecutive + 1 } else { 0 };
                let trips = self.trips();
                match self.state {
                    State::Closed if trips => self.transition(State::Open),
                    State::MetricsOnly if trips && !self.exceeded => {
                        self.exceeded = true;
                        self.reports += 1;
                    }
                    State::MetricsOnly if !trips => self.exceeded = false,
                    _ => {}
                }
            }
            Kind::Probe => {
                if permit.generation != self.generation || self.state != State::HalfOpen {
                    return;
                }
                self.in_flight -= 1;
                if !counted {
                    return;
                }
                if failed || self.slow(&permit) {
                    self.transition(State::Open);
                } else {
                    self.probe_successes += 1;
                    if self.probe_successes >= self.p.success_threshold {
                        self.transition(State::Closed);
                    }
                }
            }
        }
    }

    fn manual(&mut self, to: State) {
        if to == State::Closed || self.state != to {
            self.transition(to);
        }
    }
}

#[derive(Default)]
struct Recorder {
    transitions: Mutex<Vec<(State, State)>>,
    reports: Mutex<usize>,
}

impl Listener for Recorder {
    fn on_transition(&self, t: &Transition) {
        self.transitions.lock().unwrap().push((t.from, t.to));
    }
    fn on_threshold_exceeded(&self, _: &ThresholdExceeded) {
        *self.reports.lock().unwrap() += 1;
    }
}

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    Finish(usize, Option<Outcome>),
    Advance(u64),
    ForceOpen,
    Disable,
    MetricsOnly,
    Reset,
}

/// Calls, outcomes and time; with `manual`, also the (rarer) manual operations.
fn op(manual: bool) -> BoxedStrategy<Op> {
    let outcome = prop_oneof![
        3 => Just(Some(Outcome::Success)),
        3 => Just(Some(Outcome::Failure)),
        1 => Just(Some(Outcome::Ignored)),
        1 => Just(None)
    ];
    let calls = prop_oneof![
        8 => Just(Op::Acquire),
        8 => (any::<usize>(), outcome).prop_map(|(i, o)| Op::Finish(i, o)),
        4 => prop::sample::select(vec![0, 50, 100, 250, 500, 1000, 3000]).prop_map(|ms| Op::Advance(ms * MS)),
    ];
    if !manual {
        return calls.boxed();
    }
    prop_oneof![
        40 => calls,
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        1 => Just(Op::MetricsOnly),
        2 => Just(Op::Reset),
    ]
    .boxed()
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    any::<bool>().prop_flat_map(|manual| prop::collection::vec(op(manual), 1..150))
}

fn params() -> impl Strategy<Value = Params> {
    (
        1usize..=8,
        0u32..=4,
        prop::option::of(prop::sample::select(vec![0.25, 0.5, 0.75, 1.0])),
        prop::option::of((prop::sample::select(vec![100 * MS, 300 * MS]), prop::sample::select(vec![0.5, 1.0]))),
        prop::sample::select(vec![1000 * MS, 2000 * MS]),
        1u32..=3,
        prop::sample::select(vec![1000 * MS, 2500 * MS]),
    )
        .prop_flat_map(|(window, consecutive, failure_rate, slow, wait, permits, max_half_open)| {
            (1..=u32::try_from(window).unwrap(), 1..=permits).prop_map(move |(minimum, success_threshold)| Params {
                window,
                minimum,
                consecutive: (consecutive != 0).then_some(consecutive),
                failure_rate,
                slow,
                wait,
                permits,
                success_threshold,
                max_half_open,
            })
        })
}

fn check(model: &Model, breaker: &CircuitBreaker, events: &Recorder, step: usize, op: &Op) {
    let s = breaker.snapshot();
    let failures = u32::try_from(model.window.iter().filter(|(f, _)| *f).count()).unwrap();
    let slow = u32::try_from(model.window.iter().filter(|(_, s)| *s).count()).unwrap();
    let expected = (
        model.state,
        u32::try_from(model.window.len()).unwrap(),
        failures,
        slow,
        model.consecutive,
        if model.state == State::HalfOpen { model.in_flight } else { 0 },
        (model.state == State::Open).then(|| Duration::from_nanos(model.open_until.saturating_sub(model.now))),
    );
    let actual = (
        s.state,
        s.calls_in_window,
        s.failed_calls,
        s.slow_calls,
        s.consecutive_failures,
        s.permits_in_use,
        s.retry_after,
    );
    assert_eq!(
        actual, expected,
        "step {step} ({op:?}): (state, calls, failed, slow, consecutive, permits, retry_after)"
    );
    assert_eq!(breaker.state(), model.state, "step {step} ({op:?})");
    assert_eq!(*events.transitions.lock().unwrap(), model.transitions, "step {step} ({op:?}): transitions");
    assert_eq!(*events.reports.lock().unwrap(), model.reports, "step {step} ({op:?}): threshold reports");
}

fn run(p: Params, ops: Vec<Op>) {
    let clock = ManualClock::new();
    let events = Arc::new(Recorder::default());
    let breaker = CircuitBreaker::new("model", p.config()).with_clock(clock.clone()).with_listener(events.clone());
    let mut model = Model::new(p);
    let mut held: Vec<(Permit<'_>, ModelPermit)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Acquire => match (breaker.try_acquire(), model.acquire()) {
                (Ok(real), Ok(m)) => {
                    assert_eq!(real.is_probe(), m.kind == Kind::Probe, "step {step}: probe");
                    held.push((real, m));
                }
                (Err(real), Err((reason, retry_after))) => {
                    assert_eq!((real.reason(), real.retry_after()), (reason, retry_after), "step {step}: rejection");
                    assert_eq!(real.name(), "model");
                }
                (real, m) => panic!("step {step}: breaker {real:?}, model {m:?}"),
            },
            Op::Finish(i, outcome) => {
                if held.is_empty() {
                    continue;
                }
                let (real, m) = held.swap_remove(i % held.len());
                match outcome {
                    Some(outcome) => real.record(outcome),
                    None => drop(real),
                }
                model.finish(m, outcome);
            }
            Op::Advance(nanos) => {
                clock.advance(Duration::from_nanos(nanos));
                model.now += nanos;
            }
            Op::ForceOpen => {
                breaker.force_open();
                model.manual(State::ForcedOpen);
            }
            Op::Disable => {
                breaker.disable();
                model.manual(State::Disabled);
            }
            Op::MetricsOnly => {
                breaker.metrics_only();
                model.manual(State::MetricsOnly);
            }
            Op::Reset => {
                breaker.reset();
                model.manual(State::Closed);
            }
        }
        check(&model, &breaker, &events, step, op);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn breaker_matches_the_reference_model(p in params(), ops in ops()) {
        run(p, ops);
    }
}

/// The model itself must be able to disagree: a hand-written sequence with a known result.
#[test]
fn model_and_breaker_agree_on_a_known_sequence() {
    let p = Params {
        window: 4,
        minimum: 4,
        consecutive: None,
        failure_rate: Some(0.5),
        slow: None,
        wait: 1000 * MS,
        permits: 1,
        success_threshold: 1,
        max_half_open: 3000 * MS,
    };
    let f = |o| Op::Finish(0, Some(o));
    let ops = vec![
        Op::Acquire,
        f(Outcome::Failure),
        Op::Acquire,
        f(Outcome::Success),
        Op::Acquire,
        f(Outcome::Failure),
        Op::Acquire,
        f(Outcome::Success), // fills the window at 0.5: opens
        Op::Acquire,         // rejected
        Op::Advance(1000 * MS),
        Op::Acquire, // probe
        f(Outcome::Success),
    ];
    let mut model = Model::new(p.clone());
    let mut held = Vec::new();
    for op in &ops {
        match *op {
            Op::Acquire => held.extend(model.acquire().ok()),
            Op::Finish(_, outcome) => {
                let m = held.pop().unwrap();
                model.finish(m, outcome);
            }
            Op::Advance(nanos) => model.now += nanos,
            _ => unreachable!(),
        }
    }
    assert_eq!(
        model.transitions,
        [(State::Closed, State::Open), (State::Open, State::HalfOpen), (State::HalfOpen, State::Closed)]
    );
    run(p, ops);
}
