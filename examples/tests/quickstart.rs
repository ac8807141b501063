//! Runs the quickstart in its short mode and checks what it shows: the breaker opening,
//! fallbacks served, the dependency shielded, and recovery.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_shows_opening_fallbacks_and_recovery() {
    let options = quickstart::Options { duration: Duration::from_secs(8), url: None, workers: 4, progress: false };
    let mut out = Vec::new();
    let summary = quickstart::run(options, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    println!("{text}");

    assert!(text.contains("closed → open"), "the breaker opened:\n{text}");
    assert!(text.contains("half_open → closed"), "the breaker recovered:\n{text}");
    let with = &summary.with_breaker;
    let without = &summary.without_breaker;
    assert!(with.fallback > 0 && with.rejected > 0, "fallbacks served: {with:?}");
    assert_eq!(with.errors, 0, "every caller got an answer");
    assert!(without.errors > 0, "without a breaker callers saw errors");
    assert!(summary.hits.0 < summary.hits.1, "the breaker shielded the service: {:?}", summary.hits);
    assert!(text.contains("with breaker") && text.contains("without breaker") && text.contains("p99"));

    // It says what the breaker runs with, defaults included, before the first transition.
    let config = text.find("`content-service` runs with:").expect("the effective configuration is printed");
    assert!(config < text.find("closed → open").unwrap(), "printed at start:\n{text}");
    assert!(text.contains("5 consecutive failures (default)"), "{text}");
    assert!(text.contains("failure rate 50% over the last 20 calls (once 10 are in)"), "{text}");
    // And why `fallback` exceeds `rejected`.
    assert!(text.contains("fallback = rejected + failed or timed out"), "{text}");
}

/// The configuration line never shows settings before the attribute has registered them
/// (on the first call). `mark_critical` creates the breaker before that, so "the breaker
/// exists" alone once printed the defaults (seen in CI, when the demo's loop looked before
/// any worker had called). With no workers at all nothing ever registers them: no line may
/// claim the defaults are what the breaker runs with.
#[tokio::test(flavor = "current_thread")]
async fn the_configuration_is_shown_only_once_the_attribute_has_registered_it() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = Some(format!("http://{closed}"));
    let options = quickstart::Options { duration: Duration::from_millis(500), url, workers: 0, progress: false };
    let mut out = Vec::new();
    quickstart::run(options, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    for line in text.lines().filter(|l| l.contains("runs with:")) {
        assert!(line.contains("over the last 20 calls (once 10 are in)"), "before the first call: {line}");
    }
}
