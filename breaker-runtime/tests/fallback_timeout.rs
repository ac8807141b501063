//! A fallback is bounded: it runs under `Policy::fallback_timeout`, which defaults to the call's
//! own `timeout`. When it elapses the caller gets `CallError::Timeout` naming the fallback's
//! limit, so a hanging fallback cannot hold a caller past its deadline. Tokio's paused clock
//! makes the waits instant and exact.

use std::time::Duration;

use breaker_runtime::{CallError, FallbackOn, Policy, Registry};
use tokio::time::{sleep, Instant};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn a_hanging_fallback_is_cut_off_at_the_calls_timeout() {
    let registry = Registry::new();
    let feed = registry.breaker("feed");
    feed.force_open();
    let policy = Policy::new().timeout(Duration::from_secs(2));
    let started = Instant::now();
    let result = feed
        .call_or_else(&policy, FallbackOn::Any, async { Ok::<_, String>("fresh") }, |_| async {
            sleep(HOUR).await;
            Ok("from a fallback that hung")
        })
        .await;
    assert_eq!(started.elapsed(), Duration::from_secs(2), "bounded by the call's timeout");
    let Err(CallError::Timeout(t)) = result else { panic!("expected a timeout, got {result:?}") };
    assert_eq!(t.after(), Duration::from_secs(2));
    assert_eq!(t.name(), "feed");
}

#[tokio::test(start_paused = true)]
async fn the_fallback_has_its_own_timeout_when_set() {
    let registry = Registry::new();
    let feed = registry.breaker("feed");
    feed.force_open();
    let policy = Policy::new().timeout(Duration::from_secs(2)).fallback_timeout(Duration::from_millis(500));
    assert_eq!(policy.fallback_timeout_duration(), Some(Duration::from_millis(500)));
    let started = Instant::now();
    let result = feed
        .call_or_else(&policy, FallbackOn::Any, async { Ok::<_, String>("fresh") }, |_| async {
            sleep(HOUR).await;
            Ok("late")
        })
        .await;
    assert_eq!(started.elapsed(), Duration::from_millis(500));
    let Err(CallError::Timeout(t)) = result else { panic!("{result:?}") };
    assert_eq!(t.after(), Duration::from_millis(500));

    // Without a call timeout, the fallback's own still applies.
    let policy = Policy::new().fallback_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let result = feed
        .call_or_else(&policy, FallbackOn::Any, async { Ok::<_, String>("fresh") }, |_| async {
            sleep(HOUR).await;
            Ok("late")
        })
        .await;
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert!(matches!(result, Err(CallError::Timeout(_))), "{result:?}");
}

#[tokio::test(start_paused = true)]
async fn a_call_that_times_out_and_a_fallback_that_hangs_take_at_most_both_limits() {
    let registry = Registry::new();
    let feed = registry.breaker("feed");
    let policy = Policy::new().timeout(Duration::from_secs(2));
    let started = Instant::now();
    let result = feed
        .call_or_else(
            &policy,
            FallbackOn::Any,
            async {
                sleep(HOUR).await;
                Ok::<_, String>("fresh")
            },
            |error| async move {
                assert!(error.is_timeout(), "the fallback sees the call's timeout");
                sleep(HOUR).await;
                Ok("late")
            },
        )
        .await;
    assert_eq!(started.elapsed(), Duration::from_secs(4), "2 s for the call, 2 s for the fallback");
    assert!(matches!(result, Err(CallError::Timeout(_))), "{result:?}");
}

#[tokio::test(start_paused = true)]
async fn a_fallback_within_its_limit_serves_its_value_and_a_failing_one_its_error() {
    let registry = Registry::new();
    let feed = registry.breaker("feed");
    feed.force_open();
    let policy = Policy::new().timeout(Duration::from_secs(2));
    let quick = feed
        .call_or_else(&policy, FallbackOn::Any, async { Ok::<_, String>("fresh") }, |_| async {
            sleep(Duration::from_secs(1)).await;
            Ok("cached")
        })
        .await;
    assert_eq!(quick.unwrap(), "cached");
    let failing = feed
        .call_or_else(&policy, FallbackOn::Any, async { Ok::<_, String>("fresh") }, |_| async {
            Err("the cache is down too".to_owned())
        })
        .await;
    assert_eq!(failing.unwrap_err(), CallError::Failed("the cache is down too".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn without_any_timeout_a_fallback_is_not_bounded() {
    let registry = Registry::new();
    let feed = registry.breaker("feed");
    feed.force_open();
    assert_eq!(Policy::new().fallback_timeout_duration(), None);
    let started = Instant::now();
    let slow = feed
        .call_or_else(&Policy::new(), FallbackOn::Any, async { Ok::<_, String>("fresh") }, |_| async {
            sleep(HOUR).await;
            Ok("slow but served")
        })
        .await;
    assert_eq!(slow.unwrap(), "slow but served");
    assert_eq!(started.elapsed(), HOUR);
}
