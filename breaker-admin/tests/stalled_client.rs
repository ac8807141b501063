//! A client of the event stream that stops reading slows no call and holds bounded memory.
//!
//! Its own test binary: it measures the process's resident memory.

use std::net::SocketAddr;
use std::time::Duration;

use breaker_admin::AdminOptions;
use breaker_runtime::Registry;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves `breaker_admin::router(registry, options)` on a free loopback port.
async fn serve(registry: &Registry, options: AdminOptions) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = breaker_admin::router(registry.clone(), options);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Reads a server-sent event stream from a raw socket.
struct Sse {
    socket: TcpStream,
    buffer: String,
    /// Events read while looking for another, in order, for a later `next` (at most 64).
    skipped: Vec<(String, Value)>,
}

impl Sse {
    async fn open(addr: SocketAddr) -> Sse {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let request =
            format!("GET /circuit-breakers/events HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        Sse { socket, buffer: String::new(), skipped: Vec::new() }
    }

    /// The next event named `name` (skipping others), as `data` JSON, within 5 seconds.
    async fn next(&mut self, name: &str) -> Value {
        if let Some(i) = self.skipped.iter().position(|(event, _)| event == name) {
            return self.skipped.remove(i).1;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let event = block.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("");
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                match (event == name, data) {
                    (true, Some(data)) => return json(data),
                    (false, Some(data)) if self.skipped.len() < 64 && event != "rates" => {
                        self.skipped.push((event.to_owned(), json(data)));
                    }
                    _ => {}
                }
            }
            let mut chunk = vec![0; 64 * 1024];
            let n = tokio::time::timeout_at(deadline, self.socket.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("no `{name}` event within 5 s"))
                .unwrap();
            assert!(n > 0, "stream closed");
            // chunked transfer encoding: the size lines sit between events and never hold "\n\n"
            self.buffer.push_str(&String::from_utf8_lossy(&chunk[..n]).replace("\r\n", "\n"));
        }
    }
}

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
    let mut stalled = Sse { socket: socket.connect(addr).await.unwrap(), buffer: String::new(), skipped: Vec::new() };
    let request = format!("GET /circuit-breakers/events HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    stalled.socket.write_all(request.as_bytes()).await.unwrap();
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

    let lagged = stalled.next("lagged").await;
    assert!(lagged["skipped"].as_u64().unwrap() > 1000, "{lagged}");
}
