//! The queue scenarios: a producer publishing messages to a broker, once through a
//! [`RetryQueue`] in front of our breaker, once sending directly. In `queue` the broker goes
//! down (connections refused: nothing can arrive twice); in `ack-lost` it stores every message
//! but loses the acknowledgement of some, so the sender times out on a message that arrived.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing;
use axum::Router;
use breaker_runtime::{RetryQueue, Shutdown};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::client::{observed_registry, Log};
use super::measure::{delivery, QueueMeasured};
use super::scenario::{Fault, Scenario};
use crate::flaky::{self, Behaviour, Dependency, Schedule};
use crate::lock;

/// How long shutdown may keep delivering what is still queued.
const DRAIN: Duration = Duration::from_secs(15);

/// A broker as the producers see it: where it listens and what it stored.
#[derive(Debug)]
struct Broker {
    addr: SocketAddr,
    /// Sequence numbers stored, in arrival order (duplicates included).
    messages: Arc<Mutex<Vec<u64>>>,
    /// Acknowledgements lost (`ack-lost` only).
    acks_lost: Option<Arc<AtomicU64>>,
    server: Server,
}

#[derive(Debug)]
enum Server {
    /// The flaky service (`queue`: down phases refuse connections).
    Flaky(Dependency),
    /// The lossy broker (`ack-lost`) and how to stop it.
    Lossy(tokio::sync::oneshot::Sender<()>, JoinHandle<std::io::Result<()>>),
}

impl Broker {
    async fn start(scenario: &Scenario, started: Instant) -> std::io::Result<Broker> {
        if scenario.fault == Fault::AckLost {
            return lossy(scenario.schedule.clone(), started).await;
        }
        let dependency = flaky::start(scenario.schedule.clone(), started).await?;
        Ok(Broker {
            addr: dependency.flaky.addr,
            messages: dependency.messages.clone(),
            acks_lost: None,
            server: Server::Flaky(dependency),
        })
    }

    async fn stop(self) -> std::io::Result<()> {
        match self.server {
            Server::Flaky(dependency) => dependency.stop().await,
            Server::Lossy(stop, mut task) => {
                let _ = stop.send(());
                // Requests whose acknowledgement was lost hang until their sender gives up.
                match tokio::time::timeout(Duration::from_secs(2), &mut task).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(e)) => Err(std::io::Error::other(e)),
                    Err(_) => {
                        task.abort();
                        Ok(())
                    }
                }
            }
        }
    }
}

#[derive(Clone)]
struct LossyState {
    schedule: Arc<Schedule>,
    started: Instant,
    hits: Arc<AtomicU64>,
    messages: Arc<Mutex<Vec<u64>>>,
    acks_lost: Arc<AtomicU64>,
}

/// `POST /messages/{seq}`: stores the message, then, during a `Partial(p)` phase, loses the
/// acknowledgement of share `p` of requests (evenly spread) by never answering.
async fn store(State(state): State<LossyState>, Path(seq): Path<u64>) -> StatusCode {
    let n = state.hits.fetch_add(1, Ordering::Relaxed);
    lock(&state.messages).push(seq);
    if let Behaviour::Partial(p) = state.schedule.at(state.started.elapsed()) {
        #[allow(clippy::cast_precision_loss)]
        let crossed = ((n + 1) as f64 * p).floor() > (n as f64 * p).floor();
        if crossed {
            state.acks_lost.fetch_add(1, Ordering::Relaxed);
            std::future::pending::<()>().await;
        }
    }
    StatusCode::NO_CONTENT
}

/// Starts the lossy broker on a loopback port chosen by the OS.
async fn lossy(schedule: Schedule, started: Instant) -> std::io::Result<Broker> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let messages = Arc::new(Mutex::new(Vec::new()));
    let acks_lost = Arc::new(AtomicU64::new(0));
    let state = LossyState {
        schedule: Arc::new(schedule),
        started,
        hits: Arc::default(),
        messages: messages.clone(),
        acks_lost: acks_lost.clone(),
    };
    let app = Router::new().route("/messages/{seq}", routing::post(store)).with_state(state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Broker { addr, messages, acks_lost: Some(acks_lost), server: Server::Lossy(stop, task) })
}

