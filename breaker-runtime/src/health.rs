//! Health reports for readiness endpoints and dashboards.

use breaker_core::{Name, State};

use crate::breaker::Breaker;

/// Overall health, worst first in severity order `Critical` > `Degraded` > `Healthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum HealthStatus {
    /// Every breaker is closed (or disabled, or metrics-only).
    Healthy,
    /// At least one breaker is open, half-open or forced open.
    Degraded,
    /// A breaker marked critical is open or forced open, or at least half of the breakers are.
    Critical,
}

/// One breaker in a [`HealthReport`].
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BreakerHealth {
    /// The breaker's name.
    pub name: Name,
    /// Its state.
    pub state: State,
    /// Failed share of the calls in its window.
    pub failure_rate: f64,
    /// Seconds until it admits a probe, while open.
    pub retry_after_seconds: Option<f64>,
    /// Marked critical with [`Breaker::set_critical`].
    pub critical: bool,
    /// A fallback answers its calls ([`Breaker::has_fallback`]).
    pub has_fallback: bool,
}

/// The rule that decides readiness (HTTP 200 or 503) from a [`HealthReport`].
///
/// **Reporting is not readiness.** [`HealthReport::status`] *reports* what the breakers are
/// doing (healthy, degraded, critical) for dashboards and people. Readiness answers another
/// question: should the load balancer stop sending this instance traffic? An open breaker
/// whose calls a fallback answers still serves its callers, and restarting or draining the
/// instance would not close a breaker that protects it from a *downstream* outage. So the
/// default rule only fails readiness for a breaker marked critical that is open with nothing
/// answering in its place.
///
/// # Example
///
/// ```
/// use breaker_runtime::{Readiness, Registry};
///
/// let registry = Registry::new();
/// let search = registry.breaker("search");
/// search.set_critical(true);
/// search.set_has_fallback(true);
/// registry.breaker("ads").force_open(); // not critical
/// search.force_open();
/// let report = registry.health();
/// assert!(report.is_ready(Readiness::default()), "the fallback answers; ads is not critical");
/// assert!(!report.is_ready(Readiness::CriticalOpen), "stricter: any critical breaker open");
/// assert!(!report.is_ready(Readiness::OpenShare(0.5)), "every breaker is open");
/// assert!(report.is_ready(Readiness::AlwaysReady));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Readiness {
    /// The default: not ready while a breaker marked critical
    /// ([`Breaker::set_critical`]) is open or forced open and has no fallback
    /// ([`Breaker::has_fallback`]).
    #[default]
    CriticalWithoutFallback,
    /// Not ready while a breaker marked critical is open or forced open, fallback or not.
    CriticalOpen,
    /// Not ready while at least this share (0 to 1) of the breakers without a fallback, and at
    /// least one, are open or forced open. `OpenShare(0.5)` is the "half of the breakers" part
    /// of the [`HealthStatus::Critical`] rule, minus the breakers a fallback answers (and the
    /// rule `http_status` applied before readiness became configurable). A share above 1
    /// never fails readiness.
    OpenShare(f64),
    /// Always ready: the report is for reading only.
    AlwaysReady,
}

impl Readiness {
    /// True when the breakers in `breakers` allow the instance to be ready under this rule.
    pub fn is_ready(self, breakers: &[BreakerHealth]) -> bool {
        match self {
            Readiness::CriticalWithoutFallback => {
                !breakers.iter().any(|b| b.critical && !b.has_fallback && b.state.is_open())
            }
            Readiness::CriticalOpen => !breakers.iter().any(|b| b.critical && b.state.is_open()),
            Readiness::OpenShare(share) => {
                let bare: Vec<&BreakerHealth> = breakers.iter().filter(|b| !b.has_fallback).collect();
                let open = bare.iter().filter(|b| b.state.is_open()).count();
                #[allow(clippy::cast_precision_loss)] // counts of breakers
                let over = open > 0 && open as f64 >= share * bare.len() as f64;
                !over
            }
            Readiness::AlwaysReady => true,
        }
    }
}

/// The health of a registry's breakers.
///
/// The status follows the registry's [`DegradationRule`](crate::DegradationRule), the same rule
/// as [`Registry::degradation_level`](crate::Registry::degradation_level); by default:
/// **critical** when a breaker marked critical is open or forced open, or when at least half of
/// the breakers (and at least one) are open or forced open; otherwise **degraded** when any
/// breaker is open, half-open or forced open; otherwise **healthy**.
/// The status is for reading; readiness is a separate, configurable rule ([`Readiness`]):
/// [`ready`](Self::ready) holds the default rule's verdict, and
/// [`http_status`](Self::http_status) answers 503 only when it says not ready.
///
/// # Example
///
/// ```
/// use breaker_runtime::{HealthStatus, Registry};
///
/// let registry = Registry::new();
/// registry.breaker("search");
/// registry.breaker("payments").set_critical(true);
/// assert_eq!(registry.health().status, HealthStatus::Healthy);
/// registry.force_open("search");
/// let report = registry.health();
/// assert_eq!(report.status, HealthStatus::Critical, "half of the breakers are open");
/// assert_eq!(report.http_status(), 200, "but search is not critical: still ready");
/// registry.reset("search");
/// registry.force_open("payments");
/// let report = registry.health();
/// assert_eq!(report.status, HealthStatus::Critical);
/// assert_eq!(report.http_status(), 503, "payments is critical and has no fallback");
/// assert!(report.to_json().contains("\"state\":\"forced_open\""));
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HealthReport {
    /// The overall status.
    pub status: HealthStatus,
    /// The verdict of the default [`Readiness`] rule.
    pub ready: bool,
    /// Each breaker, in name order.
    pub breakers: Vec<BreakerHealth>,
}

impl HealthReport {
    pub(crate) fn from_breakers(breakers: &[Breaker], rule: &crate::DegradationRule) -> Self {
        let breakers: Vec<BreakerHealth> = breakers
            .iter()
            .map(|b| {
                let s = b.snapshot();
                BreakerHealth {
                    name: b.name().clone(),
                    state: s.state,
                    failure_rate: s.failure_rate,
                    retry_after_seconds: s.retry_after.map(|d| d.as_secs_f64()),
                    critical: b.is_critical(),
                    has_fallback: b.has_fallback(),
                }
            })
            .collect();
        // One rule for the status and the registry's degradation level.
        let status = rule.level(breakers.iter().map(|b| (b.state, b.critical))).into();
        let ready = Readiness::default().is_ready(&breakers);
        HealthReport { status, ready, breakers }
    }

    /// True when ready under `rule`.
    pub fn is_ready(&self, rule: Readiness) -> bool {
        rule.is_ready(&self.breakers)
    }

    /// The report judged by `rule`: [`ready`](Self::ready) set to its verdict.
    #[must_use]
    pub fn with_readiness(mut self, rule: Readiness) -> Self {
        self.ready = self.is_ready(rule);
        self
    }

    /// 503 when not [`ready`](Self::ready), 200 otherwise.
    pub fn http_status(&self) -> u16 {
        if self.ready {
            200
        } else {
            503
        }
    }

    /// The report as JSON (feature `json`).
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
