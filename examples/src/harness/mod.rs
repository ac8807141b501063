//! The outage harness: measures, under load and injected faults, that breakers do their job,
//! side by side with no breaker and with a peer crate.
//!
//! For every [scenario](Fault) it starts one loopback dependency per client
//! ([`crate::flaky::start`]) following the same schedule (healthy, a fault,
//! healed), drives each [client variant](Variant) at a fixed request rate with bounded
//! concurrency ([`load::drive`]), and records every call, every request that reached the
//! dependency and every breaker transition. [`measure`] turns the logs into figures,
//! [`report`] into Markdown and [`svg`] into one timeline picture per scenario. Traffic goes
//! only to 127.0.0.1, every loop is bounded in count and time, and a run stops by itself.
//!
//! ```text
//! cargo run --release -p breaker-examples --bin outage             # full: writes docs/outage/
//! cargo run --release -p breaker-examples --bin outage -- --short  # the CI mode, ~20 s
//! ```

pub mod client;
pub mod load;
pub mod measure;
pub mod queue;
pub mod report;
pub mod scenario;
pub mod svg;

use std::time::Duration;

use tokio::time::Instant;

pub use client::{Phase, Served, Variant};
pub use measure::{Measured, QueueMeasured};
pub use scenario::{Fault, Mode, Scenario, Tuning};

use crate::flaky;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Short (CI) or full (published report).
    pub mode: Mode,
    /// Only these scenarios (all when empty).
    pub only: Vec<Fault>,
}

/// One scenario's results.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// What ran.
    pub scenario: Scenario,
    /// One entry per client variant (empty for the queue scenarios).
    pub clients: Vec<Measured>,
    /// One entry per producer (the queue scenarios only: `queue`, `ack-lost`).
    pub producers: Vec<QueueMeasured>,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The mode it ran in.
    pub mode: Mode,
    /// Every scenario, in [`Fault::ALL`] order.
    pub scenarios: Vec<ScenarioReport>,
    /// How long the run took.
    pub elapsed: Duration,
}

/// Runs the scenarios: all at once in the short mode, one after another in the full mode.
pub async fn run(options: &Options) -> std::io::Result<Report> {
    let t = Instant::now();
    let faults: Vec<Fault> =
        Fault::ALL.into_iter().filter(|f| options.only.is_empty() || options.only.contains(f)).collect();
    let mut scenarios = Vec::new();
    match options.mode {
        Mode::Short => {
            let runs = faults.iter().map(|f| tokio::spawn(run_scenario(Scenario::new(*f, options.mode))));
            let handles: Vec<_> = runs.collect();
            for handle in handles {
                scenarios.push(handle.await.map_err(std::io::Error::other)??);
            }
        }
        Mode::Full => {
            for f in faults {
                eprintln!("outage: running `{}`", f.name());
                scenarios.push(run_scenario(Scenario::new(f, options.mode)).await?);
            }
        }
    }
    Ok(Report { mode: options.mode, scenarios, elapsed: t.elapsed() })
}

/// Runs one scenario with every client variant at once, each against its own dependency.
pub async fn run_scenario(scenario: Scenario) -> std::io::Result<ScenarioReport> {
    // A moment to set everything up before the schedule's clock starts.
    let started = Instant::now() + Duration::from_millis(300);
    if scenario.fault.is_queue() {
        let producers = queue::run(&scenario, started).await?;
        return Ok(ScenarioReport { scenario, clients: Vec::new(), producers });
    }
    let mut runs = Vec::new();
    for variant in Variant::ALL {
        let dependency = flaky::start(scenario.schedule.clone(), started).await?;
        let built = client::Client::build(variant, &scenario, format!("http://{}", dependency.flaky.addr), started);
        let drive = tokio::spawn(load::drive(
            built.client.clone(),
            scenario.rate,
            scenario.concurrency,
            scenario.duration,
            scenario.timeout,
            started,
        ));
        runs.push((variant, built, dependency, drive));
    }
    let mut clients = Vec::new();
    for (variant, built, dependency, drive) in runs {
        let run = drive.await.map_err(std::io::Error::other)?;
        dependency.stop().await?;
        let attempts = built.target.attempts.times();
        clients.push(measure::measure(&scenario, variant, run, attempts, built.transitions.entries()));
    }
    Ok(ScenarioReport { scenario, clients, producers: Vec::new() })
}

