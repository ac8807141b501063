//! The spans and events `breaker-runtime` documents, captured by a small `tracing` layer.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use breaker_runtime::testing::ManualClock;
use breaker_runtime::{Config, FallbackOn, Policy, Registry, Retry, StaleCache, State};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

#[derive(Debug, Clone)]
struct SpanRecord {
    name: &'static str,
    level: Level,
    fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct EventRecord {
    level: Level,
    fields: BTreeMap<String, String>,
    /// Names of the spans the event happened in, innermost first.
    scope: Vec<&'static str>,
}

impl EventRecord {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).unwrap_or_else(|| panic!("event without `{name}`: {self:?}"))
    }
    fn message(&self) -> &str {
        self.field("message")
    }
}

#[derive(Default)]
struct Captured {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
}

/// Records every span created and every event emitted, with their fields.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Captured>>);

impl Capture {
    fn spans(&self, name: &str) -> Vec<SpanRecord> {
        self.0.lock().unwrap().spans.iter().filter(|s| s.name == name).cloned().collect()
    }
    fn events(&self) -> Vec<EventRecord> {
        self.0.lock().unwrap().events.clone()
    }
    /// Events whose message starts with `prefix`.
    fn events_starting(&self, prefix: &str) -> Vec<EventRecord> {
        self.events().into_iter().filter(|e| e.fields.get("message").is_some_and(|m| m.starts_with(prefix))).collect()
    }
    fn clear(&self) {
        let mut c = self.0.lock().unwrap();
        c.spans.clear();
        c.events.clear();
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let meta = attrs.metadata();
        self.0.lock().unwrap().spans.push(SpanRecord { name: meta.name(), level: *meta.level(), fields });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let scope = ctx.event_scope(event).map(|scope| scope.map(|span| span.name()).collect()).unwrap_or_default();
        self.0.lock().unwrap().events.push(EventRecord { level: *event.metadata().level(), fields, scope });
    }
}

thread_local! {
    /// The capture of the test running on this thread, if any.
    static CURRENT: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// Hands each span and event to the capture of the thread it happens on.
///
/// One global subscriber for the whole test binary, rather than one scoped subscriber per test:
/// `tracing` keeps a process-wide maximum level, and scoped subscribers coming and going on
/// parallel test threads can leave it momentarily lower than a running test needs.
struct Route;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Route {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        CURRENT.with(|c| {
            if let Some(capture) = &*c.borrow() {
                capture.on_new_span(attrs, id, ctx);
            }
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        CURRENT.with(|c| {
            if let Some(capture) = &*c.borrow() {
                capture.on_event(event, ctx);
            }
        });
    }
}

/// Runs `f` with a fresh capture of this thread's spans and events.
fn capture<R>(f: impl FnOnce(&Capture) -> R) -> R {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Route))
            .expect("the only global subscriber of this test binary");
    });
    let capture = Capture::default();
    CURRENT.with(|c| *c.borrow_mut() = Some(capture.clone()));
    let out = f(&capture);
    CURRENT.with(|c| *c.borrow_mut() = None);
    out
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(fut)
}

fn quick() -> breaker_runtime::ConfigBuilder {
    Config::builder().consecutive_failures(2).wait(Duration::from_secs(10)).half_open_permits(1).success_threshold(1)
}

fn registry(clock: &ManualClock) -> Registry {
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    registry.configure("db", quick()).unwrap();
    registry
}

