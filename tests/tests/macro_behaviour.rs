//! Runs `#[circuit_breaker]` functions against their own registries and checks what the
//! breaker, the fallback, the timeout and the retries do.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breaker_runtime::testing::ManualClock;
use breaker_runtime::{circuit_breaker, CallError, Registry, Rejected, State, TimedOut};

#[derive(Debug, thiserror::Error)]
enum ClientError {
    #[error("http {0}")]
    Http(u16),
    #[error(transparent)]
    Rejected(#[from] Rejected),
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
}

fn registry() -> Registry {
    Registry::builder().clock(ManualClock::new()).build().unwrap()
}

/// A client whose calls fail with the status it is told to, counting calls and fallbacks.
#[derive(Clone)]
struct Client {
    registry: Registry,
    status: Arc<AtomicU32>,
    calls: Arc<AtomicU32>,
    fallbacks: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Client {
    fn new() -> Self {
        Client {
            registry: registry(),
            status: Arc::new(AtomicU32::new(200)),
            calls: Arc::new(AtomicU32::new(0)),
            fallbacks: Arc::default(),
        }
    }

    fn fail_with(&self, status: u32) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    fn fallbacks(&self) -> Vec<String> {
        self.fallbacks.lock().unwrap().clone()
    }

    fn respond(&self, value: u32) -> Result<u32, ClientError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.status.load(Ordering::SeqCst) {
            200 => Ok(value),
            status => Err(ClientError::Http(u16::try_from(status).unwrap())),
        }
    }

    fn breaker(&self, name: &'static str) -> breaker_runtime::Breaker {
        self.registry.breaker(name)
    }

    #[circuit_breaker(name = "plain", registry = self.registry)]
    async fn plain(&self, value: u32) -> Result<u32, ClientError> {
        self.respond(value)
    }

    #[circuit_breaker(name = "two-failures", registry = self.registry, consecutive_failures = 2)]
    async fn two_failures(&self) -> Result<u32, ClientError> {
        self.respond(1)
    }

    #[circuit_breaker(name = "with-fallback", registry = self.registry, consecutive_failures = 2, fallback = Self::cached)]
    async fn with_fallback(&self, value: u32) -> Result<u32, ClientError> {
        self.respond(value)
    }

    #[circuit_breaker(
        name = "rejected-only",
        registry = self.registry,
        consecutive_failures = 2,
        fallback = Self::cached,
        fallback_on = "rejected"
    )]
    async fn rejected_only(&self, value: u32) -> Result<u32, ClientError> {
        self.respond(value)
    }

    async fn cached(&self, value: u32, error: CallError<ClientError>) -> Result<u32, ClientError> {
        self.fallbacks.lock().unwrap().push(error.kind().to_owned());
        Ok(value + 1000)
    }

    #[circuit_breaker(name = "slow", registry = self.registry, timeout = "10s")]
    async fn slow(&self, sleep: Duration) -> Result<u32, ClientError> {
        tokio::time::sleep(sleep).await;
        self.respond(1)
    }

    #[circuit_breaker(
        name = "slow-rejected-only",
        registry = self.registry,
        timeout = "10s",
        consecutive_failures = 1,
        fallback = Self::cached_after,
        fallback_on = "rejected"
    )]
    async fn slow_rejected_only(&self, sleep: Duration) -> Result<u32, ClientError> {
        tokio::time::sleep(sleep).await;
        self.respond(1)
    }

    async fn cached_after(&self, _sleep: Duration, error: CallError<ClientError>) -> Result<u32, ClientError> {
        self.fallbacks.lock().unwrap().push(error.kind().to_owned());
        Ok(1000)
    }

    #[circuit_breaker(name = "retried", registry = self.registry, consecutive_failures = 3, retry(attempts = 3, backoff = "100ms"))]
    async fn retried(&self, value: String) -> Result<String, ClientError> {
        self.respond(0).map(|_| value)
    }

    #[circuit_breaker(name = "classified", registry = self.registry, consecutive_failures = 2, failure_if = ClientError::is_server_error)]
    async fn classified(&self) -> Result<u32, ClientError> {
        self.respond(1)
    }

    #[circuit_breaker(name = "blocking", registry = self.registry, consecutive_failures = 1, fallback = Self::blocking_fallback)]
    fn blocking(&self, value: u32) -> Result<u32, ClientError> {
        self.respond(value)
    }

    fn blocking_fallback(&self, value: u32, error: CallError<ClientError>) -> Result<u32, ClientError> {
        self.fallbacks.lock().unwrap().push(error.kind().to_owned());
        Ok(value + 1000)
    }

    #[circuit_breaker(name = "shared", registry = self.registry, consecutive_failures = 1)]
    async fn shared_a(&self) -> Result<u32, ClientError> {
        self.respond(1)
    }

    #[circuit_breaker(name = "shared", registry = self.registry, consecutive_failures = 1)]
    async fn shared_b(&self) -> Result<u32, ClientError> {
        self.respond(2)
    }

    #[circuit_breaker(registry = self.registry)]
    async fn default_name(&self) -> Result<u32, ClientError> {
        self.respond(1)
    }

    #[circuit_breaker(name = "conflicting", registry = self.registry, consecutive_failures = 3)]
    async fn conflicting_a(&self) -> Result<u32, ClientError> {
        self.respond(1)
    }

    #[circuit_breaker(name = "conflicting", registry = self.registry, consecutive_failures = 7)]
    async fn conflicting_b(&self) -> Result<u32, ClientError> {
        self.respond(2)
    }
}

