//! Fallbacks that serve the last good value.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use crate::breaker::{Breaker, FallbackOn, Policy};
use crate::classify::Classify;
use crate::error::CallError;

/// Serves the last successful value for a key, up to `max_age` old, when the call is rejected
/// or fails (as [`FallbackOn`] selects).
///
/// Ages are measured with tokio's clock, so tests with paused time need no waiting.
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use breaker_runtime::{FallbackOn, Registry, StaleCache};
///
/// let registry = Registry::new();
/// let feed = registry.breaker("content-service");
/// let cache = StaleCache::new(Duration::from_secs(300));
///
/// let fresh = cache.call(&feed, 42u64, FallbackOn::Any, async { Ok::<_, String>(vec!["post"]) }).await;
/// assert_eq!(fresh.unwrap(), ["post"]);
///
/// feed.force_open();
/// let stale = cache.call(&feed, 42u64, FallbackOn::Any, async { Ok::<_, String>(vec!["never runs"]) }).await;
/// assert_eq!(stale.unwrap(), ["post"], "served from the cache while open");
/// # });
/// ```
pub struct StaleCache<K, V> {
    entries: DashMap<K, (V, Instant)>,
    max_age: Duration,
}

impl<K: Eq + Hash, V> fmt::Debug for StaleCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaleCache").field("entries", &self.entries.len()).field("max_age", &self.max_age).finish()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> StaleCache<K, V> {
    /// A cache serving values up to `max_age` old.
    pub fn new(max_age: Duration) -> Self {
        StaleCache { entries: DashMap::new(), max_age }
    }

    /// The cached value for `key` if it is at most `max_age` old.
    pub fn get(&self, key: &K) -> Option<V> {
        let entry = self.entries.get(key)?;
        (entry.1.elapsed() <= self.max_age).then(|| entry.0.clone())
    }

    /// Stores `value` for `key` as of now.
    pub fn put(&self, key: K, value: V) {
        self.entries.insert(key, (value, Instant::now()));
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.clear();
    }

    /// Runs `fut` through `breaker`, caching a success; on an error `on` covers, serves the
    /// cached value if fresh enough, and otherwise returns the error.
    pub async fn call<E, F>(&self, breaker: &Breaker, key: K, on: FallbackOn, fut: F) -> Result<V, CallError<E>>
    where
        F: Future<Output = Result<V, E>>,
    {
        self.call_with(breaker, &Policy::new(), key, on, fut).await
    }

    /// [`call`](Self::call) with a policy (timeout, classification).
    pub async fn call_with<E, F, C>(
        &self,
        breaker: &Breaker,
        policy: &Policy<C>,
        key: K,
        on: FallbackOn,
        fut: F,
    ) -> Result<V, CallError<E>>
    where
        F: Future<Output = Result<V, E>>,
        C: Classify<V, E>,
    {
        match breaker.call_with(policy, fut).await {
            Ok(value) => {
                self.put(key, value.clone());
                Ok(value)
            }
            Err(error) if on.covers(&error) => match self.get(&key) {
                Some(stale) => Ok(breaker.serve_fallback("stale_cache", error, |_| async move { stale }).await),
                None => Err(error),
            },
            Err(error) => Err(error),
        }
    }
}