#[test]
fn calls_run_inside_check_request_probe_and_fallback_spans_naming_the_breaker() {
    capture(|c| {
        let clock = ManualClock::new();
        let registry = registry(&clock);
        let db = registry.breaker("db");
        block_on(async {
            db.call(async {
                tracing::info!("inside the call");
                Ok::<_, ()>(())
            })
            .await
            .unwrap();
        });
        let check = c.spans("circuit_breaker_check");
        assert_eq!(check.len(), 1, "{check:?}");
        assert_eq!((check[0].level, check[0].fields["breaker"].as_str()), (Level::TRACE, "db"));
        let request = c.spans("primary_request");
        assert_eq!(request.len(), 1);
        assert_eq!((request[0].level, request[0].fields["breaker"].as_str()), (Level::DEBUG, "db"));
        let inside = c.events_starting("inside the call");
        assert_eq!(inside[0].scope, ["primary_request"], "the protected future runs in the request span");
        assert!(c.spans("probe_attempt").is_empty());

        // Open, then a probe.
        db.call_blocking(|| Err::<(), _>(())).unwrap_err();
        db.call_blocking(|| Err::<(), _>(())).unwrap_err();
        clock.advance(Duration::from_secs(10));
        c.clear();
        block_on(async {
            db.call(async {
                tracing::info!("inside the probe");
                Ok::<_, ()>(())
            })
            .await
            .unwrap();
        });
        let probe = c.spans("probe_attempt");
        assert_eq!(probe.len(), 1);
        assert_eq!((probe[0].level, probe[0].fields["breaker"].as_str()), (Level::INFO, "db"));
        assert!(c.spans("primary_request").is_empty(), "a probe is not also a primary request");
        assert_eq!(c.events_starting("inside the probe")[0].scope, ["probe_attempt"]);

        // A fallback.
        db.force_open();
        c.clear();
        block_on(async {
            let r = db
                .call_or_else(&Policy::new(), FallbackOn::Rejected, async { Ok::<_, ()>(1) }, |_| async {
                    tracing::info!("inside the fallback");
                    Ok(2)
                })
                .await;
            assert_eq!(r.unwrap(), 2);
        });
        let fallback = c.spans("fallback_execution");
        assert_eq!(fallback.len(), 1);
        assert_eq!((fallback[0].level, fallback[0].fields["breaker"].as_str()), (Level::INFO, "db"));
        assert_eq!(fallback[0].fields["reason"], "rejected");
        assert_eq!(c.events_starting("inside the fallback")[0].scope, ["fallback_execution"]);
    });
}

#[test]
fn blocking_calls_and_fallbacks_have_the_same_spans() {
    capture(|c| {
        let clock = ManualClock::new();
        let registry = registry(&clock);
        let db = registry.breaker("db");
        db.call_blocking(|| {
            tracing::info!("inside the call");
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(c.spans("circuit_breaker_check").len(), 1);
        assert_eq!(c.events_starting("inside the call")[0].scope, ["primary_request"]);
        let err = db.call_blocking(|| Err::<(), _>("502")).unwrap_err();
        let out = db.run_fallback_blocking(err, |e| {
            tracing::info!("inside the fallback");
            e.kind()
        });
        assert_eq!(out, "failure");
        assert_eq!(c.spans("fallback_execution")[0].fields["reason"], "failure");
        assert_eq!(c.events_starting("inside the fallback")[0].scope, ["fallback_execution"]);
    });
}

fn transition_events(c: &Capture) -> Vec<EventRecord> {
    c.events().into_iter().filter(|e| e.fields.contains_key("to_state")).collect()
}

#[test]
fn transitions_are_logged_at_warn_when_opening_and_info_otherwise() {
    capture(|c| {
        let clock = ManualClock::new();
        let registry = registry(&clock);
        let db = registry.breaker("db");
        db.call_blocking(|| Err::<(), _>(())).unwrap_err();
        db.call_blocking(|| Err::<(), _>(())).unwrap_err();
        clock.advance(Duration::from_secs(10));
        db.call_blocking(|| Err::<(), _>(())).unwrap_err(); // probe fails: reopen
        clock.advance(Duration::from_secs(10));
        db.call_blocking(|| Ok::<_, ()>(())).unwrap(); // probe succeeds: close
        db.force_open();
        db.reset();

        let t = transition_events(c);
        let summary: Vec<(Level, &str, &str, &str)> =
            t.iter().map(|e| (e.level, e.field("from_state"), e.field("to_state"), e.field("reason"))).collect();
        assert_eq!(
            summary,
            [
                (Level::WARN, "closed", "open", "consecutive_failures"),
                (Level::INFO, "open", "half_open", "wait_elapsed"),
                (Level::WARN, "half_open", "open", "probe_failed"),
                (Level::INFO, "open", "half_open", "wait_elapsed"),
                (Level::INFO, "half_open", "closed", "probes_succeeded"),
                (Level::INFO, "closed", "forced_open", "force_open"),
                (Level::INFO, "forced_open", "closed", "reset"),
            ]
        );
        // The trip carries its measurement; every transition carries the fields.
        assert_eq!((t[0].field("value"), t[0].field("threshold")), ("2", "2"));
        assert_eq!(t[0].field("breaker"), "db");
        assert!(t[0].message().contains("2 consecutive failures (threshold 2)"), "{}", t[0].message());
        for e in &t {
            for field in ["breaker", "from_state", "to_state", "reason", "value", "threshold"] {
                assert!(e.fields.contains_key(field), "{field} missing from {e:?}");
            }
        }
    });
}

#[test]
fn a_failure_rate_trip_logs_the_rate_and_threshold() {
    capture(|c| {
        let registry = Registry::new();
        registry
            .configure(
                "api",
                Config::builder().consecutive_failures(0).failure_rate(0.5).count_window(4).minimum_calls(4),
            )
            .unwrap();
        let api = registry.breaker("api");
        for ok in [true, true, false, false] {
            let _ = api.call_blocking(|| if ok { Ok(()) } else { Err(()) });
        }
        assert_eq!(api.state(), State::Open);
        let t = transition_events(c);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].level, Level::WARN);
        assert_eq!(
            (t[0].field("reason"), t[0].field("value"), t[0].field("threshold")),
            ("failure_rate", "0.5", "0.5")
        );
    });
}