impl ClientError {
    fn is_server_error(&self) -> bool {
        matches!(self, ClientError::Http(s) if *s >= 500)
    }
}

#[tokio::test]
async fn opens_after_the_default_five_failures_and_rejects_into_the_error_type() {
    let client = Client::new();
    assert_eq!(client.plain(7).await.unwrap(), 7);
    client.fail_with(503);
    for _ in 0..5 {
        assert!(matches!(client.plain(1).await, Err(ClientError::Http(503))));
    }
    assert_eq!(client.breaker("plain").state(), State::Open);
    let calls = client.calls();
    let Err(ClientError::Rejected(rejected)) = client.plain(1).await else { panic!("expected a rejection") };
    assert_eq!(rejected.name(), "plain");
    assert_eq!(client.calls(), calls, "an open breaker does not call through");
}

#[tokio::test]
async fn attribute_configuration_is_applied() {
    let client = Client::new();
    client.fail_with(500);
    let _ = client.two_failures().await;
    assert_eq!(client.breaker("two-failures").state(), State::Closed);
    let _ = client.two_failures().await;
    assert_eq!(client.breaker("two-failures").state(), State::Open);
    assert_eq!(client.registry.effective_config("two-failures").unwrap().consecutive_failures(), Some(2));
}

#[tokio::test]
async fn fallback_any_sees_failures_and_rejections() {
    let client = Client::new();
    assert_eq!(client.with_fallback(1).await.unwrap(), 1);
    client.fail_with(500);
    assert_eq!(client.with_fallback(2).await.unwrap(), 1002);
    assert_eq!(client.with_fallback(3).await.unwrap(), 1003);
    assert_eq!(client.breaker("with-fallback").state(), State::Open);
    assert_eq!(client.with_fallback(4).await.unwrap(), 1004);
    assert_eq!(client.fallbacks(), ["failure", "failure", "rejected"]);
}

#[tokio::test]
async fn fallback_rejected_lets_failures_through() {
    let client = Client::new();
    client.fail_with(500);
    assert!(matches!(client.rejected_only(1).await, Err(ClientError::Http(500))));
    assert!(matches!(client.rejected_only(1).await, Err(ClientError::Http(500))));
    assert_eq!(client.rejected_only(5).await.unwrap(), 1005);
    assert_eq!(client.fallbacks(), ["rejected"]);
}

