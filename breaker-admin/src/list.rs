//! `GET /circuit-breakers`: every breaker as JSON.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::Json;
use breaker_runtime::{Breaker, Config, Registry, WindowKind};
use serde::Serialize;

use crate::time::{rfc3339, unix_seconds};
use crate::Admin;

/// One breaker as `GET /circuit-breakers` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerView {
    /// Its name.
    pub name: String,
    /// Its state, snake_case (`closed`, `open`, `half_open`, `forced_open`, ...).
    pub state: &'static str,
    /// When it entered this state (or was created), RFC 3339 in UTC.
    pub since: String,
    /// The same instant in unix seconds.
    pub since_unix_seconds: f64,
    /// Seconds spent in this state so far.
    pub in_state_seconds: f64,
    /// Failed share of the calls in the window (0 to 1).
    pub failure_rate: f64,
    /// Slow share of the calls in the window (0 to 1).
    pub slow_call_rate: f64,
    /// Outcomes in the window.
    pub calls_in_window: u32,
    /// Failed outcomes in the window.
    pub failed_calls: u32,
    /// Slow outcomes in the window.
    pub slow_calls: u32,
    /// While open: seconds until a probe is admitted.
    pub retry_after_seconds: Option<f64>,
    /// Marked critical.
    pub critical: bool,
    /// A fallback answers its calls.
    pub has_fallback: bool,
    /// The configuration in effect.
    pub config: ConfigView,
    /// Where each configuration field came from, by key: the variable, the file's path, line
    /// and section, the attribute's site, code, or `built-in default`
    /// ([`Registry::effective_config_sources`]).
    pub config_sources: std::collections::BTreeMap<&'static str, String>,
}

/// A breaker's effective configuration, durations in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigView {
    /// Consecutive failures that open it, if set.
    pub consecutive_failures: Option<u32>,
    /// Failure rate (0 to 1) that opens it, if set.
    pub failure_rate: Option<f64>,
    /// The window, as written in configuration (`"20 calls"`, `"60s"`).
    pub window: String,
    /// `count` or `time`.
    pub window_kind: &'static str,
    /// Calls needed in the window before rates count.
    pub minimum_calls: u32,
    /// A call at least this long is slow, if slow-call detection is on.
    pub slow_call_seconds: Option<f64>,
    /// Slow-call rate (0 to 1) that opens it, if slow-call detection is on.
    pub slow_call_rate: Option<f64>,
    /// The first open wait.
    pub wait_seconds: f64,
    /// The wait's growth factor on each reopening.
    pub backoff_multiplier: f64,
    /// The longest wait.
    pub max_wait_seconds: f64,
    /// Random share added to or taken from each wait.
    pub jitter: f64,
    /// Concurrent probes while half-open.
    pub half_open_permits: u32,
    /// Successful probes that close it.
    pub success_threshold: u32,
    /// The longest half-open period.
    pub max_half_open_seconds: f64,
}

impl From<&Config> for ConfigView {
    fn from(c: &Config) -> Self {
        ConfigView {
            consecutive_failures: c.consecutive_failures(),
            failure_rate: c.failure_rate(),
            window: c.window().to_string(),
            window_kind: match c.window() {
                WindowKind::Count(_) => "count",
                WindowKind::Time(_) => "time",
            },
            minimum_calls: c.minimum_calls(),
            slow_call_seconds: c.slow_calls().map(|s| s.duration.as_secs_f64()),
            slow_call_rate: c.slow_calls().map(|s| s.rate_threshold),
            wait_seconds: c.wait().as_secs_f64(),
            backoff_multiplier: c.backoff_multiplier(),
            max_wait_seconds: c.max_wait().as_secs_f64(),
            jitter: c.jitter(),
            half_open_permits: c.half_open_permits(),
            success_threshold: c.success_threshold(),
            max_half_open_seconds: c.max_half_open().as_secs_f64(),
        }
    }
}

impl BreakerView {
    /// The view of `breaker` of `registry` now.
    pub fn of(registry: &Registry, breaker: &Breaker) -> Self {
        let snapshot = breaker.snapshot();
        let since = breaker.state_since();
        BreakerView {
            name: breaker.name().to_string(),
            state: snapshot.state.as_str(),
            since: rfc3339(since),
            since_unix_seconds: unix_seconds(since),
            in_state_seconds: SystemTime::now().duration_since(since).unwrap_or_default().as_secs_f64(),
            failure_rate: snapshot.failure_rate,
            slow_call_rate: snapshot.slow_call_rate,
            calls_in_window: snapshot.calls_in_window,
            failed_calls: snapshot.failed_calls,
            slow_calls: snapshot.slow_calls,
            retry_after_seconds: snapshot.retry_after.map(|d| d.as_secs_f64()),
            critical: breaker.is_critical(),
            has_fallback: breaker.has_fallback(),
            config: ConfigView::from(&breaker.core().config()),
            config_sources: registry.effective_config_sources(breaker.name()).into_iter().collect(),
        }
    }
}

/// Every breaker of `registry`, in name order.
pub(crate) fn views(registry: &Registry) -> Vec<BreakerView> {
    let mut views: Vec<BreakerView> = registry.breakers().iter().map(|b| BreakerView::of(registry, b)).collect();
    views.sort_by(|a, b| a.name.cmp(&b.name));
    views
}

#[derive(Serialize)]
pub(crate) struct List {
    breakers: Vec<BreakerView>,
}

/// `{"breakers": [...]}`.
pub(crate) async fn list(State(admin): State<Arc<Admin>>) -> Json<List> {
    Json(List { breakers: views(&admin.registry) })
}
