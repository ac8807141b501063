//! Every metric `breaker-runtime` documents, observed through a `DebuggingRecorder`.
//!
//! Handles bind to the recorder installed when a breaker is created, and transition counters
//! are looked up when a transition happens, so each test installs a thread-local recorder for
//! its whole body and runs async code on a current-thread runtime on the same thread.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use breaker_runtime::metrics as names;
use breaker_runtime::testing::ManualClock;
use breaker_runtime::{
    Classifier, Config, ConfigBuilder, FallbackOn, Outcome, Policy, Registry, Retry, StaleCache, State,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;

type Labels = Vec<(String, String)>;

/// One snapshot of the recorder, with lookups by name and exact label set.
struct Recorded(Vec<(MetricKind, String, Labels, DebugValue)>);

impl Recorded {
    /// Takes a snapshot. Histograms are drained by every snapshot.
    fn take(snapshotter: &Snapshotter) -> Recorded {
        let entries = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let mut labels: Labels =
                    key.key().labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
                labels.sort();
                (key.kind(), key.key().name().to_owned(), labels, value)
            })
            .collect();
        Recorded(entries)
    }

    fn find(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        let mut wanted: Labels = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        wanted.sort();
        self.0.iter().find(|(k, n, l, _)| *k == kind && n == name && *l == wanted).map(|(_, _, _, v)| v)
    }

    fn missing(&self, name: &str, labels: &[(&str, &str)]) -> ! {
        let seen: Vec<String> = self.0.iter().map(|(_, n, l, v)| format!("{n}{l:?} = {v:?}")).collect();
        panic!("no metric {name}{labels:?}; recorded:\n{}", seen.join("\n"))
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(MetricKind::Counter, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            _ => self.missing(name, labels),
        }
    }

    /// A counter that may never have been registered (a transition that never happened).
    fn counter_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(MetricKind::Counter, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            _ => 0,
        }
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(MetricKind::Gauge, name, labels) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            _ => self.missing(name, labels),
        }
    }

    /// Values recorded since the previous snapshot.
    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.find(MetricKind::Histogram, name, labels) {
            Some(DebugValue::Histogram(v)) => v.iter().map(|f| f.into_inner()).collect(),
            _ => self.missing(name, labels),
        }
    }
}

fn state(snapshotter: &Snapshotter, breaker: &str) -> f64 {
    Recorded::take(snapshotter).gauge(names::STATE, &[("breaker", breaker)])
}

fn registry(clock: &ManualClock, name: &'static str, config: ConfigBuilder) -> Registry {
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    registry.configure(name, config).unwrap();
    registry
}

/// Trips after two failures, waits 10 s, closes after one successful probe.
fn quick() -> ConfigBuilder {
    Config::builder().consecutive_failures(2).wait(Duration::from_secs(10)).half_open_permits(1).success_threshold(1)
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap()
}

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

fn fail() -> Result<(), &'static str> {
    Err("boom")
}

#[test]
fn state_gauge_is_set_at_creation_and_follows_every_state() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let clock = ManualClock::new();
    let registry = registry(&clock, "db", quick());

    let db = registry.breaker("db");
    assert_eq!(state(&snapshotter, "db"), 0.0);

    for _ in 0..2 {
        db.call_blocking(fail).unwrap_err();
    }
    assert_eq!(db.state(), State::Open);
    assert_eq!(state(&snapshotter, "db"), 1.0);

    clock.advance(Duration::from_secs(10));
    db.call_blocking(|| {
        // The probe runs while the breaker is half-open.
        assert_eq!(state(&snapshotter, "db"), 2.0);
        Ok::<_, ()>(())
    })
    .unwrap();
    assert_eq!(state(&snapshotter, "db"), 0.0);

    db.force_open();
    assert_eq!(state(&snapshotter, "db"), 3.0);
    db.disable();
    assert_eq!(state(&snapshotter, "db"), 4.0);
    db.metrics_only();
    assert_eq!(state(&snapshotter, "db"), 5.0);
    db.reset();
    assert_eq!(state(&snapshotter, "db"), 0.0);

    // A breaker created again under a name whose gauge says forced open starts at closed: the
    // gauge is set when the breaker is created, not only on its first transition.
    db.force_open();
    assert_eq!(state(&snapshotter, "db"), 3.0);
    registry.remove("db").unwrap();
    let again = registry.breaker("db");
    assert_eq!(again.state(), State::Closed);
    assert_eq!(state(&snapshotter, "db"), 0.0);
}