/// Runs both producers against their own brokers; returns their figures.
pub async fn run(scenario: &Scenario, started: Instant) -> std::io::Result<Vec<QueueMeasured>> {
    let queued = Broker::start(scenario, started).await?;
    let direct = Broker::start(scenario, started).await?;
    let (a, b) = tokio::join!(with_queue(scenario, started, &queued), without_queue(scenario, started, &direct));
    queued.stop().await?;
    direct.stop().await?;
    Ok(vec![a?, b?])
}

fn broker_url(broker: &Broker) -> String {
    format!("http://{}/messages", broker.addr)
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
    broker: &Broker,
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
    broker: &Broker,
    attempts: &Log<()>,
    samples: Vec<(f64, u64, u64, usize)>,
) -> QueueMeasured {
    let received = lock(&broker.messages).clone();
    let (delivered, in_order, duplicated, lost) = delivery(accepted, &received);
    let extra_copies = received.len() as u64 - delivered;
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
        extra_copies,
        acks_lost: broker.acks_lost.as_ref().map(|n| n.load(Ordering::Relaxed)),
        failed_attempts: 0,
        lost,
        fault_rate: fault as f64 / scenario.fault_duration().as_secs_f64(),
        drained_after_heal: None,
        max_depth: 0,
        queue_left: 0,
        tasks_left: 0,
        unsettled: None,
        transitions: Vec::new(),
        samples,
    }
}

async fn with_queue(scenario: &Scenario, started: Instant, broker: &Broker) -> std::io::Result<QueueMeasured> {
    let transitions = Log::new(started);
    let registry = observed_registry(scenario.tuning, &transitions).map_err(std::io::Error::other)?;
    let breaker = registry.breaker("broker");
    let http = reqwest::Client::builder().timeout(scenario.timeout).build().map_err(std::io::Error::other)?;
    let url = broker_url(broker);
    let attempts = Log::<()>::new(started);
    let deliver_attempts = attempts.clone();
    // The harness's own count: deliveries the breaker admitted (the future was polled) and
    // deliveries whose future ended (finished, or dropped when shutdown cut it off).
    let admitted = Arc::new(AtomicU64::new(0));
    let settled = Arc::new(AtomicU64::new(0));
    // Attempts the sender saw fail (an error or a timeout): the only way an at-least-once
    // queue sends a stored message again.
    let failed = Arc::new(AtomicU64::new(0));
    let (deliver_admitted, deliver_settled, deliver_failed) = (admitted.clone(), settled.clone(), failed.clone());
    let queue = Arc::new(RetryQueue::new(breaker.clone(), 100_000, move |seq: u64| {
        let (http, url, attempts) = (http.clone(), url.clone(), deliver_attempts.clone());
        let (admitted, settled, failed) = (deliver_admitted.clone(), deliver_settled.clone(), deliver_failed.clone());
        async move {
            admitted.fetch_add(1, Ordering::Relaxed);
            let _settles = Settles(settled);
            attempts.push(());
            let sent = post(&http, &url, seq).await;
            if sent.is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
            }
            sent
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
    let unsettled = admitted.load(Ordering::Relaxed).saturating_sub(settled.load(Ordering::Relaxed));

    let accepted = std::mem::take(&mut *lock(&accepted));
    let drained_after_heal = drained_after(&samples, scenario.heal.as_secs_f64());
    let max_depth = samples.iter().map(|s| s.3).max().unwrap_or(0);
    Ok(QueueMeasured {
        refused,
        drained_after_heal,
        max_depth,
        queue_left,
        unsettled: Some(unsettled),
        failed_attempts: failed.load(Ordering::Relaxed),
        transitions: transitions.entries(),
        ..measured("RetryQueue + breaker", scenario, total, &accepted, broker, &attempts, samples)
    })
}

async fn without_queue(scenario: &Scenario, started: Instant, broker: &Broker) -> std::io::Result<QueueMeasured> {
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

/// Counts one settled delivery when the delivery's future ends, however it ends.
struct Settles(Arc<AtomicU64>);

impl Drop for Settles {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}