/// How much slack the correctness checks allow.
#[derive(Debug, Clone, Copy)]
pub struct Margin {
    /// Extra requests allowed per open period over `half_open_permits`.
    pub per_open_period: usize,
    /// Extra time allowed for recovery.
    pub recovery: Duration,
    /// The p99 a rejected call may take (the target is 5 ms; a loaded CI machine preempts).
    pub rejected_p99: Duration,
}

impl Margin {
    /// The targets as stated.
    pub const STRICT: Margin =
        Margin { per_open_period: 0, recovery: Duration::from_millis(500), rejected_p99: Duration::from_millis(5) };
    /// For a loaded CI machine.
    pub const GENEROUS: Margin =
        Margin { per_open_period: 2, recovery: Duration::from_secs(4), rejected_p99: Duration::from_millis(50) };
}

/// One checked property.
#[derive(Debug, Clone)]
pub struct Check {
    /// The scenario.
    pub scenario: &'static str,
    /// The client or producer.
    pub client: &'static str,
    /// What was checked.
    pub property: String,
    /// What was measured.
    pub measured: String,
    /// True when it held (or does not apply).
    pub ok: bool,
    /// False when the property cannot be judged in this run (a breaker that never opened has
    /// no open period, no recovery and no rejections): the row reads n/a.
    pub applies: bool,
    /// True for the properties CI asserts (shielding, recovery, no false trips, fast
    /// rejections, zero loss, duplicates only from deliveries the sender saw fail, zero leftovers);
    /// false for reported figures and the peer's rows.
    pub asserted: bool,
}

impl ScenarioReport {
    /// The longest recovery the targets allow: one open wait, plus the probes — a probe sent
    /// just before healing may still see the fault (wait out the timeout, or be slow) and
    /// reopen the breaker for one more wait.
    pub fn recovery_bound(&self, margin: Margin) -> Duration {
        let s = &self.scenario;
        let stale_probe = match s.fault {
            Fault::Hang => s.timeout + s.tuning.wait,
            Fault::Slow => Duration::from_millis(400) + s.tuning.wait,
            _ => Duration::ZERO,
        };
        s.tuning.wait + stale_probe + margin.recovery
    }

