//! Turning raw logs into the figures the report shows and the CI test checks.

use std::time::Duration;

use super::client::{Phase, Served, Variant};
use super::load::{Call, Run};
use super::scenario::Scenario;
use crate::stats::Latencies;

/// A latency for tables: microseconds below a millisecond, milliseconds with one decimal
/// below ten seconds, seconds above.
pub fn latency(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 10e6 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// p50, p99 and max of a set of calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spread {
    /// Calls measured.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

impl Spread {
    fn of<'a>(calls: impl Iterator<Item = &'a Call>) -> Spread {
        let mut l = Latencies::default();
        for c in calls {
            l.record(c.latency);
        }
        Spread { count: l.len(), p50: l.quantile(0.5), p99: l.quantile(0.99), max: l.max() }
    }
}

/// Everything measured for one client in one scenario.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Which client.
    pub variant: Variant,
    /// Calls made.
    pub calls: usize,
    /// Requests not sent (every concurrency slot busy).
    pub not_sent: u64,
    /// Calls answered fresh.
    pub fresh: usize,
    /// Calls answered by the fallback (rejected, failed or timed out).
    pub fallback: usize,
    /// Of those, rejected by the open breaker.
    pub rejected: usize,
    /// Errors that reached the caller.
    pub errors: usize,
    /// Caller latency over the whole run.
    pub overall: Spread,
    /// Caller latency of calls started during the fault.
    pub during_fault: Spread,
    /// Caller latency of the calls the breaker rejected, started after it first opened and
    /// before healing.
    pub rejected_once_open: Spread,
    /// Caller latency of the calls it admitted over the same span (probes, and calls while it
    /// was closed again), which wait for the dependency.
    pub admitted_once_open: Spread,
    /// Requests sent to the dependency per second before the fault.
    pub baseline_rate: f64,
    /// Requests sent to the dependency per second during the fault.
    pub fault_rate: f64,
    /// The most requests that reached the dependency in one open period (from opening to the
    /// next opening, closing or healing) during the fault.
    pub max_per_open_period: Option<usize>,
    /// Open periods during the fault.
    pub openings: usize,
    /// From the fault's start (for `partial`, the rise to 70%) to the first opening.
    pub open_after: Option<Duration>,
    /// Openings before the rise to 70% (`partial` only): false trips.
    pub false_trips: usize,
    /// From healing to closed for good (zero if it was closed when the dependency healed);
    /// `None` if it never closed again.
    pub closed_after_heal: Option<Duration>,
    /// Calls the breaker admitted (each sent one request to the dependency), by the harness's
    /// own count.
    pub admitted: usize,
    /// Of those, calls that came back to the caller (answered, failed or timed out). Admitted
    /// minus settled is what a leaked permit would look like from outside.
    pub settled: usize,
    /// Call tasks left at the end.
    pub tasks_left: usize,
    /// State changes, in seconds since the start.
    pub transitions: Vec<(f64, Phase)>,
    /// Request start times, in seconds since the start.
    pub attempts: Vec<f64>,
    /// Every call.
    pub call_log: Vec<Call>,
}

