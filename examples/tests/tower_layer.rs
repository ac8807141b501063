//! The tower layer against real loopback servers: an axum HTTP server reached through reqwest,
//! and the tonic-health server of the gRPC example reached through a tonic `Channel`.
//!
//! What is proved: every service a layer builds (and every clone) shares one breaker; an open
//! breaker rejects in `call`, never in `poll_ready`, and never reaches the server; a rejection
//! is decided when `call` happens, not kept from `poll_ready`; a half-open
//! probe slot taken in `poll_ready` is given back when the service is dropped without calling;
//! the HTTP and gRPC classifiers read real responses (and real transport errors) correctly; a
//! panic caught outside the layer by tower-http's `CatchPanicLayer` is a failure, not a
//! cancellation.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/grpc.rs"]
mod grpc;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::Router;
use breaker_runtime::testing::ManualClock;
use breaker_runtime::tower::{CircuitBreakerLayer, GrpcClassifier, HttpClassifier};
use breaker_runtime::{CallError, Config, Registry, State};
use http::{Request, Response};
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

/// A loopback axum server: `GET /status/{code}` answers `code` and counts the hit.
struct HttpServer {
    base: String,
    hits: Arc<AtomicU64>,
}

impl HttpServer {
    async fn start() -> HttpServer {
        async fn status(Path(code): Path<u16>, AxumState(hits): AxumState<Arc<AtomicU64>>) -> StatusCode {
            hits.fetch_add(1, Ordering::SeqCst);
            StatusCode::from_u16(code).unwrap()
        }
        let hits = Arc::new(AtomicU64::new(0));
        let app = Router::new().route("/status/{code}", axum::routing::get(status)).with_state(hits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HttpServer { base, hits }
    }

    fn request(&self, code: u16) -> Request<()> {
        Request::get(format!("{}/status/{code}", self.base)).body(()).unwrap()
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

/// reqwest as a tower service: the status survives, the body is dropped.
fn http_client(
) -> impl Service<Request<()>, Response = Response<()>, Error = reqwest::Error, Future: Send> + Clone + Send {
    let client = reqwest::Client::new();
    tower::service_fn(move |req: Request<()>| {
        let client = client.clone();
        async move {
            let resp = client.get(req.uri().to_string()).send().await?;
            Ok::<_, reqwest::Error>(Response::builder().status(resp.status().as_u16()).body(()).unwrap())
        }
    })
}

/// `ready().call()`, the way every tower caller drives a service.
async fn send<S>(svc: &mut S, req: Request<()>) -> Result<u16, CallError<reqwest::Error>>
where
    S: Service<Request<()>, Response = Response<()>, Error = CallError<reqwest::Error>>,
{
    let resp = svc.ready().await?.call(req).await?;
    Ok(resp.status().as_u16())
}

/// Polls `poll_ready` once, with a waker that does nothing: what it returns right now.
fn poll_ready_now<S: Service<R>, R>(svc: &mut S) -> Poll<Result<(), S::Error>> {
    svc.poll_ready(&mut Context::from_waker(Waker::noop()))
}

/// Polls a future once: what it returns right now.
fn poll_now<F: Future>(fut: F) -> Poll<F::Output> {
    pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
}

fn registry(clock: &ManualClock, config: breaker_runtime::ConfigBuilder) -> Registry {
    Registry::builder().clock(clock.clone()).default_config(config).build().unwrap()
}

/// One layer, many services: two built by `layer()`, a clone of one, and one built after the
/// breaker opened. Failures through the first open the breaker for all of them, and the
/// registry sees the same breaker.
///
/// tower-resilience-circuitbreaker 0.14 got this wrong: a layer from `builder().build()`
/// creates a fresh circuit in every `layer()` call (state is shared only through
/// `build_with_handle()`), so services built per connection or per clone of a `Router` never
/// see each other's failures and the breaker never opens under real traffic.
#[tokio::test]
async fn every_service_a_layer_builds_shares_one_breaker() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let registry = registry(&clock, Config::builder().consecutive_failures(3).wait(Duration::from_secs(30)));
    let layer = CircuitBreakerLayer::named(&registry, "shared-http").classify(HttpClassifier::new());
    let mut a = layer.layer(http_client());
    let mut b = layer.layer(http_client());
    let mut a_clone = a.clone();

    assert_eq!(send(&mut b, server.request(200)).await.unwrap(), 200);
    assert_eq!(send(&mut a_clone, server.request(200)).await.unwrap(), 200);
    for _ in 0..3 {
        assert_eq!(send(&mut a, server.request(503)).await.unwrap(), 503, "a 503 is passed through as `Ok`");
    }
    assert_eq!(server.hits(), 5);
    assert_eq!(registry.breaker("shared-http").state(), State::Open, "the registry sees the layer's breaker");
    assert_eq!(registry.snapshots().len(), 1, "one breaker, not one per service");

    let mut built_after = layer.layer(http_client());
    let mut layer_clone_built = layer.clone().layer(http_client());
    for (who, svc) in [("b", &mut b), ("a's clone", &mut a_clone), ("a", &mut a)] {
        let err = send(svc, server.request(200)).await.unwrap_err();
        assert!(err.is_rejected(), "{who}: {err:?}");
    }
    for (who, svc) in [("built after", &mut built_after), ("built by a clone of the layer", &mut layer_clone_built)] {
        let err = send(svc, server.request(200)).await.unwrap_err();
        assert!(err.is_rejected(), "{who}: layer() never mints fresh state: {err:?}");
    }
    assert_eq!(server.hits(), 5, "no rejected call reached the server");
    assert_eq!(a.breaker().name().as_str(), "shared-http");

    registry.reset("shared-http");
    assert_eq!(send(&mut built_after, server.request(200)).await.unwrap(), 200, "a reset reaches every service");
}

/// An open breaker is reported by `call`, not by `poll_ready`: tower reads a `poll_ready`
/// error as "this service is broken, discard it", which is wrong for load shedding.
#[tokio::test]
async fn an_open_breaker_rejects_in_call_not_in_poll_ready() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let registry = registry(&clock, Config::builder().consecutive_failures(2).wait(Duration::from_secs(30)));
    let mut svc =
        CircuitBreakerLayer::named(&registry, "reject-in-call").classify(HttpClassifier::new()).layer(http_client());
    for _ in 0..2 {
        send(&mut svc, server.request(503)).await.unwrap();
    }
    assert_eq!(registry.breaker("reject-in-call").state(), State::Open);
    clock.advance(Duration::from_secs(10));
    let hits = server.hits();

    assert!(matches!(poll_ready_now(&mut svc), Poll::Ready(Ok(()))), "poll_ready stays ready while open");
    let fut = svc.call(server.request(200));
    let Poll::Ready(Err(CallError::Rejected(rejected))) = poll_now(fut) else {
        panic!("call returns a ready rejection")
    };
    assert_eq!(rejected.name(), "reject-in-call");
    assert_eq!(rejected.state(), State::Open);
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(20)), "30s wait, 10s of it gone");

    // Through `ServiceExt::oneshot`, the common path in tower stacks: the same.
    let err = svc.clone().oneshot(server.request(200)).await.unwrap_err();
    assert!(err.is_rejected(), "{err:?}");
    assert_eq!(server.hits(), hits, "rejected calls never reach the server");

    // tower lets a caller poll `poll_ready` again before calling (a balancer readies several
    // services and calls one): each poll decides afresh, so a rejection decided while open does
    // not outlive the wait and turn away the first probe.
    assert!(matches!(poll_ready_now(&mut svc), Poll::Ready(Ok(()))));
    clock.advance(Duration::from_secs(25));
    assert!(matches!(poll_ready_now(&mut svc), Poll::Ready(Ok(()))));
    assert_eq!(svc.breaker().snapshot().permits_in_use, 1, "the second poll took a probe");
    assert_eq!(svc.call(server.request(200)).await.unwrap().status(), 200, "the probe reached the server");
    assert_eq!(server.hits(), hits + 1);
}