    /// The checks for this scenario. Our breakers' checks are `asserted`; the peer's are
    /// reported only.
    pub fn checks(&self, margin: Margin) -> Vec<Check> {
        let s = &self.scenario;
        let checks = std::cell::RefCell::new(Vec::new());
        let check = |client: &'static str, property: String, measured: String, ok: bool, asserted: bool| {
            checks.borrow_mut().push(Check {
                scenario: s.name(),
                client,
                property,
                measured,
                ok,
                asserted,
                applies: true,
            });
        };
        let not_applicable = |client: &'static str, property: String, asserted: bool| {
            let measured = "never opened".to_owned();
            checks.borrow_mut().push(Check {
                scenario: s.name(),
                client,
                property,
                measured,
                ok: true,
                asserted,
                applies: false,
            });
        };
        for c in self.clients.iter().filter(|c| c.variant.has_breaker()) {
            let ours = c.variant != Variant::Peer;
            let label = c.variant.label();
            let trip =
                if s.fault == Fault::Partial { "opens once failures reach 70%" } else { "opens during the fault" };
            check(label, trip.into(), opt_ms(c.open_after), c.open_after.is_some(), ours);
            let permits = s.tuning.half_open_permits as usize;
            let per_open_period = format!("at most {permits} requests reach the dependency per open period");
            let bound = self.recovery_bound(margin);
            let closed_within = format!("closed within {} after healing", measure::latency(bound));
            let fast_rejections = format!(
                "rejected-call p99 under {} once open (at {} requests/s)",
                measure::latency(margin.rejected_p99),
                s.rate
            );
            let hang = s.fault == Fault::Hang;
            if c.openings == 0 && c.transitions.is_empty() {
                // Never opened: nothing to judge about open periods, recovery or rejections.
                not_applicable(label, per_open_period, ours);
                not_applicable(label, closed_within, ours);
                if hang {
                    not_applicable(label, fast_rejections, ours);
                }
            } else {
                let max = c.max_per_open_period.unwrap_or(0);
                check(label, per_open_period, format!("{max}"), max <= permits + margin.per_open_period, ours);
                check(
                    label,
                    closed_within,
                    opt_ms(c.closed_after_heal),
                    c.closed_after_heal.is_some_and(|d| d <= bound),
                    ours,
                );
                if hang {
                    let (r, a) = (&c.rejected_once_open, &c.admitted_once_open);
                    check(
                        label,
                        fast_rejections,
                        format!(
                            "{} over {} rejected calls (admitted calls, mostly probes waiting out the {} timeout: p99 {} over {})",
                            measure::latency(r.p99),
                            r.count,
                            measure::latency(s.timeout),
                            measure::latency(a.p99),
                            a.count
                        ),
                        r.count > 0 && r.p99 < margin.rejected_p99,
                        ours,
                    );
                }
            }
            if s.fault == Fault::Partial {
                check(
                    label,
                    "no trip at 30% failures".into(),
                    format!("{} trips", c.false_trips),
                    c.false_trips == 0,
                    ours,
                );
            }
        }
        for c in &self.clients {
            check(
                c.variant.label(),
                "every admitted call settled (harness count)".into(),
                format!("{} admitted, {} settled", c.admitted, c.settled),
                c.admitted == c.settled,
                c.variant != Variant::Peer,
            );
            check(c.variant.label(), "no call tasks left".into(), format!("{}", c.tasks_left), c.tasks_left == 0, true);
        }
        for p in &self.producers {
            let queued = p.label.starts_with("RetryQueue");
            check(p.label, "nothing lost".into(), format!("{}", p.lost), p.lost == 0, queued);
            // A lost acknowledgement makes an at-least-once queue send the message again: the
            // duplicates are measured and reported there, not asserted away.
            let duplicated = match p.acks_lost {
                Some(_) => format!("{} messages, {} extra copies", p.duplicated, p.extra_copies),
                None => format!("{}", p.duplicated),
            };
            check(p.label, "nothing duplicated".into(), duplicated, p.duplicated == 0, queued && p.acks_lost.is_none());
            if let (true, Some(acks_lost)) = (queued, p.acks_lost) {
                check(
                    p.label,
                    "duplicates only from deliveries the sender saw fail".into(),
                    format!(
                        "{} extra copies; {} failed attempts, {acks_lost} of them acks the broker lost",
                        p.extra_copies, p.failed_attempts
                    ),
                    p.extra_copies <= p.failed_attempts,
                    true,
                );
            }
            check(p.label, "delivered in order".into(), format!("{}", p.in_order), p.in_order, queued);
            if queued {
                check(
                    p.label,
                    "everything produced accepted".into(),
                    format!("{} refused", p.refused),
                    p.refused == 0,
                    true,
                );
                check(p.label, "queue empty at the end".into(), format!("{}", p.queue_left), p.queue_left == 0, true);
                if let Some(unsettled) = p.unsettled {
                    check(
                        p.label,
                        "every admitted delivery settled (harness count)".into(),
                        format!("{unsettled} unsettled"),
                        unsettled == 0,
                        true,
                    );
                }
            }
            check(p.label, "no tasks left".into(), format!("{}", p.tasks_left), p.tasks_left == 0, true);
        }
        checks.into_inner()
    }
}

fn opt_ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "never".to_owned(), measure::latency)
}

impl Report {
    /// Every check of every scenario.
    pub fn checks(&self, margin: Margin) -> Vec<Check> {
        self.scenarios.iter().flat_map(|s| s.checks(margin)).collect()
    }
}
