//! Configuration from the environment and TOML, precedence between sources, registry
//! operations, events and health.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_runtime::sources::{from_env_vars, from_toml_file, from_toml_str, SourceConfig};
use breaker_runtime::testing::ManualClock;
use breaker_runtime::{Config, Event, HealthStatus, Name, Registry, State, WindowKind};

const DURATION_FORMS: &str =
    "expected a whole number followed by `ns`, `us`, `ms`, `s`, `m` or `h`, such as \"250ms\", \"30s\" or \"5m\"";
const ENV_KEYS: &str = "`CONSECUTIVE_FAILURES`, `FAILURE_RATE`, `WINDOW`, `MINIMUM_CALLS`, `SLOW_CALL`, `SLOW_CALL_RATE`, `WAIT`, `BACKOFF_MULTIPLIER`, `MAX_WAIT`, `JITTER`, `HALF_OPEN_PERMITS`, `SUCCESS_THRESHOLD`, `MAX_HALF_OPEN`, `ENABLED`";
const TOML_KEYS: &str = "`consecutive_failures`, `failure_rate`, `window`, `minimum_calls`, `slow_call`, `slow_call_rate`, `wait`, `backoff_multiplier`, `max_wait`, `jitter`, `half_open_permits`, `success_threshold`, `max_half_open`, `enabled`";

fn env(vars: &[(&str, &str)]) -> SourceConfig {
    from_env_vars(vars.iter().copied()).unwrap()
}

fn toml(text: &str) -> SourceConfig {
    from_toml_str(text, "breakers.toml").unwrap()
}

// ---------------------------------------------------------------------------------------------
// Environment

#[test]
fn environment_settings_are_read_per_breaker_and_by_default() {
    let config = env(&[
        ("CIRCUIT_BREAKER_DEFAULT__WAIT", "30s"),
        ("CIRCUIT_BREAKER_CONTENT_SERVICE__FAILURE_RATE", "0.25"),
        ("CIRCUIT_BREAKER_CONTENT_SERVICE__WINDOW", "60s"),
        ("CIRCUIT_BREAKER_CONTENT_SERVICE__consecutive_failures", "off"),
        ("CIRCUIT_BREAKER_ENABLED", "true"),
        ("PATH", "/usr/bin"),
        ("CIRCUIT_BREAKERS_ARE_NEAT", "not ours: no `CIRCUIT_BREAKER_` prefix"),
    ]);
    assert_eq!(config.enabled, Some(true));
    let registry = Registry::builder().env_config(config).build().unwrap();
    let content = registry.effective_config("content-service").unwrap();
    assert_eq!(content.wait(), Duration::from_secs(30));
    assert_eq!(content.failure_rate(), Some(0.25));
    assert_eq!(content.window(), WindowKind::Time(Duration::from_secs(60)));
    assert_eq!(content.consecutive_failures(), None);
    let other = registry.effective_config("other").unwrap();
    assert_eq!((other.wait(), other.failure_rate()), (Duration::from_secs(30), Some(0.5)));
}

#[test]
fn environment_breaker_names_are_matched_whatever_their_case() {
    // Variable names are case-sensitive; the name part is normalised like `env_name` does.
    let registry =
        Registry::builder().env_config(env(&[("CIRCUIT_BREAKER_content_service__WAIT", "7s")])).build().unwrap();
    assert_eq!(registry.effective_config("content-service").unwrap().wait(), Duration::from_secs(7));
}

