//! gRPC: a tonic client protected by the tower layer against a loopback tonic server that
//! starts failing with `Unavailable`, then recovers.
//!
//! The layer wraps the tonic `Channel`, so every RPC of the generated client goes through the
//! `health-grpc` breaker. [`GrpcClassifier`] reads each response's `grpc-status`:
//! `Unavailable` counts as a failure, `NotFound` (the caller asked for an unknown service)
//! would count as a success. While the breaker is open, RPCs fail fast with a status whose
//! source is the layer's [`CallError::Rejected`], without touching the server.
//!
//! ```text
//! cargo run -p breaker-examples --example grpc
//! cargo run -p breaker-examples --example grpc -- --duration 30
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_examples::timeline;
use breaker_runtime::tower::{CircuitBreakerLayer, GrpcClassifier};
use breaker_runtime::{CallError, Config, Registry};
use tokio::time::Instant;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::server::{HealthReporter, HealthService};
use tower::ServiceBuilder;

/// A loopback gRPC server that answers `Unavailable` while `failing` is set.
#[derive(Debug, Clone)]
pub struct GrpcServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Set to make every RPC fail with `Unavailable`.
    pub failing: Arc<AtomicBool>,
    /// RPCs that reached it.
    pub hits: Arc<AtomicU64>,
}

/// Starts the server on a port the OS picks.
pub async fn start_server() -> std::io::Result<GrpcServer> {
    let failing = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicU64::new(0));
    let (fail, count) = (failing.clone(), hits.clone());
    let health = HealthService::from_health_reporter(HealthReporter::new());
    let service = HealthServer::with_interceptor(health, move |request| {
        count.fetch_add(1, Ordering::Relaxed);
        if fail.load(Ordering::Relaxed) {
            Err(Status::unavailable("down for maintenance"))
        } else {
            Ok(request)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = Server::builder().add_service(service).serve_with_incoming(TcpIncoming::from(listener)).await;
    });
    Ok(GrpcServer { addr, failing, hits })
}

/// True when the RPC failed because the breaker rejected it: tonic keeps the layer's
/// [`CallError`] as the status's source.
pub fn rejected_by_breaker(status: &Status) -> bool {
    std::error::Error::source(status)
        .and_then(|e| e.downcast_ref::<CallError<tonic::transport::Error>>())
        .is_some_and(CallError::is_rejected)
}

/// What the run saw.
#[derive(Debug, Default)]
pub struct Summary {
    /// RPCs that succeeded.
    pub ok: u64,
    /// RPCs that reached the failing server and got `Unavailable`.
    pub unavailable: u64,
    /// RPCs the breaker rejected without calling the server.
    pub rejected: u64,
    /// Server hits while it was failing.
    pub hits_while_failing: u64,
    /// RPCs made while it was failing.
    pub calls_while_failing: u64,
    /// Transitions, as printed.
    pub transitions: Vec<String>,
    /// The breaker's state at the end.
    pub final_state: String,
}

/// Runs the demo for `duration`: healthy for the first third, failing for the second,
/// healthy again for the last.
pub async fn run(duration: Duration) -> Result<Summary, Box<dyn std::error::Error + Send + Sync>> {
    let server = start_server().await?;
    let registry = Registry::new();
    registry.configure(
        "health-grpc",
        Config::builder()
            .consecutive_failures(3)
            .wait(Duration::from_millis(500))
            .half_open_permits(1)
            .success_threshold(1),
    )?;
    let mut events = registry.subscribe();
    let channel = Channel::from_shared(format!("http://{}", server.addr))?.connect().await?;
    let protected = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::named(&registry, "health-grpc").classify(GrpcClassifier::new()))
        .service(channel);
    let mut client = HealthClient::new(protected);

    let started = Instant::now();
    let mut summary = Summary::default();
    let mut hits_at_failure = 0;
    while started.elapsed() < duration {
        let third = started.elapsed().as_secs_f64() / duration.as_secs_f64() * 3.0;
        let should_fail = (1.0..2.0).contains(&third);
        if should_fail != server.failing.load(Ordering::Relaxed) {
            server.failing.store(should_fail, Ordering::Relaxed);
            if should_fail {
                hits_at_failure = server.hits.load(Ordering::Relaxed);
            } else {
                summary.hits_while_failing = server.hits.load(Ordering::Relaxed) - hits_at_failure;
            }
            println!(
                "[{:>5.1}s] server is now {}",
                started.elapsed().as_secs_f64(),
                if should_fail { "failing (Unavailable)" } else { "healthy" }
            );
        }
        let result = client.check(HealthCheckRequest { service: String::new() }).await;
        if should_fail {
            summary.calls_while_failing += 1;
        }
        match result {
            Ok(_) => summary.ok += 1,
            Err(status) if rejected_by_breaker(&status) => summary.rejected += 1,
            Err(status) if status.code() == Code::Unavailable => summary.unavailable += 1,
            Err(status) => return Err(status.into()),
        }
        timeline::drain(&mut events, started, &mut summary.transitions);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    summary.final_state = registry.breaker("health-grpc").state().to_string();
    println!(
        "\n{} RPCs succeeded, {} reached the failing server, {} were rejected by the breaker;\nwhile failing, {} of {} RPCs reached the server. Final state: {}.",
        summary.ok, summary.unavailable, summary.rejected, summary.hits_while_failing, summary.calls_while_failing, summary.final_state
    );
    Ok(summary)
}

#[tokio::main]
async fn main() {
    let mut duration = Duration::from_secs(9);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|v| v.parse::<u64>().ok())) {
            ("--duration", Some(secs)) => duration = Duration::from_secs(secs.max(3)),
            _ => {
                eprintln!("usage: grpc [--duration SECONDS]");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = run(duration).await {
        eprintln!("grpc example failed: {e}");
        std::process::exit(1);
    }
}
