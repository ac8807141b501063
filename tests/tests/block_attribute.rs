//! `#[circuit_breaker]` on a whole `impl` block: which methods it protects, which breaker each
//! one goes through, and how a method's own `#[circuit_breaker(...)]` changes that.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use breaker_runtime::testing::ManualClock;
use breaker_runtime::{circuit_breaker, CallError, Registry, Rejected, State};

#[derive(Debug, PartialEq)]
enum ClientError {
    Http(u16),
    Rejected,
}

impl From<Rejected> for ClientError {
    fn from(_: Rejected) -> Self {
        ClientError::Rejected
    }
}

/// A result type under another name: the block attribute does not recognise it by itself.
type Response<T> = Result<T, ClientError>;

fn registry() -> Registry {
    Registry::builder().clock(ManualClock::new()).build().unwrap()
}

/// A client whose calls fail while `failing` is set, counting the calls that ran.
#[derive(Clone)]
struct Bcs {
    registry: Registry,
    failing: Arc<AtomicU32>,
    calls: Arc<AtomicU32>,
}

impl Bcs {
    fn new() -> Self {
        Bcs { registry: registry(), failing: Arc::default(), calls: Arc::default() }
    }

    fn fail(&self, failing: bool) {
        self.failing.store(u32::from(failing), Ordering::SeqCst);
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    fn respond(&self, value: u32) -> Result<u32, ClientError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) == 1 {
            Err(ClientError::Http(503))
        } else {
            Ok(value)
        }
    }

    fn state(&self, name: &str) -> Option<State> {
        self.registry.get(name).map(|b| b.state())
    }

    async fn cached(&self, value: u32, _: CallError<ClientError>) -> Result<u32, ClientError> {
        Ok(value + 1000)
    }
}

#[circuit_breaker(name = "bcs", registry = self.registry, consecutive_failures = 2)]
impl Bcs {
    async fn essays(&self, value: u32) -> Result<u32, ClientError> {
        self.respond(value)
    }

    fn blocking(&self, value: u32) -> Result<u32, ClientError> {
        self.respond(value)
    }

    #[circuit_breaker(skip)]
    async fn unprotected(&self, value: u32) -> Result<u32, ClientError> {
        self.respond(value)
    }

    #[circuit_breaker(fallback = Self::cached)]
    async fn with_fallback(&self, value: u32) -> Result<u32, ClientError> {
        self.respond(value)
    }

    /// Not a `Result`: left alone.
    fn describe(&self) -> String {
        format!("{} calls", self.calls())
    }

    /// A `Result` under another name, unmarked: left alone.
    async fn aliased(&self, value: u32) -> Response<u32> {
        self.respond(value)
    }

    /// The same, marked: protected.
    #[circuit_breaker]
    async fn aliased_marked(&self, value: u32) -> Response<u32> {
        self.respond(value)
    }

    #[circuit_breaker(name = "bcs-own", consecutive_failures = 1)]
    async fn own_breaker(&self, value: u32) -> Result<u32, ClientError> {
        self.respond(value)
    }
}

#[tokio::test]
async fn every_result_method_shares_the_one_breaker() {
    let client = Bcs::new();
    assert_eq!(client.essays(1).await, Ok(1));
    client.fail(true);
    // One failure through each method: the shared breaker counts both.
    assert_eq!(client.essays(1).await, Err(ClientError::Http(503)));
    assert_eq!(client.blocking(1), Err(ClientError::Http(503)));
    assert_eq!(client.state("bcs"), Some(State::Open));
    client.fail(false);
    let before = client.calls();
    assert_eq!(client.essays(1).await, Err(ClientError::Rejected));
    assert_eq!(client.blocking(1), Err(ClientError::Rejected));
    assert_eq!(client.aliased_marked(1).await, Err(ClientError::Rejected));
    assert_eq!(client.calls(), before, "rejected calls do not run");
    // The method's own fallback serves the rejection.
    assert_eq!(client.with_fallback(7).await, Ok(1007));
    // Skipped, unmarked non-`Result` and unrecognised-alias methods run as written.
    assert_eq!(client.unprotected(2).await, Ok(2));
    assert_eq!(client.aliased(3).await, Ok(3));
    assert_eq!(client.describe(), format!("{} calls", before + 2));
    // A method with its own name has its own breaker, still closed.
    assert_eq!(client.own_breaker(4).await, Ok(4));
    assert_eq!(client.state("bcs-own"), Some(State::Closed));
    let mut names: Vec<String> = client.registry.breakers().iter().map(|b| b.name().to_string()).collect();
    names.sort();
    assert_eq!(names, ["bcs", "bcs-own"]);
    assert!(client.registry.conflicts().is_empty(), "{:?}", client.registry.conflicts());
}