#[test]
fn every_malformed_environment_variable_is_reported_at_once() {
    let err = from_env_vars([
        ("CIRCUIT_BREAKER_DB__WAIT", "5 sec"),
        ("CIRCUIT_BREAKER_DB__FAILURE_RATE", "half"),
        ("CIRCUIT_BREAKER_DB__MINIMUM_CALLS", "-1"),
        ("CIRCUIT_BREAKER_DB__COLOUR", "red"),
        ("CIRCUIT_BREAKER_DB_WAIT", "5s"),
        ("CIRCUIT_BREAKER___WAIT", "5s"),
        ("CIRCUIT_BREAKER_ENABLED", "maybe"),
        ("CIRCUIT_BREAKER_OK__WAIT", "5s"),
    ])
    .unwrap_err();
    assert_eq!(err.source, "environment");
    let lines: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "CIRCUIT_BREAKER_DB__FAILURE_RATE=\"half\": invalid value \"half\"; expected a number such as 0.5"
                .to_owned(),
            "CIRCUIT_BREAKER_DB__MINIMUM_CALLS=\"-1\": invalid value \"-1\"; expected a whole number".to_owned(),
            format!("CIRCUIT_BREAKER_DB__WAIT=\"5 sec\": invalid value \"5 sec\"; {DURATION_FORMS}"),
            "CIRCUIT_BREAKER_ENABLED=\"maybe\": expected `true` or `false`".to_owned(),
            "CIRCUIT_BREAKER___WAIT=\"5s\": the breaker name is empty".to_owned(),
        ]
    );
    assert!(err
        .to_string()
        .starts_with("invalid circuit breaker configuration in environment: CIRCUIT_BREAKER_DB__FAILURE_RATE="));
    assert_eq!(err.to_string().matches("; CIRCUIT_BREAKER_").count(), 4, "{err}");
}

#[test]
fn enabled_accepts_the_usual_spellings() {
    for (value, enabled) in [
        ("true", true),
        ("1", true),
        ("Yes", true),
        ("on", true),
        ("FALSE", false),
        ("0", false),
        ("no", false),
        (" off ", false),
    ] {
        assert_eq!(env(&[("CIRCUIT_BREAKER_ENABLED", value)]).enabled, Some(enabled), "{value:?}");
    }
    assert_eq!(env(&[]).enabled, None);
}

// ---------------------------------------------------------------------------------------------
// TOML

#[test]
fn toml_sections_set_defaults_and_named_breakers() {
    let config = toml(
        r#"
        enabled = true

        [default]
        wait = "30s"
        half_open_permits = 3

        ["content-service"]
        failure_rate = 0.25
        window = "100 calls"
        minimum_calls = 10
        consecutive_failures = false   # off
        slow_call = "2s"
        slow_call_rate = 1
        "#,
    );
    assert_eq!(config.enabled, Some(true));
    let registry = Registry::builder().file_config(config).build().unwrap();
    let c = registry.effective_config("content-service").unwrap();
    assert_eq!((c.wait(), c.half_open_permits()), (Duration::from_secs(30), 3));
    assert_eq!((c.failure_rate(), c.window(), c.minimum_calls()), (Some(0.25), WindowKind::Count(100), 10));
    assert_eq!(c.consecutive_failures(), None);
    let slow = c.slow_calls().unwrap();
    assert_eq!((slow.duration, slow.rate_threshold), (Duration::from_secs(2), 1.0));
    // File names are exact: no normalisation.
    assert_eq!(registry.effective_config("CONTENT_SERVICE").unwrap().failure_rate(), Some(0.5));
}

#[test]
fn every_malformed_toml_setting_is_reported_at_once() {
    let err = from_toml_str(
        r#"
        retries = 3
        enabled = "no"

        [db]
        wait = "10 sec"
        failure_rate = "high"
        minimum_calls = 2.5
        colour = "red"
        consecutive_failures = true
        half_open_permits = [1, 2]

        [default]
        max_wait = { minutes = 5 }
        "#,
        "breakers.toml",
    )
    .unwrap_err();
    assert_eq!(err.source, "breakers.toml");
    let lines: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
    let table = "expected a table of settings (`[default]` or `[\"breaker-name\"]`), or `enabled = true|false`";
    let scalar = "expected a number, a string, or `false` to turn the setting off";
    assert_eq!(
        lines,
        [
            format!("line 2: retries=\"3\": {table}"),
            format!("line 3: enabled=\"\\\"no\\\"\": {table}"),
            format!("line 6: db.wait=\"10 sec\": invalid value \"10 sec\"; {DURATION_FORMS}"),
            "line 7: db.failure_rate=\"high\": invalid value \"high\"; expected a number such as 0.5".to_owned(),
            "line 8: db.minimum_calls=\"2.5\": invalid value \"2.5\"; expected a whole number".to_owned(),
            format!("line 10: db.consecutive_failures=\"true\": {scalar}"),
            format!("line 11: db.half_open_permits=\"[1, 2]\": {scalar}"),
            format!("line 14: default.max_wait=\"{{ minutes = 5 }}\": {scalar}"),
        ]
    );
}

