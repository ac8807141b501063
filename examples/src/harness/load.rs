//! The load generator: a fixed request rate with bounded concurrency, bounded in count and
//! time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::{Client, Log, Served};

/// One call as the caller saw it.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    /// When it started, in seconds since the scenario started.
    pub at: f64,
    /// How long the caller waited.
    pub latency: Duration,
    /// What the caller got.
    pub served: Served,
}

/// What one client's run produced.
#[derive(Debug, Default)]
pub struct Run {
    /// Every call made, in start order.
    pub calls: Vec<Call>,
    /// Requests not sent because every concurrency slot was taken.
    pub not_sent: u64,
    /// Call tasks still running at the end (aborted; must be 0).
    pub tasks_left: usize,
    /// Calls in flight at the end by the in-flight counter (must be 0).
    pub in_flight_left: usize,
}

/// Drives `client` at `rate` requests per second for `duration` from `started`, with at most
/// `concurrency` calls in flight, then waits for the calls still running (each ends by its
/// timeout; after `timeout` plus a grace period the rest are aborted and counted as left over).
pub async fn drive(
    client: Client,
    rate: u32,
    concurrency: usize,
    duration: Duration,
    timeout: Duration,
    started: Instant,
) -> Run {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let total = (duration.as_secs_f64() * f64::from(rate)) as u64;
    let slots = Arc::new(Semaphore::new(concurrency));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let calls = Log::new(started);
    let mut tasks = JoinSet::new();
    let mut not_sent = 0;
    for i in 0..total {
        tokio::time::sleep_until(started + period.mul_f64(i as f64)).await;
        while tasks.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            not_sent += 1;
            continue;
        };
        let (client, calls, in_flight) = (client.clone(), calls.clone(), in_flight.clone());
        in_flight.fetch_add(1, Ordering::SeqCst);
        tasks.spawn(async move {
            let t = Instant::now();
            let served = client.call(i % 16).await;
            calls.push((t.elapsed(), served));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            drop(slot);
        });
    }
    let grace = timeout + Duration::from_secs(5);
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    let tasks_left = tasks.len();
    tasks.shutdown().await;
    let calls = calls
        .entries()
        .into_iter()
        .map(|(end, (latency, served))| Call { at: (end - latency.as_secs_f64()).max(0.0), latency, served })
        .collect::<Vec<_>>();
    let mut calls = calls;
    calls.sort_by(|a, b| a.at.total_cmp(&b.at));
    Run { calls, not_sent, tasks_left, in_flight_left: in_flight.load(Ordering::SeqCst) }
}
