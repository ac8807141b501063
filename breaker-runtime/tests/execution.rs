//! How calls run through a breaker: cancellation, panics, timeouts, classification,
//! concurrency, retries, fallbacks, stale caches and errors.

use std::future::{pending, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use breaker_runtime::testing::ManualClock;
use breaker_runtime::{
    Breaker, CallError, Classifier, Config, ConfigBuilder, FallbackOn, Outcome, Policy, Registry, Rejected, Retry,
    StaleCache, State, TimedOut,
};

/// Trips after `n` consecutive failures, waits 10 s, closes after one good probe.
fn trips_after(n: u32) -> ConfigBuilder {
    Config::builder().consecutive_failures(n).wait(Duration::from_secs(10)).half_open_permits(1).success_threshold(1)
}

fn breaker(clock: &ManualClock, config: ConfigBuilder) -> Breaker {
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    registry.configure("db", config).unwrap();
    registry.breaker("db")
}

/// Opens `b` with one failure and lets its wait pass: the next call is a probe.
fn half_open(b: &Breaker, clock: &ManualClock) {
    b.call_blocking(|| Err::<(), _>("down")).unwrap_err();
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(10));
}

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

fn ok() -> Result<(), &'static str> {
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cancellation

#[tokio::test(start_paused = true)]
async fn a_probe_cancelled_mid_call_frees_its_permit_and_the_next_probe_runs() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    half_open(&db, &clock);

    let abandoned = tokio::time::timeout(Duration::from_secs(1), db.call(pending::<Result<(), ()>>())).await;
    assert!(abandoned.is_err(), "the caller gave up, not the breaker");
    assert_eq!(db.state(), State::HalfOpen, "a cancelled probe decides nothing");
    assert_eq!(db.snapshot().permits_in_use, 0, "its slot is free");

    let ran = AtomicU32::new(0);
    db.call(async {
        ran.fetch_add(1, Ordering::SeqCst);
        ok()
    })
    .await
    .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(db.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_call_cancelled_while_closed_records_nothing() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    {
        let mut call = Box::pin(db.call(pending::<Result<(), ()>>()));
        assert!(poll_once(call.as_mut()).is_pending());
    }
    let s = db.snapshot();
    assert_eq!((s.state, s.calls_in_window, s.consecutive_failures), (State::Closed, 0, 0));
}

#[test]
fn a_call_future_never_polled_takes_no_permit() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    half_open(&db, &clock);
    drop(db.call(async { ok() }));
    assert_eq!(db.state(), State::Open, "no admission happened: still open, not half-open");
    assert_eq!(db.snapshot().permits_in_use, 0);
}

// ---------------------------------------------------------------------------------------------
// Panics

#[test]
fn a_panic_in_a_blocking_call_is_a_failure_and_keeps_unwinding() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    let caught = catch_unwind(AssertUnwindSafe(|| db.call_blocking::<(), (), _>(|| panic!("dependency exploded"))));
    let payload = caught.expect_err("the panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"dependency exploded"));
    assert_eq!(db.state(), State::Open, "recorded as a failure");
}

#[test]
fn a_panicking_probe_reopens_the_breaker() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    half_open(&db, &clock);
    catch_unwind(AssertUnwindSafe(|| db.call_blocking::<(), (), _>(|| panic!("probe exploded")))).unwrap_err();
    assert_eq!(db.state(), State::Open);
    assert_eq!(db.snapshot().permits_in_use, 0);
}

