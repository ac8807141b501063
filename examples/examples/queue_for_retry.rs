//! Queue-for-retry: a producer keeps publishing while its broker goes away and comes back;
//! every message is delivered once, in order.
//!
//! The broker is a line-protocol server on loopback that the example stops (connections are
//! refused) and restarts on the same port. The producer publishes through a [`RetryQueue`] in
//! front of the `broker` breaker: while the broker is down the breaker opens, messages wait
//! in the bounded queue, and once probes succeed they are replayed in order. A refused
//! connection never reaches the broker, so retrying it cannot duplicate a message; a lost
//! acknowledgement can, since `RetryQueue` delivers at least once (the outage harness's
//! `ack-lost` scenario measures that).
//!
//! ```text
//! cargo run -p breaker-examples --example queue_for_retry
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_examples::{lock, timeline};
use breaker_runtime::{Config, Registry, RetryQueue, Shutdown};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Messages the broker has stored, in arrival order.
type Log = Arc<Mutex<Vec<u64>>>;

/// Serves `publish N` lines on `listener`, appending N to `log` and answering `ok`.
fn serve(listener: TcpListener, log: Log) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let log = log.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(n) = line.strip_prefix("publish ").and_then(|n| n.parse().ok()) {
                        lock(&log).push(n);
                        if write.write_all(b"ok\n").await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    })
}

/// Publishes one message over a fresh connection.
async fn publish(addr: SocketAddr, message: u64) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(format!("publish {message}\n").as_bytes()).await?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).await?;
    if reply.trim() == "ok" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("unexpected reply {reply:?}")))
    }
}

/// What the run saw.
#[derive(Debug)]
pub struct Summary {
    /// Messages the producer handed to the queue.
    pub accepted: u64,
    /// Messages the broker stored.
    pub delivered: Vec<u64>,
    /// Messages handed back at shutdown (not delivered).
    pub left_over: usize,
    /// The deepest the queue got.
    pub max_depth: usize,
    /// Transitions, as printed.
    pub transitions: Vec<String>,
}

impl Summary {
    /// Messages delivered more than once.
    pub fn duplicated(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        self.delivered.iter().filter(|m| !seen.insert(**m)).count()
    }
    /// Accepted messages never delivered.
    pub fn lost(&self) -> u64 {
        let delivered: std::collections::HashSet<_> = self.delivered.iter().collect();
        (0..self.accepted).filter(|m| !delivered.contains(m)).count() as u64
    }
    /// True when the broker stored 0, 1, 2, ... in order.
    pub fn in_order(&self) -> bool {
        self.delivered.windows(2).all(|w| w[0] < w[1])
    }
}

/// Publishes `count` messages over `duration`; the broker is down for the middle third.
pub async fn run(count: u64, duration: Duration) -> std::io::Result<Summary> {
    let log: Log = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut broker = Some(serve(listener, log.clone()));

    let registry = Registry::new();
    registry
        .configure(
            "broker",
            Config::builder()
                .consecutive_failures(3)
                .wait(Duration::from_millis(200))
                .half_open_permits(1)
                .success_threshold(1),
        )
        .map_err(std::io::Error::other)?;
    let mut events = registry.subscribe();
    let queue = RetryQueue::new(registry.breaker("broker"), 10_000, move |m: u64| publish(addr, m));

    let started = Instant::now();
    let (down_at, up_at) = (duration / 3, duration * 2 / 3);
    let step = duration / u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    let mut summary =
        Summary { accepted: 0, delivered: Vec::new(), left_over: 0, max_depth: 0, transitions: Vec::new() };
    for message in 0..count {
        let elapsed = started.elapsed();
        if broker.is_some() && elapsed >= down_at && elapsed < up_at {
            if let Some(task) = broker.take() {
                task.abort();
                let _ = task.await;
            }
            println!("[{:>5.2}s] broker is down (connections refused)", elapsed.as_secs_f64());
        }
        if broker.is_none() && elapsed >= up_at {
            broker = Some(serve(TcpListener::bind(addr).await?, log.clone()));
            println!("[{:>5.2}s] broker is back", elapsed.as_secs_f64());
        }
        if queue.send(message).is_ok() {
            summary.accepted += 1;
        }
        summary.max_depth = summary.max_depth.max(queue.depth());
        timeline::drain(&mut events, started, &mut summary.transitions);
        tokio::time::sleep(step).await;
    }
    if broker.is_none() {
        broker = Some(serve(TcpListener::bind(addr).await?, log.clone()));
    }
    summary.left_over = queue.shutdown(Shutdown::Drain(Duration::from_secs(10))).await.len();
    timeline::drain(&mut events, started, &mut summary.transitions);
    if let Some(task) = broker {
        task.abort();
    }
    summary.delivered = lock(&log).clone();
    println!(
        "\naccepted {}, delivered {}, in order: {}, duplicated {}, lost {}, left over {}, deepest queue {}",
        summary.accepted,
        summary.delivered.len(),
        summary.in_order(),
        summary.duplicated(),
        summary.lost(),
        summary.left_over,
        summary.max_depth
    );
    Ok(summary)
}

#[tokio::main]
async fn main() {
    match run(300, Duration::from_secs(3)).await {
        Ok(summary) if summary.lost() == 0 && summary.duplicated() == 0 && summary.in_order() => {}
        Ok(_) => std::process::exit(1),
        Err(e) => {
            eprintln!("queue_for_retry failed: {e}");
            std::process::exit(1);
        }
    }
}