#[test]
fn an_unknown_toml_key_is_a_warning_with_a_suggestion_and_the_rest_applies() {
    let file = from_toml_str("[db]\nwiat = \"5s\"\nfailure_rate = 0.3\ncolour = \"red\"\n", "breakers.toml").unwrap();
    let warnings: Vec<String> = file.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0], "line 2: db.wiat=\"5s\": unknown setting `wiat`, ignored; did you mean `wait`?");
    assert_eq!(
        warnings[1],
        format!("line 4: db.colour=\"red\": unknown setting `colour`, ignored; expected one of {TOML_KEYS}")
    );
    let registry = Registry::builder().file_config(file).build().unwrap();
    assert_eq!(registry.effective_config("db").unwrap().failure_rate(), Some(0.3));
    assert_eq!(registry.config_warnings().len(), 2);
}

#[test]
fn unknown_variables_are_warnings_and_the_kill_switch_survives_them() {
    let config = from_env_vars([
        ("CIRCUIT_BREAKER_LOG_LEVEL", "debug"),
        ("CIRCUIT_BREAKER_DB__COLOUR", "red"),
        ("CIRCUIT_BREAKER_DB__WIAT", "5s"),
        ("CIRCUIT_BREAKER_ENABLED", "false"),
        ("CIRCUIT_BREAKER_DB__WAIT", "7s"),
    ])
    .unwrap();
    assert_eq!(config.enabled, Some(false));
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings
        .iter()
        .any(|w| w.starts_with("CIRCUIT_BREAKER_LOG_LEVEL=\"debug\": not a circuit breaker setting, ignored")));
    assert!(warnings.iter().any(|w| w.contains("unknown setting `WIAT`, ignored; did you mean `WAIT`?")));
    assert!(warnings.contains(&format!(
        "CIRCUIT_BREAKER_DB__COLOUR=\"red\": unknown setting `COLOUR`, ignored; expected one of {ENV_KEYS}"
    )));
    let registry = Registry::builder().env_config(config).build().unwrap();
    assert_eq!(registry.breaker("db").state(), breaker_runtime::State::MetricsOnly, "kill switch honoured");
    assert_eq!(registry.effective_config("db").unwrap().wait(), Duration::from_secs(7));
}

#[test]
fn a_toml_syntax_error_names_the_file_and_the_line() {
    let err = from_toml_str("[db]\nwait = 30s\n", "conf/breakers.toml").unwrap_err();
    assert_eq!(err.errors.len(), 1);
    let text = err.to_string();
    assert!(
        text.starts_with("invalid circuit breaker configuration in conf/breakers.toml: line 2: "),
        "the path once, then the line: {text}"
    );
    assert!(!text.contains("=\"\""), "no empty value is shown: {text}");
}

#[test]
fn a_missing_toml_file_names_the_path() {
    let err = from_toml_file("/nonexistent/breakers.toml").unwrap_err();
    assert_eq!(err.source, "/nonexistent/breakers.toml");
    assert_eq!(err.to_string().matches("/nonexistent/breakers.toml").count(), 1, "the path once: {err}");
    assert!(err.to_string().contains("cannot read the file: No such file"), "{err}");
    assert!(Registry::builder().from_toml_file("/nonexistent/breakers.toml").is_err());
}