#[tokio::test]
async fn a_panic_in_a_spawned_protected_future_is_a_failure() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    let task_db = db.clone();
    let joined = tokio::spawn(async move {
        task_db
            .call(async {
                tokio::task::yield_now().await;
                if true {
                    panic!("dependency exploded");
                }
                ok()
            })
            .await
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(db.state(), State::Open, "recorded as a failure");
}

#[test]
fn a_panic_caught_around_the_future_is_a_failure_when_the_future_is_dropped_later() {
    // What panic-catching middleware does: `catch_unwind` around each poll, then drop the
    // future once the thread is no longer panicking.
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    let mut call = Box::pin(db.call(async {
        if true {
            panic!("dependency exploded");
        }
        ok()
    }));
    catch_unwind(AssertUnwindSafe(|| poll_once(call.as_mut()))).unwrap_err();
    drop(call);
    assert_eq!(db.state(), State::Open, "a panic is a failure, not a cancellation");
}

#[test]
fn a_call_polled_again_after_it_finished_or_unwound_panics_without_running_anything() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(3));
    let polls = AtomicU32::new(0);
    let polls = &polls;
    let counted = |panics: bool| {
        std::future::poll_fn(move |_| {
            polls.fetch_add(1, Ordering::SeqCst);
            if panics {
                panic!("dependency exploded");
            }
            Poll::Ready(ok())
        })
    };
    let mut finished = Box::pin(db.call(counted(false)));
    assert!(poll_once(finished.as_mut()).is_ready());
    let again = catch_unwind(AssertUnwindSafe(|| poll_once(finished.as_mut()))).unwrap_err();
    assert_eq!(again.downcast_ref::<&str>(), Some(&"`CallFuture` polled after completion"));

    let mut unwound = Box::pin(db.call(counted(true)));
    catch_unwind(AssertUnwindSafe(|| poll_once(unwound.as_mut()))).unwrap_err();
    let again = catch_unwind(AssertUnwindSafe(|| poll_once(unwound.as_mut()))).unwrap_err();
    assert_eq!(again.downcast_ref::<&str>(), Some(&"`CallFuture` polled after completion"));
    assert_eq!(polls.load(Ordering::SeqCst), 2, "neither body ran a second time");
    let snapshot = db.snapshot();
    assert_eq!((snapshot.calls_in_window, snapshot.failed_calls, snapshot.permits_in_use), (2, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_call_with_a_timeout_polled_again_after_its_poll_unwound_panics_without_running_anything() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(3));
    let polls = AtomicU32::new(0);
    let policy = Policy::new().timeout(Duration::from_secs(5));
    let mut unwound = Box::pin(db.call_with(
        &policy,
        std::future::poll_fn(|_| {
            if polls.fetch_add(1, Ordering::SeqCst) == 1 {
                panic!("dependency exploded");
            }
            Poll::<Result<(), &str>>::Pending
        }),
    ));
    assert!(poll_once(unwound.as_mut()).is_pending());
    catch_unwind(AssertUnwindSafe(|| poll_once(unwound.as_mut()))).unwrap_err();
    let again = catch_unwind(AssertUnwindSafe(|| poll_once(unwound.as_mut()))).unwrap_err();
    assert_eq!(again.downcast_ref::<&str>(), Some(&"`CallFuture` polled after completion"));
    assert_eq!(polls.load(Ordering::SeqCst), 2, "the body did not run a third time");
    drop(unwound);
    let snapshot = db.snapshot();
    assert_eq!((snapshot.calls_in_window, snapshot.failed_calls), (1, 1), "one failure, recorded once");
}

// ---------------------------------------------------------------------------------------------
// Timeouts

#[tokio::test(start_paused = true)]
async fn a_timeout_is_a_failure_with_the_name_and_duration() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    let policy = Policy::new().timeout(Duration::from_secs(2));
    let started = tokio::time::Instant::now();
    let r = db
        .call_with(&policy, async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            ok()
        })
        .await;
    assert_eq!(started.elapsed(), Duration::from_secs(2), "dropped at the deadline");
    let Err(CallError::Timeout(t)) = r else { panic!("{r:?}") };
    assert_eq!((t.name(), t.after()), ("db", Duration::from_secs(2)));
    assert_eq!(t.to_string(), "call through circuit breaker `db` timed out after 2.000s");
    assert_eq!(db.state(), State::Open, "a timeout is a failure");
}

#[tokio::test(start_paused = true)]
async fn a_call_finishing_before_its_timeout_is_not_affected() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    let policy = Policy::new().timeout(Duration::from_secs(2));
    let r = db
        .call_with(&policy, async {
            tokio::time::sleep(Duration::from_millis(1999)).await;
            Ok::<_, ()>(5)
        })
        .await;
    assert_eq!(r.unwrap(), 5);
    assert_eq!(db.state(), State::Closed);
}

