//! What the fleet link did: counts by outcome, and whether the link is up.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The counter of messages by outcome: `published`, `applied`, `sensitised`, `resynced`,
/// `caught_up`, `lease_won`, `lease_held_elsewhere`, `verdict_fenced_off`, `dropped` (the
/// local queue was full) and `ignored_*`.
pub const MESSAGES: &str = "circuit_breaker_fleet_messages_total";
/// The gauge of the fleet link: 1 up, 0 down.
pub const LINK_UP: &str = "circuit_breaker_fleet_link_up";

#[derive(Debug, Default)]
struct Inner {
    counts: Mutex<BTreeMap<&'static str, u64>>,
    link_up: AtomicBool,
}

/// Shared between the link task and the [`Fleet`](crate::Fleet) handle.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats(Arc<Inner>);

impl Stats {
    pub(crate) fn count(&self, outcome: &'static str) {
        *self.0.counts.lock().unwrap_or_else(PoisonError::into_inner).entry(outcome).or_default() += 1;
        metrics::counter!(MESSAGES, "outcome" => outcome).increment(1);
    }

    pub(crate) fn set_link(&self, up: bool) {
        self.0.link_up.store(up, Ordering::Release);
        metrics::gauge!(LINK_UP).set(if up { 1.0 } else { 0.0 });
    }

    pub(crate) fn link_up(&self) -> bool {
        self.0.link_up.load(Ordering::Acquire)
    }

    pub(crate) fn snapshot(&self) -> FleetStats {
        FleetStats {
            link_up: self.link_up(),
            counts: self.0.counts.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }
}

/// A view of the fleet link ([`Fleet::stats`](crate::Fleet::stats)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetStats {
    /// Connected, subscribed and resynced.
    pub link_up: bool,
    /// Messages by outcome, as in the [`MESSAGES`] counter.
    pub counts: BTreeMap<&'static str, u64>,
}

impl FleetStats {
    /// The count for `outcome`, 0 when none.
    pub fn count(&self, outcome: &str) -> u64 {
        self.counts.get(outcome).copied().unwrap_or(0)
    }
}