/// A rejection is never kept from `poll_ready` to `call`: a service readied while open and
/// called after the wait sends the first probe.
#[tokio::test]
async fn a_service_readied_while_open_and_called_after_the_wait_sends_the_probe() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let registry = registry(&clock, Config::builder().consecutive_failures(1).wait(Duration::from_secs(5)));
    let mut svc =
        CircuitBreakerLayer::named(&registry, "late-call").classify(HttpClassifier::new()).layer(http_client());
    send(&mut svc, server.request(503)).await.unwrap();
    let breaker = registry.breaker("late-call");
    assert_eq!(breaker.state(), State::Open);
    let hits = server.hits();

    assert!(matches!(poll_ready_now(&mut svc), Poll::Ready(Ok(()))), "readied while open");
    assert_eq!(breaker.snapshot().permits_in_use, 0, "an open breaker gave no permit");
    clock.advance(Duration::from_secs(5));
    assert_eq!(svc.call(server.request(200)).await.unwrap().status(), 200, "the call is the probe");
    assert_eq!(server.hits(), hits + 1);
}

/// A half-open probe slot taken by `poll_ready` belongs to that service alone (not to its
/// clones) and is given back when the service is dropped without calling.
#[tokio::test]
async fn a_probe_taken_in_poll_ready_is_released_when_the_service_is_dropped() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    let registry = registry(
        &clock,
        Config::builder()
            .consecutive_failures(1)
            .wait(Duration::from_secs(5))
            .half_open_permits(1)
            .success_threshold(1),
    );
    let layer = CircuitBreakerLayer::named(&registry, "probe").classify(HttpClassifier::new());
    let breaker = registry.breaker("probe");
    let mut a = layer.layer(http_client());
    let mut b = layer.layer(http_client());
    let mut c = layer.layer(http_client());
    send(&mut a, server.request(503)).await.unwrap();
    assert_eq!(breaker.state(), State::Open);
    clock.advance(Duration::from_secs(6));
    let hits = server.hits();

    assert!(matches!(poll_ready_now(&mut a), Poll::Ready(Ok(()))));
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(breaker.snapshot().permits_in_use, 1, "a holds the only probe slot");

    let mut a_clone = a.clone();
    let err = send(&mut a_clone, server.request(200)).await.unwrap_err();
    assert!(err.is_rejected(), "a clone does not share a's probe: {err:?}");
    assert!(matches!(poll_ready_now(&mut b), Poll::Ready(Ok(()))), "b is ready...");
    let err = b.call(server.request(200)).await.unwrap_err();
    assert!(err.is_rejected(), "...and rejected at call: {err:?}");
    assert_eq!(server.hits(), hits);
    assert_eq!(breaker.snapshot().permits_in_use, 1);

    drop(a);
    assert_eq!(breaker.snapshot().permits_in_use, 0, "dropping a without calling gave the slot back");
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(send(&mut c, server.request(200)).await.unwrap(), 200, "c takes the probe");
    assert_eq!(breaker.state(), State::Closed, "c's successful probe closed the breaker");
    assert_eq!(server.hits(), hits + 1);
}