#[test]
fn a_blocking_timeout_is_enforced_after_the_fact_by_the_breakers_clock() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    let policy = Policy::new().timeout(Duration::from_secs(2));
    let r = db.call_blocking_with(&policy, || {
        clock.advance(Duration::from_secs(3));
        Ok::<_, &str>("late")
    });
    assert_eq!(r.unwrap_err().to_string(), "call through circuit breaker `db` timed out after 2.000s");
    assert_eq!(db.state(), State::Open);
}

// ---------------------------------------------------------------------------------------------
// Classification

#[derive(Debug, PartialEq)]
enum HttpError {
    Status(u16),
    Connect,
    Cancelled,
}

#[tokio::test]
async fn a_classifier_decides_what_counts() {
    let clock = ManualClock::new();
    let db = breaker(&clock, Config::builder().consecutive_failures(0).count_window(100).minimum_calls(100));
    let classifier = Classifier::<u16, HttpError>::new()
        .failure_if(|e| matches!(e, HttpError::Connect | HttpError::Status(500..)))
        .success_if(|e| *e == HttpError::Status(404))
        .ignore_if(|e| *e == HttpError::Cancelled)
        .failure_if_ok(|status| *status == 503);
    let policy = Policy::new().classify(classifier);
    let run = |r: Result<u16, HttpError>| db.call_with(&policy, async move { r });

    // Errors: failure_if matches, success_if, ignore_if, and an error failure_if does not name.
    assert_eq!(run(Err(HttpError::Connect)).await.unwrap_err().into_failed(), Some(HttpError::Connect));
    run(Err(HttpError::Status(502))).await.unwrap_err();
    run(Err(HttpError::Status(404))).await.unwrap_err();
    run(Err(HttpError::Cancelled)).await.unwrap_err();
    run(Err(HttpError::Status(429))).await.unwrap_err();
    // Oks: a 503 inside Ok is a failure, and still returned as Ok.
    assert_eq!(run(Ok(503)).await.unwrap(), 503);
    assert_eq!(run(Ok(200)).await.unwrap(), 200);

    let s = db.snapshot();
    // Recorded: Connect, 502, 503 failed; 404, 429, 200 succeeded; Cancelled ignored.
    assert_eq!((s.calls_in_window, s.failed_calls), (6, 3));
}

#[test]
fn ignored_and_success_outcomes_do_not_trip() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(2));
    let policy = Policy::new().classify(|r: &Result<(), &str>| match r {
        Err("not found") => Outcome::Success,
        Err("cancelled") => Outcome::Ignored,
        Err(_) => Outcome::Failure,
        Ok(()) => Outcome::Success,
    });
    db.call_blocking_with(&policy, || Err("down")).unwrap_err();
    db.call_blocking_with(&policy, || Err("cancelled")).unwrap_err();
    assert_eq!(db.snapshot().consecutive_failures, 1, "ignored: the streak goes on");
    db.call_blocking_with(&policy, || Err("not found")).unwrap_err();
    assert_eq!(db.snapshot().consecutive_failures, 0, "a success: the streak is broken");
    db.call_blocking_with(&policy, || Err("down")).unwrap_err();
    assert_eq!(db.state(), State::Closed);
    db.call_blocking_with(&policy, || Err("down")).unwrap_err();
    assert_eq!(db.state(), State::Open);
}