#[test]
fn rejections_are_logged_at_debug() {
    capture(|c| {
        let registry = Registry::new();
        let db = registry.breaker("db");
        db.force_open();
        c.clear();
        assert!(db.call_blocking(|| Ok::<_, ()>(())).unwrap_err().is_rejected());
        block_on(async { assert!(db.call(async { Ok::<_, ()>(()) }).await.unwrap_err().is_rejected()) });
        let rejections = c.events_starting("call rejected");
        assert_eq!(rejections.len(), 2, "{:?}", c.events());
        for r in &rejections {
            assert_eq!(r.level, Level::DEBUG);
            assert_eq!((r.field("breaker"), r.field("state")), ("db", "forced_open"));
        }
        assert!(c.events().iter().all(|e| e.level > Level::WARN), "a rejection is no warning: {:?}", c.events());
    });
}

#[test]
fn retries_are_logged_at_debug() {
    capture(|c| {
        let registry = Registry::new();
        let db = registry.breaker("db");
        block_on(async {
            let retry = Retry::new(3, Duration::from_millis(1));
            db.call_retrying(&Policy::new(), &retry, || async { Err::<(), _>(()) }).await.unwrap_err();
        });
        let retries = c.events_starting("retrying");
        assert_eq!(retries.len(), 2);
        assert!(retries.iter().all(|r| r.level == Level::DEBUG && r.field("breaker") == "db"));
        assert_eq!((retries[0].field("attempt"), retries[1].field("attempt")), ("1", "2"));
    });
}

fn assert_send<T: Send>(_: &T) {}

/// Compile-time: the futures of every async entry point are `Send` when the protected future
/// is, so they can be spawned on a multi-threaded runtime.
#[test]
fn call_futures_are_send_when_the_protected_future_is() {
    let registry = Registry::new();
    let db = registry.breaker("db");
    let policy = Policy::new().timeout(Duration::from_secs(1));
    let retry = Retry::new(2, Duration::ZERO);
    let cache: StaleCache<u32, String> = StaleCache::new(Duration::from_secs(1));
    let upstream = || async { Ok::<String, std::io::Error>(String::new()) };

    assert_send(&db.call(upstream()));
    assert_send(&db.call_with(&policy, upstream()));
    assert_send(&db.call_or(FallbackOn::Any, upstream(), String::new()));
    assert_send(&db.call_or_else(&policy, FallbackOn::Any, upstream(), |_| async { Ok(String::new()) }));
    assert_send(&db.call_retrying(&policy, &retry, upstream));
    assert_send(&cache.call(&db, 1, FallbackOn::Any, upstream()));

    // And they really do run on a multi-threaded runtime.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    let out = rt.block_on(async move {
        tokio::spawn(async move {
            let db = registry.breaker("db");
            db.call(async {
                tokio::task::yield_now().await;
                Ok::<_, std::io::Error>(7)
            })
            .await
        })
        .await
    });
    assert_eq!(out.unwrap().unwrap(), 7);
}