#[test]
fn transitions_and_openings_are_counted_with_from_to_and_reason() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let clock = ManualClock::new();
    let registry = registry(&clock, "db", quick().max_half_open(Duration::from_secs(5)));
    let db = registry.breaker("db");

    // closed -> open (consecutive failures)
    db.call_blocking(fail).unwrap_err();
    db.call_blocking(fail).unwrap_err();
    // open -> half-open -> open (probe failed)
    clock.advance(Duration::from_secs(10));
    db.call_blocking(fail).unwrap_err();
    // open -> half-open -> open (half-open timeout: the probe never reports)
    clock.advance(Duration::from_secs(10));
    let stuck = db.core().try_acquire().unwrap();
    clock.advance(Duration::from_secs(5));
    assert!(db.call_blocking(|| Ok::<_, ()>(())).unwrap_err().is_rejected());
    drop(stuck);
    // open -> half-open -> closed
    clock.advance(Duration::from_secs(10));
    db.call_blocking(|| Ok::<_, ()>(())).unwrap();
    // manual states: not openings
    db.force_open();
    db.reset();

    let m = Recorded::take(&snapshotter);
    let t = |from, to| m.counter_or_zero(names::STATE_TRANSITIONS, &[("breaker", "db"), ("from", from), ("to", to)]);
    assert_eq!(t("closed", "open"), 1);
    assert_eq!(t("open", "half_open"), 3);
    assert_eq!(t("half_open", "open"), 2);
    assert_eq!(t("half_open", "closed"), 1);
    assert_eq!(t("closed", "forced_open"), 1);
    assert_eq!(t("forced_open", "closed"), 1);
    assert_eq!(t("open", "closed"), 0);
    let opened = |reason| m.counter_or_zero(names::OPENED, &[("breaker", "db"), ("reason", reason)]);
    assert_eq!(opened("consecutive_failures"), 1);
    assert_eq!(opened("probe_failed"), 1);
    assert_eq!(opened("half_open_timeout"), 1);
    assert_eq!(opened("force_open"), 0, "forcing open is not an opening by a trip");
    let all_openings: u64 =
        m.0.iter()
            .filter(|(_, n, _, _)| n == names::OPENED)
            .map(|(_, _, _, v)| match v {
                DebugValue::Counter(n) => *n,
                _ => 0,
            })
            .sum();
    assert_eq!(all_openings, 3);
}

#[test]
fn rate_trips_are_counted_by_their_reason() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let clock = ManualClock::new();
    let rates = || Config::builder().consecutive_failures(0).count_window(4).minimum_calls(4);
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    registry.configure("failing", rates().failure_rate(0.5)).unwrap();
    registry
        .configure("slow", rates().without_failure_rate().slow_call(Duration::from_secs(1)).slow_call_rate(0.5))
        .unwrap();

    let failing = registry.breaker("failing");
    for ok in [true, false, true, false] {
        let _ = failing.call_blocking(|| if ok { Ok(()) } else { Err(()) });
    }
    let slow = registry.breaker("slow");
    for slow_call in [false, true, false, true] {
        slow.call_blocking(|| {
            if slow_call {
                clock.advance(Duration::from_secs(2));
            }
            Ok::<_, ()>(())
        })
        .unwrap();
    }
    assert_eq!((failing.state(), slow.state()), (State::Open, State::Open));

    let m = Recorded::take(&snapshotter);
    assert_eq!(m.counter(names::OPENED, &[("breaker", "failing"), ("reason", "failure_rate")]), 1);
    assert_eq!(m.counter(names::OPENED, &[("breaker", "slow"), ("reason", "slow_call_rate")]), 1);
    assert_eq!(m.gauge(names::STATE, &[("breaker", "failing")]), 1.0);
    assert_eq!(m.gauge(names::STATE, &[("breaker", "slow")]), 1.0);
}