// ---------------------------------------------------------------------------------------------
// Concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_against_a_half_open_breaker_send_exactly_the_permitted_probes() {
    const TASKS: usize = 1000;
    const PERMITS: u32 = 5;
    let clock = ManualClock::new();
    let db = breaker(
        &clock,
        Config::builder()
            .consecutive_failures(1)
            .wait(Duration::from_secs(10))
            .half_open_permits(PERMITS)
            .success_threshold(PERMITS),
    );
    half_open(&db, &clock);

    let start = Arc::new(tokio::sync::Barrier::new(TASKS));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let entered = Arc::new(AtomicU32::new(0));
    let rejected = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (db, start, gate, entered, rejected) =
                (db.clone(), start.clone(), gate.clone(), entered.clone(), rejected.clone());
            tokio::spawn(async move {
                start.wait().await;
                let r = db
                    .call(async {
                        entered.fetch_add(1, Ordering::SeqCst);
                        // Hold the probe until every other task has been turned away.
                        gate.acquire().await.unwrap().forget();
                        Ok::<_, ()>(())
                    })
                    .await;
                if matches!(&r, Err(e) if e.is_rejected()) {
                    rejected.fetch_add(1, Ordering::SeqCst);
                }
                r
            })
        })
        .collect();

    let everyone_answered = async {
        while rejected.load(Ordering::SeqCst) < TASKS - PERMITS as usize {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), everyone_answered).await.expect("the other tasks are rejected");
    assert_eq!(entered.load(Ordering::SeqCst), PERMITS, "exactly the permitted probes reach the dependency");
    assert_eq!(db.snapshot().permits_in_use, PERMITS);

    gate.add_permits(PERMITS as usize);
    let mut succeeded = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            succeeded += 1;
        }
    }
    assert_eq!(succeeded, PERMITS);
    assert_eq!(rejected.load(Ordering::SeqCst), TASKS - PERMITS as usize);
    assert_eq!(db.state(), State::Closed);
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test(start_paused = true)]
async fn retries_back_off_and_count_every_attempt() {
    let clock = ManualClock::new();
    let db = breaker(&clock, Config::builder().consecutive_failures(0).without_failure_rate());
    let attempts = AtomicU32::new(0);
    let started = tokio::time::Instant::now();
    let retry = Retry::new(4, Duration::from_millis(100));
    let r = db
        .call_retrying(&Policy::new(), &retry, || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("502")
        })
        .await;
    assert_eq!(r.unwrap_err().into_failed(), Some("502"));
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    assert_eq!(started.elapsed(), Duration::from_millis(100 + 200 + 400), "exponential backoff");
    assert_eq!(db.snapshot().failed_calls, 4, "every attempt went through the breaker");
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_once_when_the_breaker_opens() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(2));
    let attempts = AtomicU32::new(0);
    let retry = Retry::new(10, Duration::from_millis(100));
    let started = tokio::time::Instant::now();
    let r = db
        .call_retrying(&Policy::new(), &retry, || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("502")
        })
        .await;
    assert!(r.unwrap_err().is_rejected(), "the third attempt was rejected, and the loop ended there");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(started.elapsed(), Duration::from_millis(100 + 200), "no wait after the rejection");

    db.force_open();
    let r = db.call_retrying(&Policy::new(), &retry, || async { ok() }).await;
    assert!(r.unwrap_err().is_rejected());
    assert_eq!(started.elapsed(), Duration::from_millis(300), "an open breaker is not retried into");
}

#[tokio::test(start_paused = true)]
async fn retries_recover_from_timeouts_but_not_from_errors_that_are_not_failures() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(5));
    let attempts = AtomicU32::new(0);
    let policy = Policy::new().timeout(Duration::from_secs(1));
    let retry = Retry::new(3, Duration::from_millis(10));
    let r = db
        .call_retrying(&policy, &retry, || async {
            if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Ok::<_, ()>("second time lucky")
        })
        .await;
    assert_eq!(r.unwrap(), "second time lucky");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);

    let attempts = AtomicU32::new(0);
    let not_found_is_fine = Policy::new().classify(|r: &Result<(), u16>| match r {
        Err(404) => Outcome::Success,
        Err(_) => Outcome::Failure,
        Ok(()) => Outcome::Success,
    });
    let r = db
        .call_retrying(&not_found_is_fine, &retry, || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(404)
        })
        .await;
    assert_eq!(r.unwrap_err().into_failed(), Some(404));
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "a 404 would fail the same way again");
}

// ---------------------------------------------------------------------------------------------
// Fallbacks