#[test]
fn a_toml_file_is_read_from_disk() {
    let path = std::env::temp_dir().join(format!("breaker-runtime-config-{}.toml", std::process::id()));
    std::fs::write(&path, "[db]\nwait = \"3s\"\n").unwrap();
    let registry = Registry::builder().from_toml_file(&path).unwrap().build().unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(registry.effective_config("db").unwrap().wait(), Duration::from_secs(3));
}

// ---------------------------------------------------------------------------------------------
// Precedence

#[test]
fn precedence_is_env_then_file_then_code_then_attribute_then_defaults() {
    let registry = Registry::builder()
        .default_config(
            Config::builder()
                .minimum_calls(11)
                .half_open_permits(4)
                .success_threshold(3)
                .wait(Duration::from_secs(1))
                .jitter(0.01),
        )
        .file_config(toml(
            r#"
            [default]
            jitter = 0.2
            max_half_open = "30s"
            wait = "3s"

            [db]
            wait = "4s"
            max_half_open = "31s"
            "#,
        ))
        .env_config(env(&[
            ("CIRCUIT_BREAKER_DEFAULT__WAIT", "5s"),
            ("CIRCUIT_BREAKER_DEFAULT__MAX_HALF_OPEN", "40s"),
            ("CIRCUIT_BREAKER_DB__WAIT", "6s"),
        ]))
        .build()
        .unwrap();
    let attribute = {
        let mut b = Config::builder();
        for (k, v) in [("wait", "2s"), ("minimum_calls", "12"), ("half_open_permits", "5"), ("jitter", "0.02")] {
            b.set(k, v).unwrap();
        }
        b
    };
    registry.register_attribute_config(&Name::from("db"), attribute, "app::fetch");
    registry.configure("db", Config::builder().minimum_calls(13).wait(Duration::from_secs(7)).jitter(0.03)).unwrap();

    let db = registry.effective_config("db").unwrap();
    assert_eq!(db.wait(), Duration::from_secs(6), "env for the breaker beats everything");
    assert_eq!(db.max_half_open(), Duration::from_secs(40), "env default beats the file's breaker section");
    assert_eq!(db.jitter(), 0.2, "the file's default beats code");
    assert_eq!(db.minimum_calls(), 13, "code beats the attribute");
    assert_eq!(db.half_open_permits(), 5, "the attribute beats the registry default");
    assert_eq!(db.success_threshold(), 3, "the registry default beats the built-in default");
    assert_eq!(db.consecutive_failures(), Some(5), "the built-in default");

    let other = registry.effective_config("other").unwrap();
    assert_eq!(other.wait(), Duration::from_secs(5));
    assert_eq!((other.minimum_calls(), other.half_open_permits()), (11, 4));

    // The breaker is created with exactly that configuration.
    assert_eq!(registry.breaker("db").core().config(), db);
}

#[test]
fn a_second_attribute_configuration_for_a_name_is_reported_not_merged() {
    let registry = Registry::new();
    let with = |k: &str, v: &str| {
        let mut b = Config::builder();
        b.set(k, v).unwrap();
        b
    };
    registry.register_attribute_config(&Name::from("db"), with("wait", "2s"), "app::a");
    registry.register_attribute_config(&Name::from("db"), with("wait", "2s"), "app::b");
    assert!(registry.conflicts().is_empty(), "the same configuration twice is no conflict");
    registry.register_attribute_config(&Name::from("db"), with("wait", "9s"), "app::c");
    assert_eq!(
        registry.conflicts(),
        ["circuit breaker `db`: the attribute at `app::c` configures it differently from the one at `app::a`; keeping the configuration from `app::a`"]
    );
    assert_eq!(registry.effective_config("db").unwrap().wait(), Duration::from_secs(2));
}

// ---------------------------------------------------------------------------------------------
// The global switch

