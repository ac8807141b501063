//! Operating a service: readiness while fallbacks answer, alerting metrics, `# HELP` lines, and
//! the warning for a breaker created before the metrics recorder.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::testing::ManualClock;
use breaker_runtime::{CallError, Config, FallbackOn, Policy, Registry};
use metrics_exporter_prometheus::PrometheusBuilder;

fn opens_at_once() -> Config {
    Config::builder().consecutive_failures(1).wait(Duration::from_secs(30)).build().unwrap()
}

/// The quickstart's situation: half of the breakers open, every call answered by a fallback.
/// Readiness must hold (it answered 503 before).
#[test]
fn open_breakers_answered_by_a_fallback_do_not_fail_readiness() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    registry.configure("content", opens_at_once().to_builder()).unwrap();
    registry.breaker("other");
    let content = registry.breaker("content");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for _ in 0..3 {
        let served: Result<&str, CallError<&str>> = rt.block_on(content.call_or_else(
            &Policy::new(),
            FallbackOn::Any,
            async { Err::<&str, _>("down") },
            |_| async { Ok("cached") },
        ));
        assert_eq!(served.unwrap(), "cached");
    }
    assert!(content.state().is_open());
    let report = registry.health();
    assert_eq!(report.http_status(), 200, "a fallback answers every call: {}", report.to_json());
}

/// A critical breaker without a fallback still fails readiness under the default rule.
#[test]
fn a_critical_open_breaker_without_fallback_fails_readiness() {
    let registry = Registry::new();
    registry.breaker("payments").set_critical(true);
    registry.breaker("search");
    registry.force_open("search");
    assert_eq!(registry.health().http_status(), 200, "search is not critical");
    registry.force_open("payments");
    assert_eq!(registry.health().http_status(), 503);
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A breaker created before the recorder is not silently unmetered: its next transition says so.
#[test]
fn a_breaker_created_before_the_recorder_is_named_in_a_warning() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let registry = Registry::new();
    let early = registry.breaker("early-bird");
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        early.force_open();
        early.reset();
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("not metered")).collect();
    assert_eq!(warnings.len(), 1, "one warning, once: {logs}");
    assert!(warnings[0].contains("early-bird") && warnings[0].contains("before a metrics recorder"), "{logs}");
}

/// The metrics alert rules use, with `# HELP` lines, rendered by the Prometheus exporter.
#[test]
fn alerting_metrics_are_exported_with_help_lines_and_buckets() {
    let recorder = PrometheusBuilder::new().set_buckets(&[0.01, 0.1, 1.0, 10.0, 60.0, 600.0]).unwrap().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        breaker_runtime::metrics::describe();
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build().unwrap();
        registry.configure("db", opens_at_once().to_builder()).unwrap();
        let db = registry.breaker("db");
        db.call_blocking(|| Err::<(), _>("down")).unwrap_err();
        assert!(db.state().is_open());
        breaker_runtime::metrics::refresh_rates(&registry);
        db.reset(); // ends the open period
        db.force_open();
        db.reset(); // ends the forced-open period
    });
    let text = handle.render();
    for name in [
        "circuit_breaker_failure_rate",
        "circuit_breaker_slow_call_rate",
        "circuit_breaker_state_since_seconds",
        "circuit_breaker_open_duration_seconds",
        "circuit_breaker_state",
        "circuit_breaker_calls_total",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "no help for {name}:\n{text}");
    }
    assert!(text.contains(r#"circuit_breaker_failure_rate{breaker="db"} 1"#), "{text}");
    assert!(
        text.contains(r#"circuit_breaker_open_duration_seconds_bucket{breaker="db",state="open",le="0.01"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"circuit_breaker_open_duration_seconds_count{breaker="db",state="forced_open"} 1"#),
        "{text}"
    );
    let since = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"circuit_breaker_state_since_seconds{breaker="db"} "#))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("a state-since sample");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - since).abs() < 60.0, "unix seconds of the last transition: {since} vs now {now}");
}

/// `state_since` moves on each transition.
#[test]
fn state_since_is_the_time_of_the_last_transition() {
    let registry = Registry::new();
    let b = registry.breaker("s");
    let created = b.state_since();
    std::thread::yield_now();
    b.force_open();
    assert!(b.state_since() >= created);
    assert!(b.state_since().elapsed().unwrap_or_default() < Duration::from_secs(60));
}

/// The first scrape (`refresh_rates`) names an unmetered breaker too, without waiting for a
/// transition.
#[test]
fn the_first_scrape_names_a_breaker_created_before_the_recorder() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let registry = Registry::new();
    registry.breaker("too-early");
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        breaker_runtime::metrics::refresh_rates(&registry);
        breaker_runtime::metrics::refresh_rates(&registry);
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(logs.lines().filter(|l| l.contains("not metered") && l.contains("too-early")).count(), 1, "{logs}");
}
