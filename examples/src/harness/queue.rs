//! The queue scenario: a producer publishing messages to a broker that goes down, once
//! through a [`RetryQueue`] in front of our breaker, once sending directly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::{RetryQueue, Shutdown};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::{observed_registry, Log};
use super::measure::{delivery, QueueMeasured};
use super::scenario::Scenario;
use crate::flaky::{self, Dependency};
use crate::lock;

/// How long shutdown may keep delivering what is still queued.
const DRAIN: Duration = Duration::from_secs(15);

/// Runs both producers against their own brokers; returns their figures.
pub async fn run(scenario: &Scenario, started: Instant) -> std::io::Result<Vec<QueueMeasured>> {
    let queued = flaky::start(scenario.schedule.clone(), started).await?;
    let direct = flaky::start(scenario.schedule.clone(), started).await?;
    let (a, b) = tokio::join!(with_queue(scenario, started, &queued), without_queue(scenario, started, &direct));
    queued.stop().await?;
    direct.stop().await?;
    Ok(vec![a?, b?])
}

fn broker_url(broker: &Dependency) -> String {
    format!("http://{}/messages", broker.flaky.addr)
}

async fn post(http: &reqwest::Client, url: &str, seq: u64) -> Result<(), reqwest::Error> {
    http.post(format!("{url}/{seq}")).send().await?.error_for_status()?;
    Ok(())
}

/// Samples progress every 100 ms until `until` (bounded by the scenario's length).
async fn sample(
    started: Instant,
    until: Duration,
    accepted: &AtomicU64,
    broker: &Dependency,
    depth: impl Fn() -> usize,
) -> Vec<(f64, u64, u64, usize)> {
    let mut samples = Vec::new();
    let steps = (until.as_millis() / 100) as u64;
    for step in 0..=steps {
        tokio::time::sleep_until(started + Duration::from_millis(step * 100)).await;
        let delivered = {
            let log = lock(&broker.messages);
            log.iter().collect::<std::collections::BTreeSet<_>>().len() as u64
        };
        samples.push((started.elapsed().as_secs_f64(), accepted.load(Ordering::Relaxed), delivered, depth()));
    }
    samples
}

/// From `heal` until the queue held at most the message being delivered.
fn drained_after(samples: &[(f64, u64, u64, usize)], heal: f64) -> Option<Duration> {
    samples.iter().find(|(t, .., depth)| *t >= heal && *depth <= 1).map(|(t, ..)| Duration::from_secs_f64(t - heal))
}

/// The figures both producers measure alike: what reached the broker of what was `accepted`,
/// and how many delivery attempts per second the broker saw during the fault. The fields only
/// one producer has are left zero or empty, for it to set.
fn measured(
    label: &'static str,
    scenario: &Scenario,
    produced: u64,
    accepted: &[u64],
    broker: &Dependency,
    attempts: &Log<()>,
    samples: Vec<(f64, u64, u64, usize)>,
) -> QueueMeasured {
    let received = lock(&broker.messages).clone();
    let (delivered, in_order, duplicated, lost) = delivery(accepted, &received);
    let (start, heal) = (scenario.fault_start.as_secs_f64(), scenario.heal.as_secs_f64());
    let fault = attempts.times().into_iter().filter(|t| *t >= start && *t < heal).count();
    QueueMeasured {
        label,
        produced,
        accepted: accepted.len() as u64,
        refused: 0,
        delivered,
        in_order,
        duplicated,
        lost,
        fault_rate: fault as f64 / scenario.fault_duration().as_secs_f64(),
        drained_after_heal: None,
        max_depth: 0,
        queue_left: 0,
        tasks_left: 0,
        permits_left: None,
        transitions: Vec::new(),
        samples,
    }
}

