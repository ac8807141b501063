//! The registry's degradation level: one rule for the level and the health status, a gauge,
//! an event on every change, and a helper that picks behaviour by level.

use std::sync::{Arc, Mutex};

use breaker_runtime::{DegradationLevel, DegradationRule, Event, HealthStatus, Registry};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[test]
fn the_level_follows_the_breakers_and_each_change_is_an_event_and_a_gauge() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let registry = Registry::new();
    let changes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&changes);
    registry.on_event(move |e| {
        if let Event::DegradationChanged { from, to } = e {
            seen.lock().unwrap().push((*from, *to));
        }
    });
    let (a, b, c) = (registry.breaker("a"), registry.breaker("b"), registry.breaker("c"));
    c.set_critical(true);
    assert_eq!(registry.degradation_level(), DegradationLevel::Normal);
    a.force_open();
    assert_eq!(registry.degradation_level(), DegradationLevel::Degraded, "1 of 3 open");
    c.force_open();
    assert_eq!(registry.degradation_level(), DegradationLevel::Critical, "a critical breaker is open");
    assert_eq!(registry.health().status, HealthStatus::Critical, "one rule for both");
    c.reset();
    b.force_open();
    assert_eq!(registry.degradation_level(), DegradationLevel::Critical, "2 of 3 open");
    a.reset();
    b.reset();
    assert_eq!(registry.degradation_level(), DegradationLevel::Normal);
    use DegradationLevel::*;
    assert_eq!(
        *changes.lock().unwrap(),
        [
            (Normal, Degraded),
            (Degraded, Critical),
            (Critical, Degraded),
            (Degraded, Critical),
            (Critical, Degraded),
            (Degraded, Normal)
        ]
    );
    let gauge = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(key, ..)| key.key().name() == breaker_runtime::metrics::DEGRADATION_LEVEL)
        .map(|(.., value)| value);
    assert!(matches!(gauge, Some(DebugValue::Gauge(v)) if v.into_inner() == 0.0), "{gauge:?}");
}

#[test]
fn the_rule_is_configurable_and_the_health_status_follows_it() {
    let rule = DegradationRule { critical_share: 2.0, critical_breakers: false, half_open_degrades: true };
    let registry = Registry::builder().degradation_rule(rule).build().unwrap();
    let a = registry.breaker("a");
    a.set_critical(true);
    a.force_open();
    assert_eq!(registry.degradation_level(), DegradationLevel::Degraded, "critical breakers do not count here");
    assert_eq!(registry.health().status, HealthStatus::Degraded);
    assert_eq!(rule.level([(breaker_runtime::State::HalfOpen, false)]), DegradationLevel::Degraded);
    let lenient = DegradationRule { half_open_degrades: false, ..rule };
    assert_eq!(lenient.level([(breaker_runtime::State::HalfOpen, false)]), DegradationLevel::Normal);
}

#[tokio::test]
async fn with_degradation_chooses_behaviour_by_level() {
    let registry = Registry::new();
    registry.breaker("recommendations");
    let full = registry.with_degradation(|level| async move { level == DegradationLevel::Normal }).await;
    assert!(full);
    registry.force_open("recommendations");
    let level = registry.with_degradation(|level| async move { level }).await;
    assert_eq!(level, DegradationLevel::Critical, "the only breaker is open");
}
