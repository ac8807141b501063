//! Helpers the admin's integration tests share: a loopback server and its two kinds of request.

#![allow(dead_code)] // each test binary uses its own subset

use std::net::SocketAddr;
use std::time::Duration;

use breaker_admin::AdminOptions;
use breaker_runtime::Registry;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves `breaker_admin::router(registry, options)` on a free loopback port.
pub(crate) async fn serve(registry: &Registry, options: AdminOptions) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = breaker_admin::router(registry.clone(), options);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub(crate) async fn post(addr: SocketAddr, name: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/circuit-breakers/{name}/state"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The JSON in `text`, or a panic that shows it.
pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Reads a server-sent event stream from a raw socket.
pub(crate) struct Sse {
    socket: TcpStream,
    buffer: String,
    /// Events read while looking for another, in order, for a later `next` (at most 64).
    skipped: Vec<(String, Value)>,
}

impl Sse {
    pub(crate) async fn open(addr: SocketAddr) -> Sse {
        Sse::open_on(TcpStream::connect(addr).await.unwrap(), addr).await
    }

    /// Subscribes over `socket`, already connected to `addr` (a test may tune its buffers).
    pub(crate) async fn open_on(mut socket: TcpStream, addr: SocketAddr) -> Sse {
        let request =
            format!("GET /circuit-breakers/events HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        Sse { socket, buffer: String::new(), skipped: Vec::new() }
    }

    /// The next event named `name` (skipping others), as `data` JSON, within 5 seconds.
    pub(crate) async fn next(&mut self, name: &str) -> Value {
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
