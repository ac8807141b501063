//! How many breakers a registry holds: the capacity, the overflow breaker that serves names
//! a full registry refuses, and the eviction of idle breakers.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use breaker_core::Name;

use crate::breaker::Breaker;
use crate::registry::Registry;
use crate::sync::read;

/// How many breakers a registry holds unless told otherwise ([`RegistryBuilder::capacity`](crate::RegistryBuilder::capacity)).
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The longest breaker name a registry accepts, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// The name of the breaker that serves names a full registry refused (see
/// [`Registry::breaker`]).
pub const OVERFLOW_NAME: &str = "circuit-breaker-overflow";

/// Why [`Registry::try_breaker`] did not hand out a breaker for a new name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameRefused {
    /// The registry already holds its capacity of breakers.
    Full {
        /// The registry's capacity.
        capacity: usize,
    },
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong {
        /// The name's length in bytes.
        len: usize,
    },
}

impl fmt::Display for NameRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameRefused::Full { capacity } => write!(
                f,
                "the circuit breaker registry is full ({capacity} breakers); map unbounded input such as paths or tenant ids to a fixed set of names"
            ),
            NameRefused::TooLong { len } => {
                write!(f, "circuit breaker name of {len} bytes is longer than the {MAX_NAME_LEN} allowed")
            }
        }
    }
}

impl std::error::Error for NameRefused {}

impl Registry {
    /// Marks a lookup for idle eviction.
    #[inline]
    pub(crate) fn touch(&self, breaker: &Breaker) {
        if self.inner.evict_idle.is_some() {
            breaker.shared.last_used.store(self.inner.clock.now_coarse().0, Ordering::Relaxed);
        }
    }

    /// The shared breaker for names a full registry refused.
    #[cold]
    pub(crate) fn overflow(&self, refused: NameRefused) -> Breaker {
        if !self.inner.overflow_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                overflow_breaker = OVERFLOW_NAME,
                "{refused}; new names now share the breaker `{OVERFLOW_NAME}` (logged once; counted in circuit_breaker_registry_overflow_total)"
            );
        }
        if self.inner.metrics {
            metrics::counter!(crate::metrics::REGISTRY_OVERFLOW).increment(1);
        }
        self.inner
            .overflow
            .get_or_init(|| {
                let config = read(&self.inner.layers).effective(OVERFLOW_NAME).unwrap_or_default();
                let breaker = self.build_breaker(Name::from(OVERFLOW_NAME), config);
                breaker.core().release_events();
                breaker
            })
            .clone()
    }

    /// Tries to evict idle breakers to make room for a new one; true when there is room now.
    pub(crate) fn make_room(&self) -> bool {
        let Some(idle) = self.inner.evict_idle else {
            return false;
        };
        let now = self.inner.clock.now_coarse().0;
        let last = self.inner.last_sweep.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < 1_000_000_000 {
            return false; // swept less than a second ago
        }
        self.inner.last_sweep.store(now.max(1), Ordering::Relaxed);
        self.sweep(idle, now);
        self.inner.count.load(Ordering::Relaxed) < self.inner.capacity
    }

    /// Evicts every breaker idle for the time set with
    /// [`RegistryBuilder::evict_idle_after`](crate::RegistryBuilder::evict_idle_after) (none when it is not set) and returns how many.
    /// Call it periodically to keep a registry of short-lived names small.
    pub fn evict_idle(&self) -> usize {
        match self.inner.evict_idle {
            Some(idle) => self.sweep(idle, self.inner.clock.now_coarse().0),
            None => 0,
        }
    }

    pub(crate) fn sweep(&self, idle: Duration, now: u64) -> usize {
        let idle = u64::try_from(idle.as_nanos()).unwrap_or(u64::MAX);
        let mut evicted = Vec::new();
        // The predicate only reads our own atomics; evicted breakers are dropped after the
        // shard locks are released.
        self.inner.breakers.retain(|_, b| {
            // Only the map holds it: no call in flight, no handle cached by a caller.
            let unheld = Arc::strong_count(&b.shared) == 1;
            let quiet = now.saturating_sub(b.shared.last_used.load(Ordering::Relaxed)) >= idle;
            if unheld && quiet {
                evicted.push(b.clone());
                false
            } else {
                true
            }
        });
        self.inner.count.fetch_sub(evicted.len(), Ordering::Relaxed);
        if !evicted.is_empty() {
            tracing::debug!(evicted = evicted.len(), "evicted idle circuit breakers");
        }
        evicted.len()
    }

    /// How many breakers the registry holds (not counting the overflow breaker).
    pub fn len(&self) -> usize {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// True when the registry holds no breaker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
