//! The scenarios: what the dependency does when, how hard the client drives it, and how the
//! breakers are tuned. Every scenario starts healthy, fails for a while, then heals.

use std::time::Duration;

use breaker_runtime::ConfigBuilder;

use crate::flaky::{Behaviour, Schedule};

/// The share of acknowledgements the `ack-lost` broker loses during its fault.
pub const ACKS_LOST: f64 = 0.25;

/// How long a sender waits for an acknowledgement in `ack-lost`.
pub const ACK_TIMEOUT: Duration = Duration::from_millis(500);

/// How long and how hard the harness runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The CI check: every scenario at once, short phases, about 20 seconds.
    Short,
    /// The published report: one scenario after another, longer phases, a few minutes.
    Full,
}

/// Which fault a scenario injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Connections refused: the dependency's listener is closed.
    Down,
    /// The dependency accepts and never answers; only the per-call timeout ends a call.
    Hang,
    /// Correct answers, but slower than the slow-call threshold.
    Slow,
    /// 30% of requests fail, then 70%.
    Partial,
    /// Short failures and recoveries in quick succession.
    Flapping,
    /// A producer queues messages for a broker that is down.
    Queue,
    /// A producer queues messages for a broker that stores every message but, for a share of
    /// them, never acknowledges: the sender times out although the message arrived.
    AckLost,
}

impl Fault {
    /// Every scenario, in report order.
    pub const ALL: [Fault; 7] =
        [Fault::Down, Fault::Hang, Fault::Slow, Fault::Partial, Fault::Flapping, Fault::Queue, Fault::AckLost];

    /// The scenario's name, as used for files and `--only`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Down => "down",
            Fault::Hang => "hang",
            Fault::Slow => "slow",
            Fault::Partial => "partial",
            Fault::Flapping => "flapping",
            Fault::Queue => "queue",
            Fault::AckLost => "ack-lost",
        }
    }

    /// The scenario named `name`.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// True for the scenarios a producer drives (messages through a `RetryQueue`), not a client.
    pub fn is_queue(self) -> bool {
        matches!(self, Fault::Queue | Fault::AckLost)
    }
}

/// Breaker settings shared by every client variant (ours and the peer's, as far as it allows).
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// The failure rate that opens.
    pub failure_rate: f64,
    /// The count window, in calls.
    pub window: u32,
    /// Calls in the window before a rate can open.
    pub minimum_calls: u32,
    /// How long the breaker stays open before probing.
    pub wait: Duration,
    /// Probes in flight while half-open.
    pub half_open_permits: u32,
    /// A call at least this long is slow.
    pub slow_call: Duration,
    /// The slow-call rate that opens.
    pub slow_call_rate: f64,
}

impl Tuning {
    /// Our configuration. `consecutive_failures` keeps its default (5).
    pub fn config(&self) -> ConfigBuilder {
        ConfigBuilder::new()
            .failure_rate(self.failure_rate)
            .count_window(self.window)
            .minimum_calls(self.minimum_calls)
            .wait(self.wait)
            .half_open_permits(self.half_open_permits)
            .success_threshold(self.half_open_permits)
            .slow_call(self.slow_call)
            .slow_call_rate(self.slow_call_rate)
    }
}

/// One scenario, fully specified.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The fault injected.
    pub fault: Fault,
    /// The dependency's phases.
    pub schedule: Schedule,
    /// When the first fault phase starts.
    pub fault_start: Duration,
    /// When the dependency heals for good.
    pub heal: Duration,
    /// For `partial`: when failures rise from 30% to 70%.
    pub escalation: Option<Duration>,
    /// How long the client drives traffic.
    pub duration: Duration,
    /// Requests per second offered by each client.
    pub rate: u32,
    /// Calls in flight at most per client; a request finding every slot taken is not sent.
    pub concurrency: usize,
    /// The per-call timeout.
    pub timeout: Duration,
    /// The breakers' settings.
    pub tuning: Tuning,
}

impl Scenario {
    /// The scenario for `fault` in `mode`.
    pub fn new(fault: Fault, mode: Mode) -> Scenario {
        let full = mode == Mode::Full;
        let s = |short: f64, long: f64| Duration::from_secs_f64(if full { long } else { short });
        let tuning = Tuning {
            failure_rate: 0.5,
            window: 20,
            minimum_calls: 10,
            wait: s(1.0, 2.0),
            half_open_permits: 2,
            slow_call: Duration::from_millis(200),
            slow_call_rate: 0.5,
        };
        let healthy = s(2.0, 5.0);
        let (phases, tail): (Vec<(Duration, Behaviour)>, Duration) = match fault {
            Fault::Down => (vec![(healthy, Behaviour::Down)], s(6.0, 20.0)),
            Fault::Hang => (vec![(healthy, Behaviour::Hanging)], s(8.0, 30.0)),
            Fault::Slow => (vec![(healthy, Behaviour::Slow(Duration::from_millis(400)))], s(6.0, 20.0)),
            Fault::Partial => {
                let low = s(5.0, 12.0);
                (vec![(healthy, Behaviour::Partial(0.3)), (healthy + low, Behaviour::Partial(0.7))], low + s(4.0, 10.0))
            }
            Fault::Flapping => {
                let (bad, good) = (s(1.0, 1.5), s(1.0, 1.5));
                let cycles = if full { 6 } else { 4 };
                let mut phases = Vec::new();
                let mut at = healthy;
                for cycle in 0..cycles {
                    phases.push((at, Behaviour::Failing));
                    at += bad;
                    if cycle + 1 < cycles {
                        phases.push((at, Behaviour::Healthy));
                        at += good;
                    }
                }
                (phases, at - healthy)
            }
            Fault::Queue => (vec![(healthy, Behaviour::Down)], s(6.0, 15.0)),
            // The harness's own broker reads `Partial(p)` as "share p of acknowledgements lost".
            Fault::AckLost => (vec![(healthy, Behaviour::Partial(ACKS_LOST))], s(6.0, 15.0)),
        };
        let heal = healthy + tail;
        let escalation = (fault == Fault::Partial).then(|| phases[1].0);
        let mut schedule = vec![(Duration::ZERO, Behaviour::Healthy)];
        schedule.extend(phases);
        schedule.push((heal, Behaviour::Healthy));
        // Hang needs room after healing: probes sent just before it wait out the timeout.
        let after = match fault {
            Fault::Hang => s(8.0, 20.0),
            _ => s(6.0, 10.0),
        };
        Scenario {
            fault,
            schedule: Schedule(schedule),
            fault_start: healthy,
            heal,
            escalation,
            duration: heal + after,
            rate: if full { 100 } else { 40 },
            concurrency: 64,
            timeout: match fault {
                Fault::Hang if !full => Duration::from_secs(2),
                Fault::AckLost => ACK_TIMEOUT,
                _ => Duration::from_secs(10),
            },
            tuning,
        }
    }

    /// The scenario's name.
    pub fn name(&self) -> &'static str {
        self.fault.name()
    }

    /// How a phase reads in the report and the pictures.
    pub fn phase_label(&self, behaviour: Behaviour) -> String {
        match (self.fault, behaviour) {
            (Fault::AckLost, Behaviour::Partial(p)) => format!("stores all, {:.0}% of acks lost", p * 100.0),
            _ => behaviour.label(),
        }
    }

    /// How long the fault lasts.
    pub fn fault_duration(&self) -> Duration {
        self.heal.saturating_sub(self.fault_start)
    }
}
