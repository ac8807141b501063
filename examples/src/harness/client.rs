//! The four clients compared: no breaker, the `#[circuit_breaker]` attribute, our tower layer,
//! and tower-resilience's circuit breaker. All make the same HTTP call with the same timeout;
//! every breaker variant answers from a fallback when its call fails or is rejected.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::sources::SourceErrors;
use breaker_runtime::tower::CircuitBreakerLayer;
use breaker_runtime::{circuit_breaker, CallError, Event, Registry, State};
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt};
use tower_resilience_circuitbreaker as peer;

use super::scenario::{Scenario, Tuning};
use crate::flaky::Post;
use crate::lock;

/// Which client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Calls the dependency directly, with the timeout.
    NoBreaker,
    /// A method with `#[circuit_breaker(..)]` and a fallback.
    Attribute,
    /// `breaker_runtime::tower::CircuitBreakerLayer` over a `tower::service_fn` doing the call.
    TowerLayer,
    /// `tower_resilience_circuitbreaker::CircuitBreakerLayer`, configured like ours.
    Peer,
}

impl Variant {
    /// Every variant, in report order.
    pub const ALL: [Variant; 4] = [Variant::NoBreaker, Variant::Attribute, Variant::TowerLayer, Variant::Peer];

    /// A label for tables and pictures.
    pub fn label(self) -> &'static str {
        match self {
            Variant::NoBreaker => "no breaker",
            Variant::Attribute => "#[circuit_breaker]",
            Variant::TowerLayer => "CircuitBreakerLayer (tower)",
            Variant::Peer => "tower-resilience 0.14",
        }
    }

    /// True when a breaker guards the calls.
    pub fn has_breaker(self) -> bool {
        self != Variant::NoBreaker
    }
}

/// What the caller got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// A fresh answer from the dependency.
    Fresh,
    /// The fallback answered: the breaker rejected the call.
    FallbackRejected,
    /// The fallback answered: the call failed or timed out.
    FallbackFailed,
    /// An error reached the caller (only without a breaker).
    Error,
}

/// A breaker state, as drawn and measured (the peer has only these three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Calls flow.
    Closed,
    /// Calls are rejected.
    Open,
    /// Probes decide.
    HalfOpen,
}

impl From<State> for Phase {
    /// Open and forced open draw as open; disabled and metrics-only admit every call, as closed.
    fn from(state: State) -> Phase {
        match state {
            State::HalfOpen => Phase::HalfOpen,
            s if s.is_open() => Phase::Open,
            _ => Phase::Closed,
        }
    }
}

/// A registry whose breakers default to `tuning` and whose every transition is logged to
/// `transitions` as a [`Phase`].
pub fn observed_registry(tuning: Tuning, transitions: &Log<Phase>) -> Result<Registry, SourceErrors> {
    let registry = Registry::builder().default_config(tuning.config()).build()?;
    let log = transitions.clone();
    registry.on_event(move |event| {
        if let Event::Transition(t) = event {
            log.push(t.to.into());
        }
    });
    Ok(registry)
}

/// A timestamped log, in seconds since the scenario started.
#[derive(Debug, Clone)]
pub struct Log<T> {
    started: Instant,
    entries: Arc<Mutex<Vec<(f64, T)>>>,
}

impl<T: Clone> Log<T> {
    /// An empty log counting from `started`.
    pub fn new(started: Instant) -> Self {
        Log { started, entries: Arc::default() }
    }

    /// Appends `value` now.
    pub fn push(&self, value: T) {
        let at = self.started.elapsed().as_secs_f64();
        lock(&self.entries).push((at, value));
    }

    /// Everything logged so far, in time order.
    pub fn entries(&self) -> Vec<(f64, T)> {
        let mut entries = lock(&self.entries).clone();
        entries.sort_by(|a, b| a.0.total_cmp(&b.0));
        entries
    }
}

impl Log<()> {
    /// When each entry was logged, in time order.
    pub fn times(&self) -> Vec<f64> {
        self.entries().into_iter().map(|(t, ())| t).collect()
    }
}

