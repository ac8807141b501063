//! The metrics always agree with the breaker: after every kind of outcome, on every path
//! (`call` on its first poll and on a later one, `call` with a timeout, `call_blocking`, the
//! tower layer), panics included, the calls counted as failures (and timeouts) are exactly the
//! failures the breaker recorded.
//!
//! A panic is a failure wherever it happens: in the protected code or in the classifier, and
//! whether the panic keeps unwinding through the caller or is caught around the call (as
//! panic-catching middleware does) and the call dropped later.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use breaker_runtime::metrics as names;
use breaker_runtime::testing::ManualClock;
use breaker_runtime::tower::CircuitBreakerLayer;
use breaker_runtime::{Breaker, Config, Outcome, Policy, Registry};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use tower::{Layer, Service};

/// What one call does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Succeed,
    Fail,
    Ignore,
    /// The call returns a value its classifier panics on.
    ClassifierPanics,
    /// The protected code panics.
    BodyPanics,
    TimesOut,
    Cancelled,
}

const ACTS: [Act; 7] =
    [Act::Succeed, Act::Fail, Act::Ignore, Act::ClassifierPanics, Act::BodyPanics, Act::TimesOut, Act::Cancelled];

type Res = Result<u32, &'static str>;

fn classify(result: &Res) -> Outcome {
    match result {
        Ok(0) => panic!("a classifier bug"),
        Ok(_) => Outcome::Success,
        Err("ignore") => Outcome::Ignored,
        Err(_) => Outcome::Failure,
    }
}

/// What the protected code returns (or how it panics).
fn body(act: Act) -> Res {
    match act {
        Act::Succeed | Act::TimesOut | Act::Cancelled => Ok(1),
        Act::Fail => Err("boom"),
        Act::Ignore => Err("ignore"),
        Act::ClassifierPanics => Ok(0),
        Act::BodyPanics => panic!("dependency exploded"),
    }
}

/// The `outcome` label a call should be counted under, if any.
fn expected_label(act: Act) -> Option<&'static str> {
    match act {
        Act::Succeed => Some("success"),
        Act::Fail | Act::ClassifierPanics | Act::BodyPanics => Some("failure"),
        Act::Ignore => Some("ignored"),
        Act::TimesOut => Some("timeout"),
        Act::Cancelled => None,
    }
}

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A future that is pending `pending` times, then runs [`body`].
async fn protected(act: Act, pending: u32) -> Res {
    for _ in 0..pending {
        let mut once = false;
        std::future::poll_fn(|_| if std::mem::replace(&mut once, true) { Poll::Ready(()) } else { Poll::Pending })
            .await;
    }
    body(act)
}

/// Polls `fut` until ready inside `catch_unwind`, and drops it only after the panic (if any)
/// was caught: what a panic-catching caller does. `cancel`: poll once, then drop it.
fn drive<F: Future>(fut: F, cancel: bool) {
    let mut fut = pin!(fut);
    if cancel {
        assert!(poll_once(fut.as_mut()).is_pending());
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| while poll_once(fut.as_mut()).is_pending() {}));
}

/// One call through `path`.
fn run(path: &str, api: &Breaker, clock: &ManualClock, rt: &tokio::runtime::Runtime, act: Act) {
    let cancel = act == Act::Cancelled;
    match path {
        "call (ready at once)" | "call (ready later)" => {
            let pending = u32::from(path == "call (ready later)" || cancel);
            if act == Act::TimesOut {
                let policy = Policy::new().timeout(Duration::from_secs(1)).classify(classify);
                let slow = async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    body(act)
                };
                assert!(rt.block_on(api.call_with(&policy, slow)).unwrap_err().is_timeout());
            } else {
                let policy = Policy::new().classify(classify);
                drive(api.call_with(&policy, protected(act, pending)), cancel);
            }
        }
        "call with a timeout" => {
            let policy = Policy::new().timeout(Duration::from_secs(1)).classify(classify);
            let _rt = rt.enter();
            if act == Act::TimesOut {
                let slow = async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    body(act)
                };
                assert!(rt.block_on(api.call_with(&policy, slow)).unwrap_err().is_timeout());
            } else {
                drive(api.call_with(&policy, protected(act, u32::from(cancel))), cancel);
            }
        }
        "call_blocking" => {
            if cancel {
                return; // a blocking call cannot be cancelled
            }
            let policy = Policy::new().timeout(Duration::from_secs(1)).classify(classify);
            let _ = catch_unwind(AssertUnwindSafe(|| {
                api.call_blocking_with(&policy, || {
                    if act == Act::TimesOut {
                        clock.advance(Duration::from_secs(2));
                    }
                    body(act)
                })
            }));
        }
        "tower layer" => {
            if act == Act::TimesOut {
                return; // the layer has no timeout of its own
            }
            let inner = tower::service_fn(move |act: Act| protected(act, u32::from(act == Act::Cancelled)));
            let mut svc = CircuitBreakerLayer::new(api.clone()).classify(classify).layer(inner);
            assert!(svc.poll_ready(&mut Context::from_waker(Waker::noop())).is_ready());
            drive(svc.call(act), cancel);
        }
        other => unreachable!("{other}"),
    }
}

