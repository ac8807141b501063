//! A client of the event stream that stops reading slows no call and holds bounded memory.
//!
//! Its own test binary: it measures the process's resident memory.

use std::time::Duration;

use breaker_admin::AdminOptions;
use breaker_runtime::Registry;

mod common;
use common::{serve, Sse};

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()).unwrap_or(0) * 4096
}

/// The p99 latency of `calls` rejected calls: the best of three runs, to shed scheduling noise.
fn p99_of_rejected_calls(breaker: &breaker_runtime::Breaker, calls: usize) -> Duration {
    (0..3).map(|_| p99_once(breaker, calls)).min().unwrap_or_default()
}

fn p99_once(breaker: &breaker_runtime::Breaker, calls: usize) -> Duration {
    let mut times: Vec<Duration> = (0..calls)
        .map(|_| {
            let started = std::time::Instant::now();
            breaker.call_blocking(|| Ok::<_, ()>(())).unwrap_err();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[calls * 99 / 100]
}

/// A client that connects and never reads: calls keep their latency, memory stays bounded, and
/// when the client reads again it is told how many events it skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_slows_no_call_and_holds_bounded_memory() {
    let registry = Registry::new();
    let db = registry.breaker("db");
    db.force_open(); // every call is rejected, and every rejection is an event
    let addr = serve(&registry, AdminOptions::new()).await;

    // Baseline: a client that reads everything.
    let mut reader = Sse::open(addr).await;
    reader.next("hello").await;
    let drain = tokio::spawn(async move {
        loop {
            reader.next("never").await;
        }
    });
    let measured = db.clone();
    let baseline = tokio::task::spawn_blocking(move || p99_of_rejected_calls(&measured, 20_000)).await.unwrap();
    drain.abort();

    // Now a client that never reads, with a small receive buffer.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = Sse::open_on(socket.connect(addr).await.unwrap(), addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let measured = db.clone();
    let before = resident_bytes();
    let (with_stalled, after) = tokio::task::spawn_blocking(move || {
        let p99 = p99_of_rejected_calls(&measured, 20_000);
        for _ in 0..500_000 {
            measured.call_blocking(|| Ok::<_, ()>(())).unwrap_err();
        }
        (p99, resident_bytes())
    })
    .await
    .unwrap();
    eprintln!("p99 of a rejected call: {baseline:?} with a reading client, {with_stalled:?} with a stalled one");
    assert!(
        with_stalled <= baseline * 2 + Duration::from_micros(2),
        "a stalled client slowed calls: p99 {baseline:?} -> {with_stalled:?}"
    );
    let grown = after.saturating_sub(before);
    assert!(grown < 16 << 20, "520,000 events while stalled grew memory by {grown} bytes");

    // The client is told it skipped events. How many the first notice counts depends on how
    // many calls fell between two drains of the stream, i.e. on the machine's load.
    let lagged = stalled.next("lagged").await;
    assert!(lagged["skipped"].as_u64().unwrap() > 0, "{lagged}");
}