#[tokio::test(start_paused = true)]
async fn timeout_converts_into_the_error_type() {
    let client = Client::new();
    assert_eq!(client.slow(Duration::from_secs(1)).await.unwrap(), 1);
    let Err(ClientError::TimedOut(t)) = client.slow(Duration::from_secs(60)).await else {
        panic!("expected a timeout")
    };
    assert_eq!(t.after(), Duration::from_secs(10));
    assert_eq!(client.breaker("slow").snapshot().consecutive_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_only_fallback_leaves_timeouts_to_the_error_type() {
    let client = Client::new();
    let Err(ClientError::TimedOut(t)) = client.slow_rejected_only(Duration::from_secs(60)).await else {
        panic!("expected the timeout as the function's error")
    };
    assert_eq!(t.after(), Duration::from_secs(10));
    assert_eq!(client.breaker("slow-rejected-only").state(), State::Open);
    assert_eq!(client.slow_rejected_only(Duration::ZERO).await.unwrap(), 1000);
    assert_eq!(client.fallbacks(), ["rejected"]);
}

#[tokio::test(start_paused = true)]
async fn retry_retries_failures_and_stops_on_rejection() {
    let client = Client::new();
    assert_eq!(client.retried("a".to_owned()).await.unwrap(), "a");
    assert_eq!(client.calls(), 1);
    client.fail_with(500);
    assert!(matches!(client.retried("b".to_owned()).await, Err(ClientError::Http(500))));
    assert_eq!(client.calls(), 4, "three attempts");
    assert_eq!(client.breaker("retried").state(), State::Open);
    assert!(matches!(client.retried("c".to_owned()).await, Err(ClientError::Rejected(_))));
    assert_eq!(client.calls(), 4, "no attempt into an open breaker");
}

#[tokio::test]
async fn failure_if_classifies_errors() {
    let client = Client::new();
    client.fail_with(404);
    for _ in 0..5 {
        assert!(matches!(client.classified().await, Err(ClientError::Http(404))));
    }
    assert_eq!(client.breaker("classified").state(), State::Closed, "a 404 is not a failure");
    client.fail_with(503);
    let _ = client.classified().await;
    let _ = client.classified().await;
    assert_eq!(client.breaker("classified").state(), State::Open);
}

#[test]
fn blocking_functions_run_through_the_breaker() {
    let client = Client::new();
    assert_eq!(client.blocking(1).unwrap(), 1);
    client.fail_with(500);
    assert_eq!(client.blocking(2).unwrap(), 1002);
    assert_eq!(client.breaker("blocking").state(), State::Open);
    assert_eq!(client.blocking(3).unwrap(), 1003);
    assert_eq!(client.fallbacks(), ["failure", "rejected"]);
}

#[tokio::test]
async fn functions_with_the_same_name_share_one_breaker() {
    let client = Client::new();
    client.fail_with(500);
    let _ = client.shared_a().await;
    assert!(matches!(client.shared_b().await, Err(ClientError::Rejected(_))));
    assert_eq!(client.registry.breakers().len(), 1);
}

#[tokio::test]
async fn the_default_name_is_the_module_path_type_and_function() {
    let client = Client::new();
    client.default_name().await.unwrap();
    let names: Vec<String> = client.registry.breakers().iter().map(|b| b.name().to_string()).collect();
    assert_eq!(names, ["macro_behaviour::Client::default_name"]);
}

#[tokio::test]
async fn conflicting_attribute_configurations_are_reported() {
    let client = Client::new();
    client.conflicting_a().await.unwrap();
    client.conflicting_b().await.unwrap();
    let conflicts = client.registry.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert!(conflicts[0].contains("circuit breaker `conflicting`"), "{}", conflicts[0]);
    assert!(conflicts[0].contains("macro_behaviour::conflicting_b"), "{}", conflicts[0]);
    assert_eq!(client.registry.effective_config("conflicting").unwrap().consecutive_failures(), Some(3));
}

/// `&mut self`, `self` and `self: Arc<Self>` methods with fallbacks.
struct Counter {
    registry: Registry,
    hits: u32,
    fail: bool,
}

impl Clone for Counter {
    fn clone(&self) -> Self {
        Counter { registry: self.registry.clone(), hits: self.hits, fail: self.fail }
    }
}

impl Counter {
    #[circuit_breaker(name = "counter", registry = self.registry, fallback = Self::hit_fallback)]
    async fn hit(&mut self, by: u32) -> Result<u32, ClientError> {
        self.hits += by;
        if self.fail {
            return Err(ClientError::Http(500));
        }
        Ok(self.hits)
    }

    async fn hit_fallback(&mut self, by: u32, _error: CallError<ClientError>) -> Result<u32, ClientError> {
        self.hits += by * 100;
        Ok(self.hits)
    }

    #[circuit_breaker(name = "counter-owned", registry = self.registry, fallback = Self::into_fallback)]
    async fn into_hits(self) -> Result<u32, ClientError> {
        if self.fail {
            return Err(ClientError::Http(500));
        }
        Ok(self.hits)
    }

    async fn into_fallback(self, _error: CallError<ClientError>) -> Result<u32, ClientError> {
        Ok(self.hits + 1000)
    }

    #[circuit_breaker(name = "counter-arc", registry = self.registry, fallback = Self::arc_fallback)]
    async fn arc_hits(self: Arc<Self>) -> Result<u32, ClientError> {
        if self.fail {
            return Err(ClientError::Http(500));
        }
        Ok(self.hits)
    }

    async fn arc_fallback(self: Arc<Self>, _error: CallError<ClientError>) -> Result<u32, ClientError> {
        Ok(self.hits + 2000)
    }
}

#[tokio::test]
async fn receivers_reach_the_fallback() {
    let mut counter = Counter { registry: registry(), hits: 0, fail: false };
    assert_eq!(counter.hit(1).await.unwrap(), 1);
    counter.fail = true;
    assert_eq!(counter.hit(2).await.unwrap(), 203, "the body's changes are kept and the fallback adds its own");
    assert_eq!(counter.hits, 203);
    assert_eq!(counter.clone().into_hits().await.unwrap(), 1203);
    assert_eq!(Arc::new(counter.clone()).arc_hits().await.unwrap(), 2203);
    counter.fail = false;
    assert_eq!(counter.clone().into_hits().await.unwrap(), 203);
    assert_eq!(Arc::new(counter).arc_hits().await.unwrap(), 203);
}

/// Functions that panic, for the attribute's side of "a panic is a failure on every path".
struct Exploding {
    registry: Registry,
}

fn explodes(_: &ClientError) -> bool {
    panic!("a classifier bug")
}

/// Panics; called rather than written as the body, since a body that is only `panic!()` trips
/// `clippy::diverging_sub_expression` inside the expansion (a macro issue, reported separately).
fn dependency_exploded() -> ClientError {
    panic!("the dependency exploded")
}

impl Exploding {
    #[circuit_breaker(name = "exploding-async", registry = self.registry, consecutive_failures = 3)]
    async fn fetch(&self) -> Result<u32, ClientError> {
        Err(dependency_exploded())
    }

    #[circuit_breaker(name = "exploding-blocking", registry = self.registry, consecutive_failures = 3)]
    fn fetch_blocking(&self) -> Result<u32, ClientError> {
        Err(dependency_exploded())
    }

    #[circuit_breaker(name = "exploding-classifier", registry = self.registry, consecutive_failures = 3, failure_if = explodes)]
    async fn classified(&self) -> Result<u32, ClientError> {
        Err(ClientError::Http(503))
    }
}

/// Three panics open each breaker, as three failures would, even when the panic is caught
/// around each poll and the future dropped afterwards (what panic-catching middleware does).
#[test]
fn a_panic_in_an_annotated_function_or_its_classifier_is_a_failure() {
    use std::future::Future;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::task::{Context, Waker};

    let exploding = Exploding { registry: registry() };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for _ in 0..3 {
        let mut call = Box::pin(exploding.fetch());
        catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(&mut Context::from_waker(Waker::noop())))).unwrap_err();
        drop(call);
        catch_unwind(AssertUnwindSafe(|| exploding.fetch_blocking())).unwrap_err();
        let mut call = Box::pin(exploding.classified());
        catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(&mut Context::from_waker(Waker::noop())))).unwrap_err();
        drop(call);
    }
    std::panic::set_hook(hook);
    for name in ["exploding-async", "exploding-blocking", "exploding-classifier"] {
        assert_eq!(exploding.registry.breaker(name).state(), State::Open, "{name}");
    }
}
