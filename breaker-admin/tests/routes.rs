//! Every route and status code of the admin surface, against a real loopback server.

use std::time::Duration;

mod common;
use common::{get, json, post, serve, Sse};

use breaker_admin::{AdminOptions, Readiness};
use breaker_runtime::{Config, Registry, State};
use serde_json::Value;

#[tokio::test]
async fn health_is_200_while_ready_and_503_when_a_critical_breaker_without_fallback_is_open() {
    let registry = Registry::new();
    registry.breaker("search");
    let payments = registry.breaker("payments");
    payments.set_critical(true);
    let addr = serve(&registry, AdminOptions::new()).await;

    let (status, body) = get(addr, "/health/circuit-breakers").await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["status"], "healthy");

    registry.force_open("search");
    let (status, body) = get(addr, "/health/circuit-breakers").await;
    assert_eq!(status, 200, "search is not critical: reported, still ready: {body}");
    assert_eq!(json(&body)["status"], "critical", "half of the breakers are open: the report says so");

    payments.set_has_fallback(true);
    payments.force_open();
    let (status, _) = get(addr, "/health/circuit-breakers").await;
    assert_eq!(status, 200, "a fallback answers payments");

    payments.set_has_fallback(false);
    let (status, body) = get(addr, "/health/circuit-breakers").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(json(&body)["ready"], false);
}

#[tokio::test]
async fn the_readiness_rule_is_configurable() {
    let registry = Registry::new();
    registry.breaker("a").force_open();
    registry.breaker("b");
    let strict = serve(&registry, AdminOptions::new().readiness(Readiness::OpenShare(0.5))).await;
    let lenient = serve(&registry, AdminOptions::new().readiness(Readiness::AlwaysReady)).await;
    assert_eq!(get(strict, "/health/circuit-breakers").await.0, 503);
    assert_eq!(get(lenient, "/health/circuit-breakers").await.0, 200);
}

