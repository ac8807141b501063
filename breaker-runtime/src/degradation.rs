//! How degraded a registry is, from its breakers: one rule for the level features consult and
//! for the health report's status.

use std::future::Future;

use crate::events::Event;
use crate::health::HealthStatus;
use crate::registry::Registry;
use crate::sync::lock;
use breaker_core::State;

/// How degraded the dependencies behind a registry are, for code that sheds optional work
/// (recommendations, enrichment, prefetching) while they are down.
///
/// Worst last: `Normal < Degraded < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DegradationLevel {
    /// Every breaker is closed (or disabled, or metrics-only).
    #[default]
    Normal,
    /// Some breaker is open, forced open or (by default) half-open.
    Degraded,
    /// A breaker marked critical is open or forced open, or at least the rule's share of the
    /// breakers are.
    Critical,
}

impl DegradationLevel {
    /// The value of the `circuit_breaker_degradation_level` gauge: 0, 1 or 2.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// `normal`, `degraded` or `critical`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DegradationLevel::Normal => "normal",
            DegradationLevel::Degraded => "degraded",
            DegradationLevel::Critical => "critical",
        }
    }
}

impl std::fmt::Display for DegradationLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<DegradationLevel> for HealthStatus {
    fn from(level: DegradationLevel) -> Self {
        match level {
            DegradationLevel::Normal => HealthStatus::Healthy,
            DegradationLevel::Degraded => HealthStatus::Degraded,
            DegradationLevel::Critical => HealthStatus::Critical,
        }
    }
}

/// The rule that derives a [`DegradationLevel`] (and the [`HealthStatus`] of
/// [`Registry::health`]) from a registry's breakers. Set it with
/// [`RegistryBuilder::degradation_rule`](crate::RegistryBuilder::degradation_rule).
///
/// **Critical** when a breaker marked critical is open or forced open (if
/// `critical_breakers`), or when at least `critical_share` of the breakers (and at least one)
/// are open or forced open; otherwise **degraded** when any breaker is open or forced open, or
/// half-open if `half_open_degrades`; otherwise **normal**.
///
/// ```
/// use breaker_runtime::{DegradationLevel, DegradationRule, Registry};
///
/// let rule = DegradationRule { critical_share: 0.75, ..DegradationRule::default() };
/// let registry = Registry::builder().degradation_rule(rule).build().unwrap();
/// registry.breaker("search").force_open();
/// registry.breaker("ads");
/// assert_eq!(registry.degradation_level(), DegradationLevel::Degraded, "1 of 2 is under 75%");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DegradationRule {
    /// Critical when at least this share of the breakers are open or forced open. Default
    /// 0.5; above 1 turns this part of the rule off.
    pub critical_share: f64,
    /// Critical when a breaker marked critical ([`Breaker::set_critical`](crate::Breaker::set_critical))
    /// is open or forced open. Default `true`.
    pub critical_breakers: bool,
    /// Degraded while a breaker is half-open (probing), not only while one is open. Default
    /// `true`.
    pub half_open_degrades: bool,
}

impl Default for DegradationRule {
    fn default() -> Self {
        DegradationRule { critical_share: 0.5, critical_breakers: true, half_open_degrades: true }
    }
}

impl DegradationRule {
    /// The level of breakers in these states, each with whether it is marked critical.
    pub fn level(&self, breakers: impl IntoIterator<Item = (State, bool)>) -> DegradationLevel {
        let (mut total, mut open, mut critical_open, mut probing) = (0usize, 0usize, false, false);
        for (state, critical) in breakers {
            total += 1;
            if state.is_open() {
                open += 1;
                critical_open |= critical;
            }
            probing |= state == State::HalfOpen;
        }
        #[allow(clippy::cast_precision_loss)] // counts of breakers
        let share_reached = open > 0 && open as f64 >= self.critical_share * total as f64;
        if (self.critical_breakers && critical_open) || share_reached {
            DegradationLevel::Critical
        } else if open > 0 || (self.half_open_degrades && probing) {
            DegradationLevel::Degraded
        } else {
            DegradationLevel::Normal
        }
    }
}

impl Registry {
    /// The registry's degradation level now, by its [`DegradationRule`]. Reads each breaker's
    /// state (one atomic load each); no lock is held while user code runs.
    pub fn degradation_level(&self) -> DegradationLevel {
        let rule = self.inner.degradation;
        rule.level(self.breakers().iter().map(|b| (b.state(), b.is_critical())))
    }

    /// Runs `f` with the current degradation level, for features that choose their behaviour
    /// by it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use breaker_runtime::{DegradationLevel, Registry};
    ///
    /// let registry = Registry::new();
    /// registry.breaker("recommendations").force_open();
    /// let page = registry
    ///     .with_degradation(|level| async move {
    ///         match level {
    ///             DegradationLevel::Normal => "page with recommendations",
    ///             DegradationLevel::Degraded | DegradationLevel::Critical => "page without them",
    ///         }
    ///     })
    ///     .await;
    /// assert_eq!(page, "page without them");
    /// # });
    /// ```
    pub async fn with_degradation<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce(DegradationLevel) -> Fut,
        Fut: Future<Output = T>,
    {
        f(self.degradation_level()).await
    }

    /// Recomputes the level after a transition; on a change sets the gauge, logs it and
    /// publishes [`Event::DegradationChanged`] (after our lock is released).
    pub(crate) fn update_degradation(&self) {
        let now = self.degradation_level();
        let from = {
            let mut last = lock(&self.inner.hub.level);
            if *last == now {
                return;
            }
            std::mem::replace(&mut *last, now)
        };
        if self.inner.metrics {
            metrics::gauge!(crate::metrics::DEGRADATION_LEVEL).set(f64::from(now.code()));
        }
        if now > from {
            tracing::warn!(from = from.as_str(), to = now.as_str(), "circuit breaker degradation level rose");
        } else {
            tracing::info!(from = from.as_str(), to = now.as_str(), "circuit breaker degradation level fell");
        }
        self.inner.hub.publish(Event::DegradationChanged { from, to: now });
    }
}