/// `HttpClassifier` on real responses: 503 and 429 are failures, 404 and 200 successes; a
/// stricter classifier counts 404; a refused connection is a failure.
#[tokio::test]
async fn the_http_classifier_reads_real_responses_and_transport_errors() {
    let server = HttpServer::start().await;
    let clock = ManualClock::new();
    // Large enough that nothing here opens a breaker.
    let config = Config::builder().consecutive_failures(100).count_window(100).minimum_calls(100);
    let registry = registry(&clock, config);

    let mut svc = CircuitBreakerLayer::named(&registry, "http").classify(HttpClassifier::new()).layer(http_client());
    let breaker = registry.breaker("http");
    let mut expected_failed = 0;
    for (code, failure) in [(200, false), (404, false), (503, true), (429, true), (404, false), (200, false)] {
        assert_eq!(send(&mut svc, server.request(code)).await.unwrap(), code);
        expected_failed += u32::from(failure);
        let snapshot = breaker.snapshot();
        assert_eq!(snapshot.failed_calls, expected_failed, "after a {code}: {snapshot:?}");
    }
    assert_eq!(breaker.snapshot().calls_in_window, 6);

    let mut strict = CircuitBreakerLayer::named(&registry, "http-strict")
        .classify(HttpClassifier::failure_if(|s| s >= 400))
        .layer(http_client());
    let breaker = registry.breaker("http-strict");
    send(&mut strict, server.request(200)).await.unwrap();
    assert_eq!(breaker.snapshot().failed_calls, 0);
    send(&mut strict, server.request(404)).await.unwrap();
    assert_eq!(breaker.snapshot().failed_calls, 1, "404 is a failure for the strict classifier");

    let closed_port = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut refused =
        CircuitBreakerLayer::named(&registry, "http-refused").classify(HttpClassifier::new()).layer(http_client());
    let req = Request::get(format!("http://127.0.0.1:{closed_port}/")).body(()).unwrap();
    let err = send(&mut refused, req).await.unwrap_err();
    let CallError::Failed(err) = err else { panic!("the transport error is passed through: {err:?}") };
    assert!(err.is_connect(), "{err:?}");
    let snapshot = registry.breaker("http-refused").snapshot();
    assert_eq!((snapshot.calls_in_window, snapshot.failed_calls), (1, 1), "a refused connection is a failure");
}