#[tokio::test]
async fn the_list_shows_state_since_rates_counts_retry_after_and_config() {
    let registry = Registry::new();
    registry
        .configure(
            "db",
            Config::builder()
                .consecutive_failures(2)
                .without_failure_rate()
                .count_window(10)
                .minimum_calls(1)
                .wait(Duration::from_secs(30)),
        )
        .unwrap();
    let db = registry.breaker("db");
    registry.breaker("cache");
    db.call_blocking(|| Ok::<_, ()>(())).unwrap();
    db.call_blocking(|| Err::<(), _>(())).unwrap_err();
    db.call_blocking(|| Err::<(), _>(())).unwrap_err();
    assert_eq!(db.state(), State::Open);
    let addr = serve(&registry, AdminOptions::new()).await;

    let (status, body) = get(addr, "/circuit-breakers").await;
    assert_eq!(status, 200);
    let list = json(&body);
    let names: Vec<&str> = list["breakers"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cache", "db"]);
    let b = &list["breakers"][1];
    assert_eq!(b["state"], "open");
    assert!(b["since"].as_str().unwrap().ends_with('Z') && b["since"].as_str().unwrap().contains('T'), "{b}");
    assert!(b["since_unix_seconds"].as_f64().unwrap() > 1.7e9, "{b}");
    assert!(b["in_state_seconds"].as_f64().unwrap() < 60.0, "{b}");
    assert!((b["failure_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9, "{b}");
    assert_eq!(b["calls_in_window"], 3);
    assert_eq!(b["failed_calls"], 2);
    let retry_after = b["retry_after_seconds"].as_f64().unwrap();
    assert!(retry_after > 0.0 && retry_after <= 30.0, "{b}");
    assert_eq!(b["config"]["consecutive_failures"], 2);
    assert_eq!(b["config"]["failure_rate"], Value::Null);
    assert_eq!(b["config"]["window"], "10 calls");
    assert_eq!(b["config"]["wait_seconds"], 30.0);
    assert_eq!(b["config_sources"]["wait"], "code (Registry::configure)", "{b}");
    assert_eq!(b["config_sources"]["jitter"], "built-in default", "{b}");
    assert_eq!(list["breakers"][0]["retry_after_seconds"], Value::Null);
}

#[tokio::test]
async fn the_dashboard_is_one_self_contained_page() {
    let registry = Registry::new();
    let addr = serve(&registry, AdminOptions::new()).await;
    let response = reqwest::get(format!("http://{addr}/circuit-breakers/dashboard")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(page.contains("new EventSource(\"events\")"));
    assert!(page.contains("name=\"viewport\""), "readable on a phone");
    for external in ["src=\"http", "href=\"http", "<link", "src=\"//", "@import"] {
        assert!(!page.contains(external), "the page loads nothing from elsewhere: {external}");
    }
}

#[tokio::test]
async fn read_routes_can_be_turned_off_one_by_one() {
    let registry = Registry::new();
    let paths =
        ["/health/circuit-breakers", "/circuit-breakers", "/circuit-breakers/events", "/circuit-breakers/dashboard"];
    let options = [
        AdminOptions::new().health(false),
        AdminOptions::new().list(false),
        AdminOptions::new().events(false),
        AdminOptions::new().dashboard(false),
    ];
    for (off, options) in options.into_iter().enumerate() {
        let addr = serve(&registry, options).await;
        for (i, path) in paths.iter().enumerate() {
            if i == 2 {
                // the stream never ends: only its status
                let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
                assert_eq!(response.status().as_u16() == 404, i == off, "{path}");
                continue;
            }
            assert_eq!(get(addr, path).await.0 == 404, i == off, "{path} with route {off} off");
        }
    }
}

#[tokio::test]
async fn control_is_absent_without_a_token() {
    let registry = Registry::new();
    registry.breaker("db");
    let addr = serve(&registry, AdminOptions::new()).await;
    let (status, _) = post(addr, "db", Some("anything"), r#"{"state":"forced_open"}"#).await;
    assert_eq!(status, 404);
    assert_eq!(registry.breaker("db").state(), State::Closed);
    let addr = serve(&registry, AdminOptions::new().admin_token("")).await;
    assert_eq!(post(addr, "db", Some(""), r#"{"state":"forced_open"}"#).await.0, 404, "an empty token is none");
}

#[tokio::test]
async fn control_answers_401_403_404_400_with_json_errors() {
    let registry = Registry::new();
    registry.breaker("db");
    let addr = serve(&registry, AdminOptions::new().admin_token("s3cret")).await;
    let open = r#"{"state":"forced_open"}"#;

    let (status, body) = post(addr, "db", None, open).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("missing_token")), "{body}");
    let (status, body) = post(addr, "db", Some("s3creT"), open).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("wrong_token")), "{body}");
    assert!(!body.to_string().contains("s3cret"), "the token is never echoed");
    let (status, body) = post(addr, "nope", Some("s3cret"), open).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_breaker")), "{body}");
    for bad in ["", "{", r#"{"state":"open"}"#, r#"{"state":"closed","x":1}"#, r#"{"mode":"closed"}"#] {
        let (status, body) = post(addr, "db", Some("s3cret"), bad).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("bad_body")), "{bad}: {body}");
        assert!(body["message"].as_str().unwrap().contains("forced_open"), "{body}");
    }
    assert_eq!(registry.breaker("db").state(), State::Closed, "no refused request changed anything");
}

#[tokio::test]
async fn control_sets_every_state() {
    let registry = Registry::new();
    let db = registry.breaker("db");
    let addr = serve(&registry, AdminOptions::new().admin_token("s3cret")).await;
    for (wanted, state) in [
        ("forced_open", State::ForcedOpen),
        ("disabled", State::Disabled),
        ("metrics_only", State::MetricsOnly),
        ("closed", State::Closed),
    ] {
        let (status, body) = post(addr, "db", Some("s3cret"), &format!(r#"{{"state":"{wanted}"}}"#)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], wanted);
        assert_eq!(body["origin"], "POST /circuit-breakers/{name}/state");
        assert_eq!(db.state(), state);
    }
}

#[tokio::test]
async fn the_event_stream_sends_hello_transitions_manual_changes_rejections_and_rates() {
    let registry = Registry::new();
    let db = registry.breaker("db");
    let addr = serve(&registry, AdminOptions::new().admin_token("s3cret").tick(Duration::from_millis(100))).await;
    let mut sse = Sse::open(addr).await;
    let hello = sse.next("hello").await;
    assert_eq!(hello["breakers"][0]["name"], "db");

    let (status, _) = post(addr, "db", Some("s3cret"), r#"{"state":"forced_open"}"#).await;
    assert_eq!(status, 200);
    let transition = sse.next("transition").await;
    assert_eq!((transition["name"].as_str(), transition["to"].as_str()), (Some("db"), Some("forced_open")));
    assert_eq!(transition["reason"], "force_open");
    let manual = sse.next("manual").await;
    assert_eq!(manual["origin"], "POST /circuit-breakers/{name}/state");
    assert_eq!((manual["from"].as_str(), manual["to"].as_str()), (Some("closed"), Some("forced_open")));

    for _ in 0..7 {
        db.call_blocking(|| Ok::<_, ()>(())).unwrap_err();
    }
    let rejections = sse.next("rejections").await;
    assert_eq!(rejections["counts"]["db"], 7, "counted per tick, not one event per rejection: {rejections}");
    let rates = sse.next("rates").await;
    assert_eq!(rates["breakers"][0]["state"], "forced_open");
}

#[tokio::test]
async fn a_manual_change_reaches_on_event_callbacks_with_the_route_as_origin() {
    let registry = Registry::new();
    registry.breaker("db");
    let origins = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = origins.clone();
    registry.on_event(move |e| {
        if let breaker_runtime::Event::ManualChange { name, origin, .. } = e {
            seen.lock().unwrap().push(format!("{name} by {origin}"));
        }
    });
    let addr = serve(&registry, AdminOptions::new().admin_token("t0ken")).await;
    assert_eq!(post(addr, "db", Some("t0ken"), r#"{"state":"forced_open"}"#).await.0, 200);
    assert_eq!(*origins.lock().unwrap(), ["db by POST /circuit-breakers/{name}/state"]);
}