/// Why a call to the dependency failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Transport error or error status.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The per-call timeout ran out.
    #[error("timed out")]
    Timeout,
}

/// The dependency as every client sees it: its address, a connection pool, and a log of every
/// request sent to it (refused connections included).
#[derive(Debug)]
pub struct Target {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
    /// When each request was sent.
    pub attempts: Log<()>,
}

impl Target {
    /// A target at `base` (`http://127.0.0.1:port`).
    pub fn new(base: String, timeout: Duration, started: Instant) -> Self {
        Target { http: reqwest::Client::new(), base, timeout, attempts: Log::new(started) }
    }

    /// One request, with no timeout of its own.
    async fn fetch(&self, user: u64) -> Result<Vec<Post>, FetchError> {
        self.attempts.push(());
        let response = self.http.get(format!("{}/posts/{user}", self.base)).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// One request that gives up after the scenario's timeout.
    async fn fetch_within_timeout(&self, user: u64) -> Result<Vec<Post>, FetchError> {
        match tokio::time::timeout(self.timeout, self.fetch(user)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }
}

/// The client with `#[circuit_breaker]` on its method. Its breaker lives in the scenario's own
/// registry, so every scenario starts fresh; the attribute's settings are the documented
/// default for the name and the scenario's [`Tuning`], set in code, overrides
/// them where they differ.
#[derive(Debug, Clone)]
pub struct AttributeClient {
    target: Arc<Target>,
    registry: Registry,
    /// Call the 2 s site ([`posts_quick_timeout`](Self::posts_quick_timeout)) rather than the
    /// 10 s one: set when the scenario's timeout is under 10 s.
    quick_timeout: bool,
}

impl AttributeClient {
    /// The breaker's name.
    pub const BREAKER: &'static str = "attribute";

    /// The user's posts, with a 10 s timeout.
    #[circuit_breaker(
        name = "attribute",
        registry = self.registry,
        fallback = Self::fallback,
        timeout = "10s",
        failure_rate = 0.5,
        window = "20 calls",
        minimum_calls = 10,
        wait = "2s"
    )]
    async fn posts(&self, user: u64) -> Result<Served, FetchError> {
        self.target.fetch(user).await.map(|_| Served::Fresh)
    }

    /// The same with a 2 s timeout (the short mode's hang scenario).
    #[circuit_breaker(
        name = "attribute",
        registry = self.registry,
        fallback = Self::fallback,
        timeout = "2s",
        failure_rate = 0.5,
        window = "20 calls",
        minimum_calls = 10,
        wait = "2s"
    )]
    async fn posts_quick_timeout(&self, user: u64) -> Result<Served, FetchError> {
        self.target.fetch(user).await.map(|_| Served::Fresh)
    }

    /// The user's posts through the site matching the scenario's timeout.
    async fn get(&self, user: u64) -> Result<Served, FetchError> {
        if self.quick_timeout {
            self.posts_quick_timeout(user).await
        } else {
            self.posts(user).await
        }
    }

    async fn fallback(&self, _user: u64, error: CallError<FetchError>) -> Result<Served, FetchError> {
        Ok(if error.is_rejected() { Served::FallbackRejected } else { Served::FallbackFailed })
    }
}

type FetchService = BoxCloneService<u64, (), FetchError>;

fn fetch_service(target: Arc<Target>) -> FetchService {
    BoxCloneService::new(tower::service_fn(move |user: u64| {
        let target = target.clone();
        async move { target.fetch_within_timeout(user).await.map(|_| ()) }
    }))
}

/// A client of one variant, cheap to clone (one clone per call).
#[derive(Clone)]
pub enum Client {
    /// See [`Variant::NoBreaker`].
    NoBreaker(Arc<Target>),
    /// See [`Variant::Attribute`].
    Attribute(AttributeClient),
    /// See [`Variant::TowerLayer`].
    TowerLayer(breaker_runtime::tower::CircuitBreakerService<FetchService>),
    /// See [`Variant::Peer`].
    Peer(peer::CircuitBreaker<FetchService, peer::DefaultClassifier>),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Client").field(&self.variant()).finish()
    }
}