async fn with_queue(scenario: &Scenario, started: Instant, broker: &Dependency) -> std::io::Result<QueueMeasured> {
    let transitions = Log::new(started);
    let registry = observed_registry(scenario.tuning, &transitions).map_err(std::io::Error::other)?;
    let breaker = registry.breaker("broker");
    let http = reqwest::Client::builder().timeout(scenario.timeout).build().map_err(std::io::Error::other)?;
    let url = broker_url(broker);
    let attempts = Log::<()>::new(started);
    let deliver_attempts = attempts.clone();
    let queue = Arc::new(RetryQueue::new(breaker.clone(), 100_000, move |seq: u64| {
        let (http, url, attempts) = (http.clone(), url.clone(), deliver_attempts.clone());
        async move {
            attempts.push(());
            post(&http, &url, seq).await
        }
    }));

    let accepted_count = AtomicU64::new(0);
    let accepted = Mutex::new(Vec::new());
    let mut refused = 0;
    let total = (scenario.duration.as_secs_f64() * f64::from(scenario.rate)) as u64;
    let period = Duration::from_secs_f64(1.0 / f64::from(scenario.rate));
    let produce = async {
        for seq in 0..total {
            tokio::time::sleep_until(started + period.mul_f64(seq as f64)).await;
            match queue.send(seq) {
                Ok(()) => {
                    lock(&accepted).push(seq);
                    accepted_count.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => refused += 1,
            }
        }
    };
    let depth_queue = queue.clone();
    let sampling = sample(started, scenario.duration + Duration::from_secs(2), &accepted_count, broker, move || {
        depth_queue.depth()
    });
    let ((), samples) = tokio::join!(produce, sampling);
    let handed_back = queue.shutdown(Shutdown::Drain(DRAIN)).await;
    let queue_left = handed_back.len() + queue.depth();

    let accepted = std::mem::take(&mut *lock(&accepted));
    let drained_after_heal = drained_after(&samples, scenario.heal.as_secs_f64());
    let max_depth = samples.iter().map(|s| s.3).max().unwrap_or(0);
    Ok(QueueMeasured {
        refused,
        drained_after_heal,
        max_depth,
        queue_left,
        permits_left: Some(breaker.snapshot().permits_in_use),
        transitions: transitions.entries(),
        ..measured("RetryQueue + breaker", scenario, total, &accepted, broker, &attempts, samples)
    })
}

async fn without_queue(scenario: &Scenario, started: Instant, broker: &Dependency) -> std::io::Result<QueueMeasured> {
    let http = reqwest::Client::builder().timeout(scenario.timeout).build().map_err(std::io::Error::other)?;
    let url = broker_url(broker);
    let attempts = Log::<()>::new(started);
    let accepted_count = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let slots = Arc::new(Semaphore::new(scenario.concurrency));
    let total = (scenario.duration.as_secs_f64() * f64::from(scenario.rate)) as u64;
    let period = Duration::from_secs_f64(1.0 / f64::from(scenario.rate));
    let mut tasks = JoinSet::new();
    let produce = async {
        for seq in 0..total {
            tokio::time::sleep_until(started + period.mul_f64(seq as f64)).await;
            while tasks.try_join_next().is_some() {}
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                refused.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (http, url, attempts) = (http.clone(), url.clone(), attempts.clone());
            let (accepted, accepted_count, refused) = (accepted.clone(), accepted_count.clone(), refused.clone());
            tasks.spawn(async move {
                attempts.push(());
                if post(&http, &url, seq).await.is_ok() {
                    lock(&accepted).push(seq);
                    accepted_count.fetch_add(1, Ordering::Relaxed);
                } else {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                drop(slot);
            });
        }
        let grace = scenario.timeout + Duration::from_secs(5);
        let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        let left = tasks.len();
        tasks.shutdown().await;
        left
    };
    let sampling = sample(started, scenario.duration + Duration::from_secs(2), &accepted_count, broker, || 0);
    let (tasks_left, samples) = tokio::join!(produce, sampling);

    let mut accepted = std::mem::take(&mut *lock(&accepted));
    accepted.sort_unstable();
    Ok(QueueMeasured {
        refused: refused.load(Ordering::Relaxed),
        tasks_left,
        ..measured("direct, no breaker", scenario, total, &accepted, broker, &attempts, samples)
    })
}
