//! A private `redis-server` per test: a free loopback port, a temporary directory, no
//! persistence. Under `CI=true` a missing server fails the test; elsewhere the test skips and
//! says why.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, killed on drop.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// Arguments after the port and persistence ones (`--requirepass`, TLS files).
    extra: Vec<String>,
    /// Serves TLS only (`--port 0 --tls-port PORT`).
    tls: bool,
}

/// True under `CI=true`, where a missing component fails a test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

impl RedisServer {
    /// Starts a server, or returns `None` (outside CI) when `redis-server` is not on PATH.
    pub fn start() -> Option<RedisServer> {
        Self::start_with(&[])
    }

    /// Starts a server with these extra arguments (for example `--requirepass secret`).
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        let mut server = Self::prepare(extra, false)?;
        server.restart();
        Some(server)
    }

    /// A server serving TLS only on its port, with the certificate, key and CA files the
    /// caller writes into [`dir`](Self::dir) before calling [`restart`](Self::restart):
    /// `server.crt`, `server.key`, `ca.crt`. Clients are not asked for certificates.
    pub fn prepare_tls(extra: &[&str]) -> Option<RedisServer> {
        let mut server = Self::prepare(&[], true)?;
        let file = |name: &str| server.dir.join(name).display().to_string();
        let (crt, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
        server.extra = ["--tls-cert-file", &crt, "--tls-key-file", &key, "--tls-ca-cert-file", &ca]
            .into_iter()
            .map(str::to_owned)
            .chain(["--tls-auth-clients".to_owned(), "no".to_owned()])
            .chain(extra.iter().map(|s| (*s).to_owned()))
            .collect();
        Some(server)
    }

    fn prepare(extra: &[&str], tls: bool) -> Option<RedisServer> {
        if Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_err() {
            if in_ci() {
                panic!("redis-server is not on PATH, and CI=true: install it (`.ci/run` does)");
            }
            eprintln!("skipped: redis-server is not on PATH (install it to run the fleet tests)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("breaker-redis-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let extra = extra.iter().map(|s| (*s).to_owned()).collect();
        Some(RedisServer { port, dir, child: None, extra, tls })
    }

    /// The server's temporary directory (its working directory; TLS files go here).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port, and waits until it answers (a server
    /// asking for a password answers `-NOAUTH`; a TLS one is waited for until it listens).
    /// Panics, with the server's own log, when it exits instead (a server built without TLS
    /// refuses `--tls-port` at once).
    pub fn restart(&mut self) {
        if let Err(why) = self.try_restart() {
            panic!("{why}");
        }
    }

    /// [`restart`](Self::restart), returning why the server did not start instead of
    /// panicking.
    pub fn try_restart(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let ports = if self.tls { vec!["--port", "0", "--tls-port", &port] } else { vec!["--port", &port] };
        let log = self.dir.join("redis.log");
        let mut child = Command::new("redis-server")
            .args(ports)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "yes", "--dir"])
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(std::fs::File::create(&log).map(Stdio::from).unwrap_or_else(|_| Stdio::null()))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("redis-server exited ({status}) instead of serving on port {port}:\n{said}"));
            }
            let ready = if self.tls {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                self.command("PING").is_some_and(|r| r.starts_with("+PONG") || r.starts_with("-NOAUTH"))
            };
            if ready {
                self.child = Some(child);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!("redis-server did not answer on port {}", self.port))
    }

    /// Kills the server (the port stays reserved for `restart`).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends one inline command and returns the first reply chunk.
    pub fn command(&self, line: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(format!("{line}\r\n").as_bytes()).ok()?;
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Publishes raw bytes on `channel` (RESP, so any bytes go through).
    pub fn publish_raw(&self, channel: &str, payload: &[u8]) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut frame =
            format!("*3\r\n$7\r\nPUBLISH\r\n${}\r\n{channel}\r\n${}\r\n", channel.len(), payload.len()).into_bytes();
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        stream.write_all(&frame).unwrap();
        let mut buf = [0u8; 64];
        let _ = stream.read(&mut buf);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `done` every 2 ms until it holds or `within` passes; the time it took.
pub async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if done() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    done().then(|| start.elapsed())
}