/// Computes the figures for one client's run.
pub fn measure(
    scenario: &Scenario,
    variant: Variant,
    run: Run,
    attempts: Vec<f64>,
    transitions: Vec<(f64, Phase)>,
) -> Measured {
    let (start, heal) = (scenario.fault_start.as_secs_f64(), scenario.heal.as_secs_f64());
    let count = |f: &dyn Fn(Served) -> bool| run.calls.iter().filter(|c| f(c.served)).count();
    let in_fault = |t: f64| t >= start && t < heal;
    let opens: Vec<f64> =
        transitions.iter().filter(|(t, p)| *p == Phase::Open && in_fault(*t)).map(|(t, _)| *t).collect();
    // The trip that matters in `partial` is the one after the rise to 70%.
    let trip_from = scenario.escalation.map_or(start, |e| e.as_secs_f64());
    let first_open = opens.iter().copied().find(|t| *t >= trip_from);
    let false_trips = opens.iter().filter(|t| **t < trip_from).count();

    let max_per_open_period = (!opens.is_empty()).then(|| {
        opens
            .iter()
            .map(|&from| {
                let until = transitions
                    .iter()
                    .find(|(t, p)| *t > from && matches!(p, Phase::Open | Phase::Closed))
                    .map_or(heal, |(t, _)| *t)
                    .min(heal);
                attempts.iter().filter(|a| **a >= from && **a < until).count()
            })
            .max()
            .unwrap_or(0)
    });

    let closed_after_heal = if variant.has_breaker() {
        let at_heal = transitions.iter().rev().find(|(t, _)| *t < heal).map_or(Phase::Closed, |(_, p)| *p);
        match transitions.iter().rev().find(|(t, _)| *t >= heal) {
            None if at_heal == Phase::Closed => Some(Duration::ZERO),
            Some((t, Phase::Closed)) => Some(Duration::from_secs_f64(t - heal)),
            _ => None,
        }
    } else {
        None
    };

    let before = attempts.iter().filter(|a| **a < start).count() as f64;
    let during = attempts.iter().filter(|a| in_fault(**a)).count() as f64;
    Measured {
        variant,
        calls: run.calls.len(),
        not_sent: run.not_sent,
        fresh: count(&|s| s == Served::Fresh),
        fallback: count(&|s| matches!(s, Served::FallbackRejected | Served::FallbackFailed)),
        rejected: count(&|s| s == Served::FallbackRejected),
        errors: count(&|s| s == Served::Error),
        overall: Spread::of(run.calls.iter()),
        during_fault: Spread::of(run.calls.iter().filter(|c| in_fault(c.at))),
        rejected_once_open: match first_open {
            Some(open) => Spread::of(
                run.calls.iter().filter(|c| c.at >= open && c.at < heal && c.served == Served::FallbackRejected),
            ),
            None => Spread::default(),
        },
        admitted_once_open: match first_open {
            Some(open) => Spread::of(
                run.calls.iter().filter(|c| c.at >= open && c.at < heal && c.served != Served::FallbackRejected),
            ),
            None => Spread::default(),
        },
        baseline_rate: before / start.max(1e-9),
        fault_rate: during / (heal - start).max(1e-9),
        max_per_open_period,
        openings: opens.len(),
        open_after: first_open.map(|t| Duration::from_secs_f64(t - trip_from)),
        false_trips,
        closed_after_heal,
        admitted: attempts.len(),
        settled: count(&|s| s != Served::FallbackRejected),
        tasks_left: run.tasks_left + run.in_flight_left,
        transitions,
        attempts,
        call_log: run.calls,
    }
}

/// What the queue scenario measured for one producer.
#[derive(Debug, Clone)]
pub struct QueueMeasured {
    /// The producer.
    pub label: &'static str,
    /// Messages the producer tried to send.
    pub produced: u64,
    /// Messages accepted (queued, or delivered at once without a queue).
    pub accepted: u64,
    /// Messages handed back to the producer (queue full or send failed).
    pub refused: u64,
    /// Distinct messages the broker received.
    pub delivered: u64,
    /// True when the broker received them in sequence order.
    pub in_order: bool,
    /// Messages the broker received more than once.
    pub duplicated: u64,
    /// Copies beyond the first the broker received, over all messages.
    pub extra_copies: u64,
    /// Acknowledgements the broker lost (`ack-lost` only): each is a message it stored while
    /// the sender saw a timeout.
    pub acks_lost: Option<u64>,
    /// Delivery attempts the sender saw fail (an error or a timeout; the queued producer only).
    /// On a slow machine an acknowledgement can arrive after the sender's timeout without the
    /// broker losing it, so duplicates are bounded by this, not by `acks_lost`.
    pub failed_attempts: u64,
    /// Accepted messages the broker never received.
    pub lost: u64,
    /// Deliveries attempted per second during the outage.
    pub fault_rate: f64,
    /// From healing until the queue held at most the message being delivered (queued
    /// producers only).
    pub drained_after_heal: Option<Duration>,
    /// The deepest the queue got.
    pub max_depth: usize,
    /// Messages still queued at the end, plus those handed back by shutdown.
    pub queue_left: usize,
    /// Worker or producer tasks left at the end.
    pub tasks_left: usize,
    /// Deliveries our breaker admitted whose future had not ended (finished, or dropped when
    /// shutdown cut it off) once shutdown returned, by the harness's own count (queued
    /// producer only).
    pub unsettled: Option<u64>,
    /// State changes of the breaker, if any.
    pub transitions: Vec<(f64, Phase)>,
    /// Samples (seconds, accepted so far, delivered so far, depth).
    pub samples: Vec<(f64, u64, u64, usize)>,
}

/// Compares what was accepted with what the broker logged: (distinct messages received, first
/// arrivals in order, messages received more than once, accepted messages never received).
pub fn delivery(accepted: &[u64], received: &[u64]) -> (u64, bool, u64, u64) {
    let mut seen = std::collections::BTreeMap::<u64, u64>::new();
    for seq in received {
        *seen.entry(*seq).or_default() += 1;
    }
    let first_arrivals: Vec<u64> = {
        let mut once = std::collections::BTreeSet::new();
        received.iter().copied().filter(|s| once.insert(*s)).collect()
    };
    let in_order = first_arrivals.windows(2).all(|w| w[0] < w[1]);
    let duplicated = seen.values().filter(|n| **n > 1).count() as u64;
    let lost = accepted.iter().filter(|s| !seen.contains_key(s)).count() as u64;
    (seen.len() as u64, in_order, duplicated, lost)
}
