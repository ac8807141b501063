//! Health reports for readiness endpoints and dashboards.

use breaker_core::{Name, State};
use serde::Serialize;

use crate::breaker::Breaker;

/// Overall health, worst first in severity order `Critical` > `Degraded` > `Healthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Every breaker is closed (or disabled, or metrics-only).
    Healthy,
    /// At least one breaker is open, half-open or forced open.
    Degraded,
    /// A breaker marked critical is open or forced open, or at least half of the breakers are.
    Critical,
}

/// One breaker in a [`HealthReport`].
#[derive(Debug, Clone, Serialize)]
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
}

/// The health of a registry's breakers.
///
/// The rule: **critical** when a breaker marked critical is open or forced open, or when at
/// least half of the breakers (and at least one) are open or forced open; otherwise
/// **degraded** when any breaker is open, half-open or forced open; otherwise **healthy**.
/// Serve it as JSON with status 503 when critical ([`http_status`](Self::http_status)).
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
/// assert_eq!(registry.health().status, HealthStatus::Critical, "half of the breakers are open");
/// registry.reset("search");
/// registry.force_open("payments");
/// let report = registry.health();
/// assert_eq!(report.status, HealthStatus::Critical);
/// assert_eq!(report.http_status(), 503);
/// assert!(report.to_json().contains("\"state\":\"forced_open\""));
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// The overall status.
    pub status: HealthStatus,
    /// Each breaker, in name order.
    pub breakers: Vec<BreakerHealth>,
}

impl HealthReport {
    pub(crate) fn from_breakers(breakers: &[Breaker]) -> Self {
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
                }
            })
            .collect();
        let open = breakers.iter().filter(|b| b.state.is_open()).count();
        let status =
            if breakers.iter().any(|b| b.critical && b.state.is_open()) || (open > 0 && open * 2 >= breakers.len()) {
                HealthStatus::Critical
            } else if breakers.iter().any(|b| matches!(b.state, State::Open | State::HalfOpen | State::ForcedOpen)) {
                HealthStatus::Degraded
            } else {
                HealthStatus::Healthy
            };
        HealthReport { status, breakers }
    }

    /// 503 when critical, 200 otherwise.
    pub fn http_status(&self) -> u16 {
        if self.status == HealthStatus::Critical {
            503
        } else {
            200
        }
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