#[tokio::test]
async fn fallback_on_rejected_covers_only_rejections_and_any_covers_everything() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(100));
    let policy = Policy::new();
    let fallback = |e: CallError<&'static str>| async move { Ok(e.kind()) };

    let r = db.call_or_else(&policy, FallbackOn::Rejected, async { Err("502") }, fallback).await;
    assert_eq!(r.unwrap_err().into_failed(), Some("502"), "a failure propagates");
    let r = db.call_or_else(&policy, FallbackOn::Any, async { Err("502") }, fallback).await;
    assert_eq!(r.unwrap(), "failure");
    let r = db.call_or_else(&policy, FallbackOn::Any, async { Ok("fresh") }, fallback).await;
    assert_eq!(r.unwrap(), "fresh", "no fallback on success");

    db.force_open();
    let ran = AtomicU32::new(0);
    let r = db
        .call_or_else(
            &policy,
            FallbackOn::Rejected,
            async {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok("fresh")
            },
            fallback,
        )
        .await;
    assert_eq!(r.unwrap(), "rejected");
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the dependency was not called");

    assert_eq!(db.call_or(FallbackOn::Rejected, async { Ok::<_, ()>(1) }, 42).await.unwrap(), 42);
    db.reset();
    assert_eq!(db.call_or(FallbackOn::Rejected, async { Ok::<_, ()>(1) }, 42).await.unwrap(), 1);
    assert_eq!(
        db.call_or(FallbackOn::Rejected, async { Err::<u8, _>(()) }, 42).await.unwrap_err().into_failed(),
        Some(())
    );
    assert_eq!(db.call_or(FallbackOn::Any, async { Err::<u8, _>(()) }, 42).await.unwrap(), 42);
}

#[tokio::test(start_paused = true)]
async fn fallback_on_any_covers_timeouts() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(100));
    let policy = Policy::new().timeout(Duration::from_secs(1));
    let r = db
        .call_or_else(&policy, FallbackOn::Any, pending::<Result<&str, ()>>(), |e| async move {
            assert!(e.is_timeout());
            Ok("cached")
        })
        .await;
    assert_eq!(r.unwrap(), "cached");
    let r =
        db.call_or_else(&policy, FallbackOn::Rejected, pending::<Result<&str, ()>>(), |_| async { Ok("cached") }).await;
    assert!(r.unwrap_err().is_timeout(), "`rejected` does not cover a timeout");
}

#[tokio::test(start_paused = true)]
async fn a_stale_cache_serves_the_last_good_value_within_max_age_only() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(100));
    let cache = StaleCache::new(Duration::from_secs(60));

    assert_eq!(cache.call(&db, "feed", FallbackOn::Any, async { Ok::<_, &str>(1) }).await.unwrap(), 1);
    assert_eq!(cache.get(&"feed"), Some(1));
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        cache.call(&db, "feed", FallbackOn::Any, async { Ok::<_, &str>(2) }).await.unwrap(),
        2,
        "fresh values win"
    );

    // Failures: served with `Any`, not with `Rejected`.
    assert_eq!(cache.call(&db, "feed", FallbackOn::Any, async { Err("502") }).await.unwrap(), 2);
    let r = cache.call(&db, "feed", FallbackOn::Rejected, async { Err("502") }).await;
    assert_eq!(r.unwrap_err().into_failed(), Some("502"));
    // Other keys have nothing to serve.
    let r = cache.call(&db, "other", FallbackOn::Any, async { Err("502") }).await;
    assert_eq!(r.unwrap_err().into_failed(), Some("502"));

    // Rejections: served with both while fresh.
    db.force_open();
    assert_eq!(cache.call(&db, "feed", FallbackOn::Rejected, async { Ok::<_, &str>(3) }).await.unwrap(), 2);
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        cache.call(&db, "feed", FallbackOn::Any, async { Ok::<_, &str>(3) }).await.unwrap(),
        2,
        "exactly max_age old"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    let r = cache.call(&db, "feed", FallbackOn::Any, async { Ok::<_, &str>(3) }).await;
    assert!(r.unwrap_err().is_rejected(), "too old to serve");
    assert_eq!(cache.get(&"feed"), None);
}

// ---------------------------------------------------------------------------------------------
// Errors