fn counter(snapshotter: &Snapshotter, outcome: &str) -> u64 {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find_map(|(key, _, _, value)| {
            let labels: Vec<_> = key.key().labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            let wanted = labels.iter().any(|(k, v)| k == "outcome" && v == outcome);
            (key.kind() == MetricKind::Counter && key.key().name() == names::CALLS && wanted).then_some(value)
        })
        .map_or(0, |value| match value {
            DebugValue::Counter(n) => n,
            other => panic!("{other:?}"),
        })
}

#[test]
fn metrics_agree_with_the_breaker_after_every_outcome_on_every_path() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    // Silence the expected panics' messages.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));

    let mut problems = Vec::new();
    for path in ["call (ready at once)", "call (ready later)", "call with a timeout", "call_blocking", "tower layer"] {
        let clock = ManualClock::new();
        let registry = Registry::builder().clock(clock.clone()).build().unwrap();
        // Never opens, so every outcome lands in the window.
        let config = Config::builder().consecutive_failures(0).without_failure_rate().count_window(1000);
        registry.configure("api", config).unwrap();
        let api = registry.breaker("api");
        let label = |outcome: &str| -> u64 {
            // Each path has its own breaker but the recorder is shared: count this path's only.
            counter(&snapshotter, outcome)
        };
        let base = ["success", "failure", "ignored", "timeout"].map(label);
        for act in ACTS {
            let before = ["success", "failure", "ignored", "timeout"].map(label);
            run(path, &api, &clock, &rt, act);
            let now = ["success", "failure", "ignored", "timeout"].map(label);
            let delta: Vec<u64> = now.iter().zip(&before).map(|(n, b)| n - b).collect();
            let counted = ["success", "failure", "ignored", "timeout"]
                .iter()
                .zip(&delta)
                .filter(|(_, d)| **d != 0)
                .map(|(l, d)| format!("{l}+{d}"))
                .collect::<Vec<_>>();
            let skipped =
                (path == "call_blocking" && act == Act::Cancelled) || (path == "tower layer" && act == Act::TimesOut);
            let expected: Vec<String> =
                if skipped { vec![] } else { expected_label(act).map(|l| format!("{l}+1")).into_iter().collect() };
            if counted != expected {
                problems.push(format!("{path}, {act:?}: metrics counted {counted:?}, expected {expected:?}"));
            }
            let total = |i: usize| now[i] - base[i];
            let snapshot = api.snapshot();
            let (failures, recorded) = (total(1) + total(3), total(0) + total(1) + total(3));
            if u64::from(snapshot.failed_calls) != failures || u64::from(snapshot.calls_in_window) != recorded {
                problems.push(format!(
                    "{path}, after {act:?}: the breaker recorded {} failures in {} calls, the metrics {failures} in {recorded}",
                    snapshot.failed_calls, snapshot.calls_in_window
                ));
            }
            if snapshot.permits_in_use != 0 {
                problems.push(format!("{path}, after {act:?}: {} permits still in use", snapshot.permits_in_use));
            }
        }
    }
    std::panic::set_hook(hook);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn a_panic_in_the_inner_services_call_is_a_failure_and_frees_its_permit() {
    let registry = Registry::new();
    registry.configure("api", Config::builder().consecutive_failures(0).without_failure_rate()).unwrap();
    let api = registry.breaker("api");
    struct Explodes;
    impl Service<()> for Explodes {
        type Response = ();
        type Error = ();
        type Future = std::future::Ready<Result<(), ()>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, (): ()) -> Self::Future {
            panic!("the service exploded before returning a future")
        }
    }
    let mut svc = CircuitBreakerLayer::new(api.clone()).layer(Explodes);
    assert!(svc.poll_ready(&mut Context::from_waker(Waker::noop())).is_ready());
    catch_unwind(AssertUnwindSafe(|| drop(svc.call(())))).unwrap_err();
    assert_eq!(api.snapshot().failed_calls, 1, "a panic is a failure");
    assert_eq!(api.snapshot().permits_in_use, 0);
}