#[test]
fn calls_are_counted_by_outcome_and_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let registry = Registry::new();
    registry.configure("api", Config::builder().consecutive_failures(0).without_failure_rate()).unwrap();
    let api = registry.breaker("api");

    paused_runtime().block_on(async {
        let ignore_404 = Policy::new().classify(Classifier::<(), u16>::new().ignore_if(|status| *status == 404));
        api.call(async { Ok::<_, ()>(()) }).await.unwrap();
        api.call(async { Ok::<_, ()>(()) }).await.unwrap();
        api.call(async { Err::<(), _>("502") }).await.unwrap_err();
        api.call_with(&ignore_404, async { Err(404) }).await.unwrap_err();
        let timed_out = api
            .call_with(&Policy::new().timeout(Duration::from_secs(1)), async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, ()>(())
            })
            .await;
        assert!(timed_out.unwrap_err().is_timeout());
        api.force_open();
        api.call(async { Ok::<_, ()>(()) }).await.unwrap_err();
        api.call_blocking(|| Ok::<_, ()>(())).unwrap_err();
    });

    let m = Recorded::take(&snapshotter);
    let calls = |outcome| m.counter(names::CALLS, &[("breaker", "api"), ("outcome", outcome)]);
    assert_eq!(calls("success"), 2);
    assert_eq!(calls("failure"), 1);
    assert_eq!(calls("ignored"), 1);
    assert_eq!(calls("timeout"), 1);
    assert_eq!(calls("rejected"), 2);
    // Every admitted call is timed, the timed-out one too (it is the slowest of all); rejected
    // calls are not.
    let durations = m.histogram(names::CALL_DURATION, &[("breaker", "api")]);
    assert_eq!(durations.len(), 5, "{durations:?}");
    assert!(durations.iter().all(|d| d.is_finite() && *d >= 0.0), "{durations:?}");
}

/// The recorded duration is the call's real duration in seconds, whichever clock times it
/// (the CPU's counter where trusted, else `Instant`): a wrongly scaled counter fails this.
#[test]
fn a_recorded_duration_is_the_calls_real_duration_in_seconds() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let api = Registry::new().breaker("api");
    let started = std::time::Instant::now();
    api.call_blocking(|| {
        std::thread::sleep(Duration::from_millis(30));
        Ok::<_, ()>(())
    })
    .unwrap();
    let real = started.elapsed().as_secs_f64();
    api.call_blocking(|| Ok::<_, ()>(())).unwrap();

    let durations = Recorded::take(&snapshotter).histogram(names::CALL_DURATION, &[("breaker", "api")]);
    let [slept, quick] = durations[..] else { panic!("{durations:?}") };
    // At most the time around it, with 1% for the counter's calibrated rate.
    assert!((0.030..=real * 1.01).contains(&slept), "a 30 ms call recorded {slept} s (it took {real} s in all)");
    assert!(quick < 0.030, "a call that does nothing recorded {quick} s");
}

#[test]
fn a_panicking_call_is_counted_and_timed_as_a_failure_whichever_poll_panics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let registry = Registry::new();
    registry.configure("api", Config::builder().consecutive_failures(0).without_failure_rate()).unwrap();
    let api = registry.breaker("api");
    let panics = |first_poll: bool| {
        let mut polled = false;
        let mut call = std::pin::pin!(api.call(std::future::poll_fn(move |_| {
            if first_poll || polled {
                panic!("dependency exploded");
            }
            polled = true;
            Poll::<Result<(), ()>>::Pending
        })));
        if !first_poll {
            assert!(poll_once(call.as_mut()).is_pending());
        }
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(call.as_mut()))).unwrap_err();
    };
    panics(true);
    panics(false);

    let m = Recorded::take(&snapshotter);
    assert_eq!(m.counter(names::CALLS, &[("breaker", "api"), ("outcome", "failure")]), 2);
    assert_eq!(m.histogram(names::CALL_DURATION, &[("breaker", "api")]).len(), 2);
    assert_eq!(api.snapshot().failed_calls, 2, "recorded in the breaker too");
    assert_eq!(api.snapshot().permits_in_use, 0);
}

