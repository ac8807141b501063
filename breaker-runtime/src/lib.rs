//! Declarative circuit breakers for async Rust services.
//!
//! `breaker-runtime` is the one dependency users need: a [`Registry`] of named, per-endpoint
//! breakers; async and blocking execution with timeouts, classification, fallbacks and
//! retries; configuration from code, TOML files and the environment; metrics through the
//! [`metrics`](https://docs.rs/metrics) facade; `tracing` spans and events; health reports;
//! a tower layer; and the [`circuit_breaker`] attribute that puts it all on a method.
//!
//! # A call through a breaker
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use breaker_runtime::{CallError, Config, Registry, State};
//!
//! let registry = Registry::new();
//! registry.configure("content-service", Config::builder().consecutive_failures(2)).unwrap();
//! let content = registry.breaker("content-service");
//!
//! for _ in 0..2 {
//!     let r: Result<(), CallError<&str>> = content.call(async { Err("502 bad gateway") }).await;
//!     assert!(matches!(r, Err(CallError::Failed(_))));
//! }
//! assert_eq!(content.state(), State::Open);
//!
//! // Now calls fail fast, without touching the dependency.
//! let r: Result<(), CallError<&str>> = content.call(async { unreachable!() }).await;
//! let Err(CallError::Rejected(rejected)) = r else { panic!() };
//! assert_eq!(rejected.name(), "content-service");
//! assert!(rejected.retry_after().unwrap() <= Duration::from_secs(60));
//! # });
//! ```
//!
//! # The attribute
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use breaker_runtime::{circuit_breaker, CallError, Registry, Rejected, State};
//!
//! #[derive(Debug, thiserror::Error)]
//! enum ClientError {
//!     #[error("upstream answered {0}")]
//!     Status(u16),
//!     #[error(transparent)]
//!     Rejected(#[from] Rejected),
//! }
//!
//! struct ContentClient {
//!     up: bool,
//!     cache: Mutex<HashMap<u64, Vec<String>>>,
//! }
//!
//! impl ContentClient {
//!     #[circuit_breaker(name = "content-service", fallback = Self::cached_posts, consecutive_failures = 3)]
//!     async fn posts(&self, user: u64) -> Result<Vec<String>, ClientError> {
//!         if !self.up {
//!             return Err(ClientError::Status(502));
//!         }
//!         let posts = vec![format!("post by {user}")];
//!         self.cache.lock().unwrap().insert(user, posts.clone());
//!         Ok(posts)
//!     }
//!
//!     async fn cached_posts(&self, user: u64, _err: CallError<ClientError>) -> Result<Vec<String>, ClientError> {
//!         Ok(self.cache.lock().unwrap().get(&user).cloned().unwrap_or_default())
//!     }
//! }
//!
//! let mut client = ContentClient { up: true, cache: Mutex::default() };
//! assert_eq!(client.posts(7).await.unwrap(), ["post by 7"]);
//! client.up = false;
//! for _ in 0..3 {
//!     // Failures are answered from the cache...
//!     assert_eq!(client.posts(7).await.unwrap(), ["post by 7"]);
//! }
//! // ...and after three in a row the breaker is open: calls no longer reach the dependency.
//! assert_eq!(Registry::global().get("content-service").unwrap().state(), State::Open);
//! # });
//! ```
//!
//! # Observability
//!
//! - Metrics: see [`metrics`] for every name and label.
//! - Spans: `circuit_breaker_check` (trace, around admission), `primary_request` (debug,
//!   around a call), `probe_attempt` (info, around a half-open probe), `fallback_execution`
//!   (info, around a fallback); each with the field `breaker`.
//! - Events: state transitions with `from_state`, `to_state`, `reason`, `value`, `threshold`
//!   (warn when opening, info otherwise); rejections at debug.
//! - [`Registry::on_event`] and [`Registry::subscribe`] deliver [`Event`]s to your alerting.
//! - [`Registry::health`] returns a [`HealthReport`] for a readiness endpoint.

#![forbid(unsafe_code)]
// On docs.rs, mark each feature-gated item with the feature that enables it.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
mod call_clock;
mod capacity;
mod classify;
mod degradation;
mod error;
mod events;
mod fallback;
mod health;
mod layers;
pub mod metrics;
mod queue;
mod registry;
mod reload;
mod retry;
pub mod sources;
mod sync;

#[doc(hidden)]
pub mod __private {
    //! Not public API: used by the code `#[circuit_breaker]` generates.
    pub use crate::private::*;
}
mod private;

/// Recipes for the first day: the global registry from a file and the environment, a
/// Prometheus recorder with histogram buckets, bounded breaker names for untrusted input, and
/// readable transition logs.
#[doc = include_str!("recipes.md")]
pub mod recipes {}

#[cfg(feature = "http")]
mod http_classify;
#[cfg(feature = "tower")]
pub mod tower;

pub use breaker::{Breaker, CallFuture, FallbackOn, Policy};
pub use capacity::{NameRefused, DEFAULT_CAPACITY, MAX_NAME_LEN, OVERFLOW_NAME};
pub use classify::{Classifier, Classify, ErrorsAreFailures};
pub use degradation::{DegradationLevel, DegradationRule};
pub use error::{CallError, TimedOut};
pub use events::Event;
pub use fallback::StaleCache;
pub use health::{BreakerHealth, HealthReport, HealthStatus, Readiness};
pub use queue::{HandedBack, MemoryStore, QueueFull, QueueSettings, QueueStore, RetryQueue, Shutdown};
pub use registry::{init_global, init_global_from_env, Registry, RegistryBuilder};
pub use reload::{ConfigWatch, Reloaded};
pub use retry::Retry;

pub use breaker_core::{
    parse, testing, CircuitBreaker, Clock, ClockSource, Config, ConfigBuilder, ConfigError, FleetCause, InstanceId,
    ManualOp, Name, Outcome, Reason, RejectReason, Rejected, Snapshot, State, Stopwatch, ThresholdExceeded, Ticker,
    TickerError, Transition, WindowKind,
};

#[doc = include_str!("circuit_breaker.md")]
#[doc(inline)]
pub use breaker_macros::circuit_breaker;