/// `GrpcClassifier` on a real tonic `Channel` against the tonic-health server: `NotFound` is
/// the caller's fault and a success; `Unavailable` is a failure and opens the breaker; then
/// RPCs fail fast with the layer's rejection as the status's source, without reaching the
/// server.
#[tokio::test]
async fn the_grpc_classifier_reads_real_statuses_and_an_open_breaker_shields_the_server() {
    let server = grpc::start_server().await.unwrap();
    let clock = ManualClock::new();
    let registry = registry(
        &clock,
        Config::builder().consecutive_failures(3).count_window(100).minimum_calls(100).wait(Duration::from_secs(30)),
    );
    let channel = Channel::from_shared(format!("http://{}", server.addr)).unwrap().connect().await.unwrap();
    let protected = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::named(&registry, "health").classify(GrpcClassifier::new()))
        .service(channel);
    let mut client = HealthClient::new(protected);
    let breaker = registry.breaker("health");
    let check = |service: &str| HealthCheckRequest { service: service.to_owned() };

    let ok = client.check(check("")).await.unwrap().into_inner();
    assert_eq!(ok.status(), ServingStatus::Serving);
    let status = client.check(check("no.such.Service")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let snapshot = breaker.snapshot();
    assert_eq!((snapshot.calls_in_window, snapshot.failed_calls), (2, 0), "NotFound is a success: {snapshot:?}");
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);

    server.failing.store(true, Ordering::SeqCst);
    for n in 1..=3 {
        let status = client.check(check("")).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(!grpc::rejected_by_breaker(&status), "the server answered this one");
        if n < 3 {
            assert_eq!(breaker.snapshot().consecutive_failures, n);
            assert_eq!(breaker.state(), State::Closed);
        }
    }
    assert_eq!(breaker.state(), State::Open, "three Unavailable in a row opened it");
    assert_eq!(breaker.snapshot().failed_calls, 3);
    let hits = server.hits.load(Ordering::SeqCst);
    assert_eq!(hits, 5);

    for _ in 0..10 {
        let status = client.check(check("")).await.unwrap_err();
        assert!(grpc::rejected_by_breaker(&status), "the status's source is the rejection: {status:?}");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), hits, "no rejected RPC reached the server");
}

/// A handler that panics, behind tower-http's `CatchPanicLayer` (outside the breaker): the
/// caller gets a 500, and each panic is a failure, so the breaker opens after three, as
/// `Breaker::call` does. The layer once saw the caught panic as a cancellation (the response
/// future is dropped after the unwind was caught, when the thread no longer panics): five
/// panics left it closed with no failure recorded.
#[tokio::test]
async fn a_panic_caught_by_catch_panic_layer_is_a_failure() {
    use tower_http::catch_panic::CatchPanicLayer;

    let clock = ManualClock::new();
    let registry = registry(&clock, Config::builder().consecutive_failures(3));
    let breaker = registry.breaker("panicky");
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let mut svc = ServiceBuilder::new()
        .layer(CatchPanicLayer::new())
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(tower::service_fn(move |_: Request<String>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if true {
                    panic!("the handler exploded");
                }
                Ok::<_, std::convert::Infallible>(Response::new(String::new()))
            }
        }));
    for n in 1..=3 {
        let response = svc.ready().await.unwrap().call(Request::new(String::new())).await.unwrap();
        assert_eq!(response.status(), 500, "the panic became a 500");
        assert_eq!(breaker.snapshot().consecutive_failures, n, "panic {n} is a failure");
    }
    assert_eq!(breaker.state(), State::Open);
    let rejected = svc.ready().await.unwrap().call(Request::new(String::new())).await;
    assert!(matches!(rejected, Err(CallError::Rejected(_))), "the next call is rejected");
    assert_eq!(calls.load(Ordering::SeqCst), 3, "the open breaker shields the handler");
}

/// The same when the inner service panics in `call` itself, before returning a future.
#[tokio::test]
async fn a_panic_in_the_inner_call_caught_by_catch_panic_layer_is_a_failure() {
    use tower_http::catch_panic::CatchPanicLayer;

    let clock = ManualClock::new();
    let registry = registry(&clock, Config::builder().consecutive_failures(3));
    let breaker = registry.breaker("panicky-call");
    let mut svc = ServiceBuilder::new()
        .layer(CatchPanicLayer::new())
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(tower::service_fn(
            |_: Request<String>| -> std::future::Ready<Result<Response<String>, std::convert::Infallible>> {
                panic!("the service exploded")
            },
        ));
    for _ in 0..3 {
        let response = svc.ready().await.unwrap().call(Request::new(String::new())).await.unwrap();
        assert_eq!(response.status(), 500);
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.snapshot().permits_in_use, 0);
}