#[test]
fn with_metrics_off_nothing_is_registered_or_recorded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let registry = Registry::builder().metrics(false).capacity(1).build().unwrap();
    registry.configure("api", Config::builder().consecutive_failures(1)).unwrap();
    let api = registry.breaker("api");
    api.call_blocking(|| Ok::<_, ()>(())).unwrap();
    let _ = api.call_blocking(|| Err::<(), _>(()));
    let _ = api.call_blocking(|| Ok::<_, ()>(()));
    assert_eq!(api.state(), State::Open);
    registry.breaker("one-too-many"); // served by the overflow breaker, not counted either

    let m = Recorded::take(&snapshotter);
    assert!(m.0.is_empty(), "metrics(false) registered series: {:?}", m.0.iter().map(|e| &e.1).collect::<Vec<_>>());
}

#[test]
fn blocking_timeouts_are_counted_and_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    let api = registry.breaker("api");
    let policy = Policy::new().timeout(Duration::from_secs(1));
    let r = api.call_blocking_with(&policy, || {
        // A blocking call cannot be interrupted: the timeout is enforced after the fact, by
        // the breaker's clock.
        clock.advance(Duration::from_millis(1001));
        Ok::<_, ()>(())
    });
    assert!(r.unwrap_err().is_timeout());
    let r = api.call_blocking_with(&policy, || {
        clock.advance(Duration::from_millis(1000));
        Ok::<_, ()>(())
    });
    assert!(r.is_ok(), "exactly the timeout is not over it");

    let m = Recorded::take(&snapshotter);
    assert_eq!(m.counter(names::CALLS, &[("breaker", "api"), ("outcome", "timeout")]), 1);
    assert_eq!(m.counter(names::CALLS, &[("breaker", "api"), ("outcome", "success")]), 1);
    assert_eq!(m.histogram(names::CALL_DURATION, &[("breaker", "api")]).len(), 2);
    assert_eq!(api.snapshot().failed_calls, 1);
}

#[test]
fn fallbacks_are_counted_by_reason_and_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let registry = Registry::new();
    let feed = registry.breaker("feed");

    paused_runtime().block_on(async {
        let any = Policy::new().timeout(Duration::from_secs(1));
        let stale = |_| async { Ok::<_, &str>("stale") };
        let r = feed.call_or_else(&any, FallbackOn::Any, async { Err("502") }, stale).await;
        assert_eq!(r.unwrap(), "stale");
        let slow = async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok("fresh")
        };
        let r = feed.call_or_else(&any, FallbackOn::Any, slow, stale).await;
        assert_eq!(r.unwrap(), "stale");
        // Not covered: no fallback ran, none is counted.
        let r = feed.call_or_else(&any, FallbackOn::Rejected, async { Err("502") }, stale).await;
        assert_eq!(r.unwrap_err().into_failed(), Some("502"));

        let cache = StaleCache::new(Duration::from_secs(60));
        cache.call(&feed, "k", FallbackOn::Any, async { Ok::<_, &str>(1) }).await.unwrap();
        feed.force_open();
        assert_eq!(cache.call(&feed, "k", FallbackOn::Rejected, async { Ok::<_, &str>(2) }).await.unwrap(), 1);
        assert_eq!(feed.call_or(FallbackOn::Rejected, async { Ok::<_, &str>(3) }, 4).await.unwrap(), 4);
    });

    let m = Recorded::take(&snapshotter);
    let fallbacks = |reason| m.counter(names::FALLBACKS, &[("breaker", "feed"), ("reason", reason)]);
    assert_eq!(fallbacks("failure"), 1);
    assert_eq!(fallbacks("timeout"), 1);
    assert_eq!(fallbacks("rejected"), 2);
    assert_eq!(m.histogram(names::FALLBACK_DURATION, &[("breaker", "feed")]).len(), 4);
}