#[test]
fn enabled_false_makes_breakers_metrics_only_they_are_measured_and_never_trip() {
    let registry = Registry::builder().env_config(env(&[("CIRCUIT_BREAKER_ENABLED", "false")])).build().unwrap();
    let exceeded = Arc::new(AtomicU32::new(0));
    let seen = exceeded.clone();
    registry.on_event(move |e| {
        if let Event::ThresholdExceeded(_) = e {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let db = registry.breaker("db");
    assert_eq!(db.state(), State::MetricsOnly);
    for _ in 0..50 {
        db.call_blocking(|| Err::<(), _>("down")).unwrap_err();
    }
    assert_eq!(db.state(), State::MetricsOnly, "never trips");
    let s = db.snapshot();
    assert_eq!((s.calls_in_window, s.failed_calls), (50, 50), "still measured");
    assert_eq!(exceeded.load(Ordering::SeqCst), 1, "the crossing is reported once");
}

#[test]
fn enabled_false_from_the_file_or_applied_later_switches_existing_breakers_too() {
    let registry = Registry::builder().file_config(toml("enabled = false")).build().unwrap();
    assert_eq!(registry.breaker("a").state(), State::MetricsOnly);

    let registry = Registry::new();
    let a = registry.breaker("a");
    a.force_open();
    registry.apply_env(env(&[("CIRCUIT_BREAKER_ENABLED", "false")])).unwrap();
    assert_eq!(a.state(), State::MetricsOnly);
    assert_eq!(registry.breaker("b").state(), State::MetricsOnly);

    // The environment wins over the file.
    let registry = Registry::builder()
        .file_config(toml("enabled = false"))
        .env_config(env(&[("CIRCUIT_BREAKER_ENABLED", "true")]))
        .build()
        .unwrap();
    assert_eq!(registry.breaker("a").state(), State::Closed);
}

// ---------------------------------------------------------------------------------------------
// Changing configuration at run time

#[test]
fn apply_env_with_an_error_changes_nothing() {
    let registry = Registry::new();
    registry.configure("a", Config::builder().count_window(10)).unwrap();
    let a = registry.breaker("a");
    let b = registry.breaker("b");
    let before = (registry.effective_config("a").unwrap(), registry.effective_config("b").unwrap());

    // Valid for `b`, invalid for `a` (more minimum calls than its window holds).
    let err = registry
        .apply_env(env(&[("CIRCUIT_BREAKER_B__WAIT", "1s"), ("CIRCUIT_BREAKER_DEFAULT__MINIMUM_CALLS", "50")]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid circuit breaker configuration in environment: breaker `a`: minimum_calls: 50 is more than the count window holds (10 calls) (set by CIRCUIT_BREAKER_DEFAULT__MINIMUM_CALLS)"
    );
    assert_eq!((registry.effective_config("a").unwrap(), registry.effective_config("b").unwrap()), before);
    assert_eq!(b.core().config().wait(), Duration::from_secs(60), "`b` kept its configuration");
    assert_eq!(a.core().config().minimum_calls(), 10);

    registry.apply_env(env(&[("CIRCUIT_BREAKER_B__WAIT", "1s")])).unwrap();
    assert_eq!(b.core().config().wait(), Duration::from_secs(1), "a valid source applies to live breakers");
    // A later source replaces the earlier one entirely.
    registry.apply_env(env(&[])).unwrap();
    assert_eq!(b.core().config().wait(), Duration::from_secs(60));
}

#[test]
fn apply_file_is_all_or_nothing_too() {
    let registry = Registry::new();
    registry.breaker("a");
    let err = registry.apply_file(toml("[default]\nhalf_open_permits = 1\nsuccess_threshold = 2\n")).unwrap_err();
    assert_eq!(err.source, "file");
    assert!(err.errors.iter().all(|e| e.location.ends_with("success_threshold")), "{err}");
    assert_eq!(registry.breaker("a").core().config().half_open_permits(), 2);
}

#[test]
fn an_invalid_registry_default_fails_the_build() {
    let err = Registry::builder().default_config(Config::builder().failure_rate(2.0)).build().unwrap_err();
    assert_eq!(err.to_string(), "invalid circuit breaker configuration in the combined sources: default: failure_rate: must be greater than 0 and at most 1, got 2 (set by code (RegistryBuilder::default_config))");
}

#[test]
fn configure_keeps_an_existing_breakers_state_and_changes_its_thresholds() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    let db = registry.breaker("db");
    for _ in 0..2 {
        db.call_blocking(|| Err::<(), _>(())).unwrap_err();
    }
    registry.configure("db", Config::builder().consecutive_failures(3)).unwrap();
    assert_eq!(db.state(), State::Closed);
    assert_eq!(db.snapshot().consecutive_failures, 2, "the streak is kept");
    db.call_blocking(|| Err::<(), _>(())).unwrap_err();
    assert_eq!(db.state(), State::Open, "the new threshold applies");

    registry.configure("db", Config::builder().consecutive_failures(3).wait(Duration::from_secs(5))).unwrap();
    assert_eq!(db.state(), State::Open, "still open");
    let err = registry.configure("db", Config::builder().half_open_permits(0)).unwrap_err();
    assert_eq!(err.fields().collect::<Vec<_>>(), ["half_open_permits"]);
    assert_eq!(db.core().config().wait(), Duration::from_secs(5), "an invalid configuration is not applied");
}

// ---------------------------------------------------------------------------------------------
// Registry operations

#[test]
fn breakers_are_managed_by_name() {
    let registry = Registry::new();
    assert!(registry.get("db").is_none());
    assert!(
        !registry.force_open("db") && !registry.reset("db") && !registry.disable("db") && !registry.metrics_only("db")
    );
    let db = registry.breaker("db");
    assert_eq!(registry.get("db").unwrap().name().as_str(), "db");

    assert!(registry.force_open("db"));
    assert_eq!(db.state(), State::ForcedOpen);
    assert!(registry.disable("db"));
    assert_eq!(db.state(), State::Disabled);
    assert!(registry.metrics_only("db"));
    assert_eq!(db.state(), State::MetricsOnly);
    assert!(registry.reset("db"));
    assert_eq!(db.state(), State::Closed);

    registry.force_open("db");
    let removed = registry.remove("db").unwrap();
    assert_eq!(removed.state(), State::ForcedOpen, "handles keep working on the removed breaker");
    assert!(registry.get("db").is_none());
    assert_eq!(registry.breaker("db").state(), State::Closed, "the next lookup creates a fresh one");
    assert!(registry.remove("nope").is_none());
}

#[test]
fn snapshots_are_in_name_order() {
    let registry = Registry::new();
    for name in ["payments", "auth", "search", "content-service", "Zebra"] {
        registry.breaker(name);
    }
    registry.force_open("search");
    let snapshots = registry.snapshots();
    let names: Vec<&str> = snapshots.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Zebra", "auth", "content-service", "payments", "search"]);
    assert_eq!(snapshots[4].1.state, State::ForcedOpen);
    assert_eq!(registry.breakers().len(), 5);
}

#[tokio::test]
async fn events_reach_callbacks_and_subscribers_even_past_a_panicking_callback() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    registry.configure("db", Config::builder().consecutive_failures(1)).unwrap();
    let mut events = registry.subscribe();
    registry.on_event(|_| panic!("a broken alerting hook"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    registry.on_event(move |e| {
        let line = match e {
            Event::Transition(t) => format!("{} {}->{} {}", t.name, t.from, t.to, t.reason),
            Event::Rejected(r) => format!("{} rejected", r.name()),
            Event::ThresholdExceeded(x) => format!("{} exceeded", x.name),
            _ => return, // registry-wide events (the degradation level) are not this test's
        };
        log.lock().unwrap().push(line);
    });

    let db = registry.breaker("db");
    assert!(db.call(async { Err::<(), _>("down") }).await.unwrap_err().into_failed().is_some());
    assert!(db.call(async { Ok::<_, &str>(()) }).await.unwrap_err().is_rejected());
    db.reset();
    assert_eq!(db.call(async { Ok::<_, &str>(5) }).await.unwrap(), 5, "the breaker still works");

    assert_eq!(
        *seen.lock().unwrap(),
        ["db closed->open 1 consecutive failures (threshold 1)", "db rejected", "db open->closed reset"]
    );
    let mut next = || loop {
        match events.try_recv() {
            Ok(Event::DegradationChanged { .. }) => continue,
            other => return other,
        }
    };
    let Ok(Event::Transition(t)) = next() else { panic!() };
    assert_eq!((t.from, t.to), (State::Closed, State::Open));
    let Ok(Event::Rejected(r)) = next() else { panic!() };
    assert_eq!(r.name(), "db");
    let Ok(Event::Transition(t)) = next() else { panic!() };
    assert_eq!((t.from, t.to), (State::Open, State::Closed));
    assert!(next().is_err());
}

// ---------------------------------------------------------------------------------------------
// Health

#[test]
fn health_is_healthy_degraded_or_critical() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    registry.configure("b", Config::builder().consecutive_failures(1).wait(Duration::from_secs(10))).unwrap();
    for name in ["a", "b", "c"] {
        registry.breaker(name);
    }
    registry.disable("c");
    let report = registry.health();
    assert_eq!((report.status, report.http_status()), (HealthStatus::Healthy, 200), "disabled counts as healthy");

    registry.breaker("b").call_blocking(|| Err::<(), _>(())).unwrap_err();
    clock.advance(Duration::from_secs(4));
    let report = registry.health();
    assert_eq!((report.status, report.http_status()), (HealthStatus::Degraded, 200), "one of three open");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["status"], "degraded");
    assert_eq!(json["breakers"][1]["name"], "b");
    assert_eq!(json["breakers"][1]["state"], "open");
    assert_eq!(json["breakers"][1]["failure_rate"], 1.0);
    assert_eq!(json["breakers"][1]["retry_after_seconds"], 6.0);
    assert_eq!(json["breakers"][1]["critical"], false);
    assert_eq!(json["breakers"][0]["retry_after_seconds"], serde_json::Value::Null);

    registry.force_open("a");
    let report = registry.health();
    assert_eq!(
        (report.status, report.http_status()),
        (HealthStatus::Critical, 200),
        "two of three open, none critical"
    );
    assert!(!report.is_ready(breaker_runtime::Readiness::OpenShare(0.5)), "the share rule fails readiness");

    registry.reset("a");
    clock.advance(Duration::from_secs(6));
    registry.breaker("b").core().try_acquire().unwrap().ignore(); // now half-open
    assert_eq!(registry.breaker("b").state(), State::HalfOpen);
    assert_eq!(registry.health().status, HealthStatus::Degraded, "half-open is degraded");

    registry.mark_critical("a", true);
    registry.force_open("a");
    let report = registry.health();
    assert_eq!(report.status, HealthStatus::Critical, "a critical breaker is open");
    assert!(
        report.to_json().contains(
            r#""name":"a","state":"forced_open","failure_rate":0.0,"retry_after_seconds":null,"critical":true,"has_fallback":false"#
        ),
        "{}",
        report.to_json()
    );
    assert_eq!(Registry::new().health().status, HealthStatus::Healthy, "no breakers: healthy");
}

#[test]
fn fleet_settings_belong_to_breaker_redis_and_raise_no_warning() {
    let file = from_toml_str(
        "[fleet]\nurl = \"redis://127.0.0.1/\"\n[fleet.policies]\ndb = \"any\"\n[db]\nwait = \"5s\"\n",
        "f.toml",
    )
    .unwrap();
    assert!(file.warnings.is_empty(), "{:?}", file.warnings);
    assert!(!file.named.contains_key("fleet"));
    let env = from_env_vars([
        ("CIRCUIT_BREAKER_FLEET__URL", "redis://127.0.0.1/"),
        ("CIRCUIT_BREAKER_FLEET__POLICY__DB", "any"),
    ])
    .unwrap();
    assert!(env.warnings.is_empty() && env.named.is_empty(), "{env:?}");
}