#[derive(Clone)]
struct PerMethod(Bcs);

#[circuit_breaker(name = "per", per_method, registry = self.0.registry, consecutive_failures = 1)]
impl PerMethod {
    async fn first(&self) -> Result<u32, ClientError> {
        self.0.respond(1)
    }

    fn second(&self) -> Result<u32, ClientError> {
        self.0.respond(2)
    }

    #[circuit_breaker(consecutive_failures = 3)]
    async fn third(&self) -> Result<u32, ClientError> {
        self.0.respond(3)
    }

    async fn r#type(&self) -> Result<u32, ClientError> {
        self.0.respond(4)
    }
}

#[tokio::test]
async fn per_method_gives_each_method_its_own_breaker_named_after_it() {
    let client = PerMethod(Bcs::new());
    client.0.fail(true);
    assert_eq!(client.first().await, Err(ClientError::Http(503)));
    assert_eq!(client.0.state("per::first"), Some(State::Open));
    // `second` has its own breaker, untouched by `first`'s failure.
    assert_eq!(client.second(), Err(ClientError::Http(503)));
    assert_eq!(client.0.state("per::second"), Some(State::Open));
    // The method's configuration key replaces the block's for its breaker.
    assert_eq!(client.third().await, Err(ClientError::Http(503)));
    assert_eq!(client.0.state("per::third"), Some(State::Closed));
    assert_eq!(client.0.registry.effective_config("per::third").unwrap().consecutive_failures(), Some(3));
    assert_eq!(client.0.registry.effective_config("per::first").unwrap().consecutive_failures(), Some(1));
    assert_eq!(client.r#type().await, Err(ClientError::Http(503)));
    assert_eq!(client.0.state("per::type"), Some(State::Open));
}

#[derive(Clone)]
struct Unnamed(Bcs);

#[circuit_breaker(registry = self.0.registry, consecutive_failures = 1)]
impl Unnamed {
    async fn first(&self) -> Result<u32, ClientError> {
        self.0.respond(1)
    }

    async fn second(&self) -> Result<u32, ClientError> {
        self.0.respond(2)
    }
}

#[async_trait::async_trait]
trait Fetch {
    async fn fetch(&self, id: u32) -> Result<u32, ClientError>;
    async fn fetch_twice(&self, id: u32) -> Result<u32, ClientError>;
    fn local(&self) -> u32;
}

#[async_trait::async_trait]
#[circuit_breaker(registry = self.0.registry, consecutive_failures = 1)]
impl Fetch for Unnamed {
    async fn fetch(&self, id: u32) -> Result<u32, ClientError> {
        self.0.respond(id)
    }

    #[circuit_breaker(fallback = Self::fetch_fallback)]
    async fn fetch_twice(&self, id: u32) -> Result<u32, ClientError> {
        self.0.respond(id * 2)
    }

    fn local(&self) -> u32 {
        7
    }
}

impl Unnamed {
    async fn fetch_fallback(&self, id: u32, _: CallError<ClientError>) -> Result<u32, ClientError> {
        Ok(id + 1000)
    }
}

#[tokio::test]
async fn without_a_name_the_block_shares_a_breaker_named_after_its_type() {
    let client = Unnamed(Bcs::new());
    assert_eq!(client.first().await, Ok(1));
    assert_eq!(client.second().await, Ok(2));
    assert_eq!(client.fetch(3).await, Ok(3));
    assert_eq!(client.local(), 7);
    let mut names: Vec<String> = client.0.registry.breakers().iter().map(|b| b.name().to_string()).collect();
    names.sort();
    assert_eq!(names, ["block_attribute::<Unnamed as Fetch>", "block_attribute::Unnamed"]);
    // Two sites sharing a default name on purpose is not a conflict.
    assert!(client.0.registry.conflicts().is_empty(), "{:?}", client.0.registry.conflicts());

    client.0.fail(true);
    assert_eq!(client.second().await, Err(ClientError::Http(503)));
    assert_eq!(client.first().await, Err(ClientError::Rejected));
    // The `#[async_trait]` impl's methods share their own breaker.
    assert_eq!(client.fetch(3).await, Err(ClientError::Http(503)));
    assert_eq!(client.0.state("block_attribute::<Unnamed as Fetch>"), Some(State::Open));
    client.0.fail(false);
    assert_eq!(client.fetch(3).await, Err(ClientError::Rejected));
    assert_eq!(client.fetch_twice(3).await, Ok(1003));
}

#[derive(Clone)]
struct Retried(Bcs);

#[circuit_breaker(name = "retried", registry = self.0.registry, consecutive_failures = 5, retry(attempts = 3, backoff = "1ms"))]
impl Retried {
    async fn flaky(&self) -> Result<u32, ClientError> {
        let result = self.0.respond(1);
        self.0.fail(false);
        result
    }

    #[circuit_breaker(retry(attempts = 1, backoff = "1ms"))]
    async fn once(&self) -> Result<u32, ClientError> {
        self.0.respond(2)
    }
}

#[tokio::test(start_paused = true)]
async fn block_retry_applies_to_each_method_unless_the_method_sets_its_own() {
    let client = Retried(Bcs::new());
    client.0.fail(true);
    assert_eq!(client.flaky().await, Ok(1));
    assert_eq!(client.0.calls(), 2, "one failed attempt, one retried");
    client.0.fail(true);
    assert_eq!(client.once().await, Err(ClientError::Http(503)));
    assert_eq!(client.0.calls(), 3, "the method's own `retry` replaces the block's");
}

/// A second block of the same type: its default name is the first block's.
#[circuit_breaker(registry = self.0.registry)]
impl Unnamed {
    async fn third(&self) -> Result<u32, ClientError> {
        self.0.respond(3)
    }
}

#[tokio::test]
async fn two_blocks_sharing_a_default_name_are_reported_with_their_sites() {
    let client = Unnamed(Bcs::new());
    assert_eq!(client.first().await, Ok(1));
    assert_eq!(client.third().await, Ok(3));
    let conflicts = client.0.registry.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert!(conflicts[0].contains("`block_attribute::impl Unnamed (tests/tests/block_attribute.rs:"), "{conflicts:?}");
}

#[derive(Clone)]
struct Sites(Bcs);

#[circuit_breaker(registry = self.0.registry)]
#[rustfmt::skip] // each method's `line!()` stays on the line of its name
impl Sites {
    // Each method returns its own line.
    #[circuit_breaker(name = "configured", consecutive_failures = 1)]
    async fn first(&self) -> Result<u32, ClientError> { Ok(line!()) }

    #[circuit_breaker(name = "configured", consecutive_failures = 2)]
    async fn second(&self) -> Result<u32, ClientError> { Ok(line!()) }
}

#[tokio::test]
async fn each_method_site_names_the_method_and_its_line() {
    let client = Sites(Bcs::new());
    let first = client.first().await.unwrap();
    let second = client.second().await.unwrap();
    let conflicts = client.0.registry.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert!(
        conflicts[0].contains(&format!("block_attribute::first (tests/tests/block_attribute.rs:{first})")),
        "{conflicts:?}"
    );
    assert!(
        conflicts[0].contains(&format!("block_attribute::second (tests/tests/block_attribute.rs:{second})")),
        "{conflicts:?}"
    );
}