#[test]
fn probes_are_counted_by_result() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let clock = ManualClock::new();
    let registry = registry(&clock, "db", quick().consecutive_failures(1));
    let db = registry.breaker("db");
    let ignore = Policy::new().classify(|_: &Result<(), &str>| Outcome::Ignored);
    let open_and_wait = || {
        db.call_blocking(fail).unwrap_err();
        assert_eq!(db.state(), State::Open);
        clock.advance(Duration::from_secs(10));
    };

    open_and_wait();
    // A cancelled probe: the future is dropped while the dependency has not answered.
    {
        let mut call = pin!(db.call(std::future::pending::<Result<(), &str>>()));
        assert!(poll_once(call.as_mut()).is_pending());
        assert_eq!(db.snapshot().permits_in_use, 1);
    }
    assert_eq!(db.snapshot().permits_in_use, 0);
    // An ignored probe frees its slot too; the breaker stays half-open.
    db.call_blocking_with(&ignore, fail).unwrap_err();
    assert_eq!(db.state(), State::HalfOpen);
    db.call_blocking(fail).unwrap_err();
    assert_eq!(db.state(), State::Open);
    clock.advance(Duration::from_secs(10));
    db.call_blocking(|| Ok::<_, &str>(())).unwrap();
    assert_eq!(db.state(), State::Closed);
    // A call while closed is no probe.
    db.call_blocking(|| Ok::<_, &str>(())).unwrap();

    let m = Recorded::take(&snapshotter);
    let probes = |result| m.counter(names::PROBE_ATTEMPTS, &[("breaker", "db"), ("result", result)]);
    assert_eq!(probes("cancelled"), 1);
    assert_eq!(probes("ignored"), 1);
    assert_eq!(probes("failure"), 1);
    assert_eq!(probes("success"), 1);
}

#[test]
fn a_probe_that_times_out_is_a_failed_probe() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let clock = ManualClock::new();
    let registry = registry(&clock, "db", quick().consecutive_failures(1));
    let db = registry.breaker("db");
    db.call_blocking(fail).unwrap_err();
    clock.advance(Duration::from_secs(10));
    paused_runtime().block_on(async {
        let policy = Policy::new().timeout(Duration::from_secs(1));
        let r = db.call_with(&policy, std::future::pending::<Result<(), ()>>()).await;
        assert!(r.unwrap_err().is_timeout());
    });
    assert_eq!(db.state(), State::Open);
    let m = Recorded::take(&snapshotter);
    assert_eq!(m.counter(names::PROBE_ATTEMPTS, &[("breaker", "db"), ("result", "failure")]), 1);
    assert_eq!(m.counter(names::OPENED, &[("breaker", "db"), ("reason", "probe_failed")]), 1);
}

#[test]
fn retries_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let registry = Registry::new();
    registry.configure("orders", Config::builder().consecutive_failures(0).without_failure_rate()).unwrap();
    let orders = registry.breaker("orders");
    paused_runtime().block_on(async {
        let retry = Retry::new(3, Duration::from_millis(100));
        let r = orders.call_retrying(&Policy::new(), &retry, || async { Err::<(), _>("502") }).await;
        assert_eq!(r.unwrap_err().into_failed(), Some("502"));
        // Rejections are not retried, and not counted as retries.
        orders.force_open();
        let r = orders.call_retrying(&Policy::new(), &retry, || async { Err::<(), _>("502") }).await;
        assert!(r.unwrap_err().is_rejected());
    });
    let m = Recorded::take(&snapshotter);
    assert_eq!(m.counter(names::RETRY_ATTEMPTS, &[("breaker", "orders")]), 2);
    assert_eq!(m.counter(names::CALLS, &[("breaker", "orders"), ("outcome", "failure")]), 3);
    assert_eq!(m.counter(names::CALLS, &[("breaker", "orders"), ("outcome", "rejected")]), 1);
}