/// A client together with what observes it.
#[derive(Debug)]
pub struct Instrumented {
    /// The client.
    pub client: Client,
    /// Its target (for the attempt log).
    pub target: Arc<Target>,
    /// Its breaker's state changes.
    pub transitions: Log<Phase>,
    /// Our breaker (none for the peer and no breaker).
    pub breaker: Option<breaker_runtime::Breaker>,
}

impl Client {
    /// Builds the `variant` client for `scenario` calling `base`.
    pub fn build(variant: Variant, scenario: &Scenario, base: String, started: Instant) -> Instrumented {
        let target = Arc::new(Target::new(base, scenario.timeout, started));
        let transitions = Log::new(started);
        let ours = || observed_registry(scenario.tuning, &transitions).expect("the scenario's tuning is valid");
        let (client, breaker) = match variant {
            Variant::NoBreaker => (Client::NoBreaker(target.clone()), None),
            Variant::Attribute => {
                let registry = ours();
                registry
                    .configure(AttributeClient::BREAKER, scenario.tuning.config())
                    .expect("the scenario's tuning is valid");
                let breaker = registry.breaker(AttributeClient::BREAKER);
                let quick_timeout = scenario.timeout < Duration::from_secs(10);
                let client = AttributeClient { target: target.clone(), registry, quick_timeout };
                (Client::Attribute(client), Some(breaker))
            }
            Variant::TowerLayer => {
                let registry = ours();
                let breaker = registry.breaker("tower");
                let service = CircuitBreakerLayer::new(breaker.clone()).layer(fetch_service(target.clone()));
                (Client::TowerLayer(service), Some(breaker))
            }
            Variant::Peer => {
                let t = scenario.tuning;
                let log = transitions.clone();
                let layer = peer::CircuitBreakerLayer::builder()
                    .name("peer")
                    .failure_rate_threshold(t.failure_rate)
                    .sliding_window_size(t.window as usize)
                    .minimum_number_of_calls(t.minimum_calls as usize)
                    .wait_duration_in_open(t.wait)
                    .permitted_calls_in_half_open(t.half_open_permits as usize)
                    .slow_call_duration_threshold(t.slow_call)
                    .slow_call_rate_threshold(t.slow_call_rate)
                    .on_state_transition(move |_, to| {
                        log.push(match to {
                            peer::CircuitState::Closed => Phase::Closed,
                            peer::CircuitState::Open => Phase::Open,
                            peer::CircuitState::HalfOpen => Phase::HalfOpen,
                        })
                    })
                    .build()
                    .expect("the scenario's tuning is valid for tower-resilience");
                (Client::Peer(layer.layer_fn(fetch_service(target.clone()))), None)
            }
        };
        Instrumented { client, target, transitions, breaker }
    }

    /// Which variant this is.
    pub fn variant(&self) -> Variant {
        match self {
            Client::NoBreaker(_) => Variant::NoBreaker,
            Client::Attribute(_) => Variant::Attribute,
            Client::TowerLayer(_) => Variant::TowerLayer,
            Client::Peer(_) => Variant::Peer,
        }
    }

    /// One call, as the caller sees it.
    pub async fn call(self, user: u64) -> Served {
        let fallback = |rejected: bool| if rejected { Served::FallbackRejected } else { Served::FallbackFailed };
        match self {
            Client::NoBreaker(target) => match target.fetch_within_timeout(user).await {
                Ok(_) => Served::Fresh,
                Err(_) => Served::Error,
            },
            Client::Attribute(client) => client.get(user).await.unwrap_or(Served::Error),
            Client::TowerLayer(service) => match service.oneshot(user).await {
                Ok(()) => Served::Fresh,
                Err(e) => fallback(e.is_rejected()),
            },
            Client::Peer(service) => match service.oneshot(user).await {
                Ok(()) => Served::Fresh,
                Err(e) => fallback(e.is_circuit_open()),
            },
        }
    }
}
