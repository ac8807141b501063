//! The shared flaky dependency: one loopback HTTP service whose behaviour the coordinator
//! switches, per replica, and which logs every request it receives.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

/// What the dependency does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 200 to everyone.
    Up = 0,
    /// 503 to everyone.
    Down = 1,
    /// 503 to replica 5 only (its network is broken), 200 to the others.
    Partitioned = 2,
}

/// The running dependency.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// Where it listens.
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    /// Every request: (Unix time in ms, replica).
    pub log: Arc<Mutex<Vec<(f64, usize)>>>,
}

/// The replica whose network is broken in the partition scenario.
pub const PARTITIONED: usize = 5;

#[derive(Clone)]
struct App {
    mode: Arc<AtomicU8>,
    log: Arc<Mutex<Vec<(f64, usize)>>>,
}

async fn call(State(app): State<App>, Path(replica): Path<usize>) -> StatusCode {
    crate::lock(&app.log).push((super::unix_ms(), replica));
    match app.mode.load(Ordering::Relaxed) {
        0 => StatusCode::OK,
        2 if replica != PARTITIONED => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl Dependency {
    /// Starts it on a free loopback port.
    pub async fn start() -> std::io::Result<Dependency> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(AtomicU8::new(Mode::Up as u8));
        let log = Arc::new(Mutex::new(Vec::new()));
        let app = App { mode: mode.clone(), log: log.clone() };
        let router = Router::new().route("/call/{replica}", get(call)).with_state(app);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Dependency { addr, mode, log })
    }

    /// Switches behaviour.
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    /// Forgets the log.
    pub fn clear(&self) {
        crate::lock(&self.log).clear();
    }
}