#[test]
fn a_served_fallback_logs_its_breaker_reason_and_data_source() {
    capture(|c| {
        let clock = ManualClock::new();
        let registry = registry(&clock);
        let db = registry.breaker("db");
        db.force_open();
        block_on(async {
            let _ = db
                .call_or_else(
                    &breaker_runtime::Policy::new(),
                    breaker_runtime::FallbackOn::Any,
                    async { Ok::<u32, ()>(1) },
                    |_| async { Ok(2) },
                )
                .await;
            let _ = db.call_or(breaker_runtime::FallbackOn::Any, async { Ok::<u32, ()>(1) }, 3).await;
            let cache = breaker_runtime::StaleCache::new(Duration::from_secs(60));
            cache.put("k", 4u32);
            let _ = cache.call(&db, "k", breaker_runtime::FallbackOn::Any, async { Ok::<u32, ()>(1) }).await;
        });
        let served = c.events_starting("circuit breaker fallback served");
        let sources: Vec<(&str, &str, &str)> =
            served.iter().map(|e| (e.field("breaker"), e.field("reason"), e.field("source"))).collect();
        assert_eq!(
            sources,
            [("db", "rejected", "fallback_fn"), ("db", "rejected", "value"), ("db", "rejected", "stale_cache")]
        );
    });
}

#[test]
fn the_retry_queue_logs_its_depth_while_the_dependency_is_down_and_a_full_queue_at_error() {
    capture(|c| {
        let clock = ManualClock::new();
        let registry = registry(&clock);
        let db = registry.breaker("db");
        block_on(async {
            let queue = breaker_runtime::RetryQueue::new(db.clone(), 2, |_: u32| async { Ok::<_, ()>(()) });
            db.force_open();
            queue.send(1).unwrap();
            queue.send(2).unwrap();
            assert!(queue.send(3).is_err());
            let _ = queue.shutdown(breaker_runtime::Shutdown::HandBack(Duration::ZERO)).await;
        });
        let queued = c.events_starting("message queued while the dependency is down");
        let depths: Vec<&str> = queued.iter().map(|e| e.field("queue_depth")).collect();
        assert_eq!(depths, ["1", "2"]);
        let full = c.events_starting("retry queue full");
        assert_eq!(full.len(), 1);
        assert_eq!(full[0].level, tracing::Level::ERROR);
        assert_eq!(full[0].field("queue_depth"), "2");
    });
}

#[test]
fn half_open_after_the_wait_logs_how_long_the_breaker_was_open() {
    capture(|c| {
        let clock = ManualClock::new();
        let registry = registry(&clock);
        let db = registry.breaker("db");
        for _ in 0..2 {
            let _ = db.call_blocking(|| Err::<(), _>("down"));
        }
        clock.advance(Duration::from_millis(12_500));
        let _ = db.call_blocking(|| Ok::<_, ()>(()));
        let half_open = c.events_starting("circuit breaker half-open after");
        assert_eq!(half_open.len(), 1, "{:?}", c.events());
        assert_eq!(half_open[0].field("elapsed_seconds"), "12.5");
        assert_eq!(half_open[0].field("breaker"), "db");
    });
}

#[test]
fn the_level_of_an_opening_is_configurable() {
    capture(|c| {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).open_log_level(Level::ERROR).build().unwrap();
        registry.configure("db", quick()).unwrap();
        let db = registry.breaker("db");
        for _ in 0..2 {
            let _ = db.call_blocking(|| Err::<(), _>("down"));
        }
        let opened = c.events_starting("circuit breaker opened");
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].level, Level::ERROR);
    });
}