#[test]
fn every_metric_carries_the_breaker_label_and_every_documented_name_is_emitted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let clock = ManualClock::new();
    let registry = registry(&clock, "a", quick());
    let a = registry.breaker("a");
    let b = registry.breaker("b");
    paused_runtime().block_on(async {
        a.call_blocking(fail).unwrap_err();
        a.call_blocking(fail).unwrap_err();
        a.call_or(FallbackOn::Rejected, async { Ok::<_, ()>(0) }, 1).await.unwrap();
        clock.advance(Duration::from_secs(10));
        a.call(async { Ok::<_, ()>(()) }).await.unwrap();
        b.call_retrying(&Policy::new(), &Retry::new(2, Duration::ZERO), || async { Err::<(), _>(()) })
            .await
            .unwrap_err();
    });

    let m = Recorded::take(&snapshotter);
    // The registry's own metrics have no breaker to name (documented so).
    let registry_wide = [names::DEGRADATION_LEVEL, names::CONFIG_RELOADS, names::REGISTRY_OVERFLOW];
    for (_, name, labels, _) in m.0.iter().filter(|(_, n, _, _)| !registry_wide.contains(&n.as_str())) {
        assert!(name.starts_with("circuit_breaker_"), "{name}");
        let breaker = labels.iter().find(|(k, _)| k == names::LABEL_BREAKER);
        assert!(matches!(breaker, Some((_, v)) if v == "a" || v == "b"), "{name}{labels:?} lacks the `breaker` label");
    }
    let mut seen: Vec<&str> = m.0.iter().map(|(_, n, _, _)| n.as_str()).collect();
    seen.sort_unstable();
    seen.dedup();
    let mut documented = vec![
        names::STATE,
        names::STATE_TRANSITIONS,
        names::CALLS,
        names::OPENED,
        names::CALL_DURATION,
        names::FALLBACKS,
        names::FALLBACK_DURATION,
        names::PROBE_ATTEMPTS,
        names::RETRY_ATTEMPTS,
        names::FAILURE_RATE,
        names::SLOW_CALL_RATE,
        names::STATE_SINCE,
        names::OPEN_DURATION,
        names::DEGRADATION_LEVEL,
    ];
    documented.sort_unstable();
    assert_eq!(seen, documented);
}

#[test]
fn calls_through_a_disabled_registry_are_still_measured() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let env = breaker_runtime::sources::from_env_vars([("CIRCUIT_BREAKER_ENABLED", "false")]).unwrap();
    let registry = Registry::builder().env_config(env).build().unwrap();
    let api = registry.breaker("api");
    assert_eq!(api.state(), State::MetricsOnly);
    for _ in 0..10 {
        api.call_blocking(fail).unwrap_err();
    }
    assert_eq!(api.state(), State::MetricsOnly);
    let m = Recorded::take(&snapshotter);
    assert_eq!(m.gauge(names::STATE, &[("breaker", "api")]), 5.0);
    assert_eq!(m.counter(names::CALLS, &[("breaker", "api"), ("outcome", "failure")]), 10);
    assert_eq!(m.counter_or_zero(names::OPENED, &[("breaker", "api"), ("reason", "consecutive_failures")]), 0);
}

#[test]
fn the_state_gauge_ends_equal_to_the_state_under_concurrent_transitions() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let registry = Registry::new();
    registry.configure("db", Config::builder().consecutive_failures(1)).unwrap();
    let db = registry.breaker("db"); // handles bind to the recorder here
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let db = db.clone();
            std::thread::spawn(move || {
                for round in 0..2_000u32 {
                    match (i + round) % 4 {
                        0 => db.force_open(),
                        1 => db.reset(),
                        2 => db.metrics_only(),
                        _ => {
                            let _ = db.call_blocking(|| Err::<(), _>("down"));
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let m = Recorded::take(&snapshotter);
    assert_eq!(m.gauge(names::STATE, &[("breaker", "db")]), f64::from(db.state().code()));
}