#[derive(Debug, thiserror::Error)]
enum ClientError {
    #[error("http status {0}")]
    Http(u16),
    #[error(transparent)]
    Rejected(#[from] Rejected),
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
}

impl From<CallError<ClientError>> for ClientError {
    fn from(e: CallError<ClientError>) -> Self {
        e.into_error()
    }
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("loading the feed")]
    Feed(#[from] CallError<std::io::Error>),
}

async fn fetch(db: &Breaker, status: u16) -> Result<u16, ClientError> {
    let status = db
        .call(async move {
            if status < 500 {
                Ok(status)
            } else {
                Err(ClientError::Http(status))
            }
        })
        .await?;
    Ok(status)
}

fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut next = e.source();
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out
}

#[tokio::test]
async fn call_errors_convert_with_question_mark_and_name_the_breaker() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    assert_eq!(fetch(&db, 200).await.unwrap(), 200);
    let e = fetch(&db, 503).await.unwrap_err();
    assert!(matches!(e, ClientError::Http(503)), "{e:?}");
    let e = fetch(&db, 200).await.unwrap_err();
    assert!(matches!(e, ClientError::Rejected(_)), "{e:?}");
    assert_eq!(e.to_string(), "circuit breaker `db` is open; retry after 10.000s");

    db.force_open();
    let e: Result<(), CallError<std::io::Error>> = db.call(async { Ok(()) }).await;
    let e = e.unwrap_err();
    assert_eq!(e.to_string(), "circuit breaker `db` is forced open");
    let boxed: Box<dyn std::error::Error + Send + Sync> = e.into();
    assert_eq!(boxed.to_string(), "circuit breaker `db` is forced open");
}

#[tokio::test]
async fn an_error_chain_does_not_repeat_itself() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    let failed: Result<(), CallError<std::io::Error>> =
        db.call(async { Err(std::io::Error::other("connection reset")) }).await;
    let app = AppError::from(failed.unwrap_err());
    assert_eq!(chain(&app), ["loading the feed", "connection reset"]);

    let rejected: Result<(), CallError<std::io::Error>> = db.call(async { Ok(()) }).await;
    let app = AppError::from(rejected.unwrap_err());
    assert_eq!(chain(&app), ["loading the feed", "circuit breaker `db` is open; retry after 10.000s"]);
}

#[test]
fn half_open_rejections_say_so() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(1));
    half_open(&db, &clock);
    let _probe = db.core().try_acquire().unwrap();
    let e = db.call_blocking(ok).unwrap_err();
    assert_eq!(e.to_string(), "circuit breaker `db` is half-open and all probe slots are taken");
    let CallError::Rejected(r) = e else { panic!() };
    assert_eq!((r.state(), r.retry_after()), (State::HalfOpen, None));
}

// ---------------------------------------------------------------------------------------------
// Blocking calls

#[test]
fn blocking_calls_record_trip_reject_and_recover() {
    let clock = ManualClock::new();
    let db = breaker(&clock, trips_after(2));
    assert_eq!(db.call_blocking(|| Ok::<_, ()>(1)).unwrap(), 1);
    assert_eq!(db.call_blocking(|| Err::<(), _>("a")).unwrap_err().into_failed(), Some("a"));
    assert_eq!(db.call_blocking(|| Err::<(), _>("b")).unwrap_err().into_failed(), Some("b"));
    assert_eq!(db.state(), State::Open);
    let ran = AtomicU32::new(0);
    let r = db.call_blocking(|| {
        ran.fetch_add(1, Ordering::SeqCst);
        ok()
    });
    let CallError::Rejected(rejected) = r.unwrap_err() else { panic!() };
    assert_eq!((rejected.name(), rejected.retry_after()), ("db", Some(Duration::from_secs(10))));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    clock.advance(Duration::from_secs(4));
    let CallError::Rejected(rejected) = db.call_blocking(ok).unwrap_err() else { panic!() };
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(6)));
    clock.advance(Duration::from_secs(6));
    db.call_blocking(ok).unwrap();
    assert_eq!(db.state(), State::Closed);

    let out = db.run_fallback_blocking(CallError::<()>::Failed(()), |e| e.kind().len());
    assert_eq!(out, "failure".len());
}
