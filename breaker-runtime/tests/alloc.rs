//! No allocation per call on the closed, open and fallback paths, through `Breaker::call`,
//! `call_or_else` and the attribute: a counting global allocator measures 10,000 calls after
//! warm-up, on a current-thread runtime so every poll happens on the test's thread.

use std::future::Future;

use breaker_runtime::{circuit_breaker, CallError, Config, FallbackOn, Policy, Registry, Rejected, State};

#[path = "../../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

const CALLS: usize = 10_000;

#[derive(Debug, PartialEq)]
struct Failure;

impl From<Rejected> for Failure {
    fn from(_: Rejected) -> Self {
        Failure
    }
}

/// Runs `call` 100 times to warm up, then `CALLS` times, and returns the allocations made.
fn allocations_of<F, Fut>(mut call: F) -> u64
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        for i in 0..100 {
            call(i).await;
        }
        let before = allocations();
        for i in 0..CALLS {
            call(i).await;
        }
        allocations() - before
    })
}

fn registry(metrics: bool) -> Registry {
    Registry::builder().metrics(metrics).default_config(Config::builder().consecutive_failures(3)).build().unwrap()
}

#[test]
fn closed_calls_allocate_nothing_with_metrics_on_or_off() {
    for metrics in [false, true] {
        let breaker = registry(metrics).breaker("closed");
        let n = allocations_of(|i| {
            let breaker = &breaker;
            async move {
                let r: Result<usize, CallError<Failure>> = breaker.call(async move { Ok(i) }).await;
                assert_eq!(r.unwrap(), i);
            }
        });
        assert_eq!(n, 0, "metrics {metrics}: {n} allocations in {CALLS} closed calls");
        assert_eq!(breaker.state(), State::Closed);
    }
}

#[test]
fn rejections_allocate_nothing() {
    let registry = registry(true);
    let opened = registry.breaker("opened");
    let tripped = allocations_of(|_| {
        let opened = &opened;
        async move {
            let _: Result<(), CallError<Failure>> = opened.call(async { Err(Failure) }).await;
        }
    });
    assert_eq!(opened.state(), State::Open, "three failures opened it");
    assert_eq!(tripped, 0, "{tripped} allocations while tripping and rejecting");

    let forced = registry.breaker("forced");
    forced.force_open();
    let n = allocations_of(|_| {
        let forced = &forced;
        async move {
            let r: Result<(), CallError<Failure>> = forced.call(async { Ok(()) }).await;
            assert!(r.unwrap_err().is_rejected());
        }
    });
    assert_eq!(n, 0, "{n} allocations in {CALLS} forced-open rejections");
}

#[test]
fn fallbacks_allocate_nothing() {
    let breaker = registry(true).breaker("fallback");
    breaker.force_open();
    let policy = Policy::new();
    let n = allocations_of(|i| {
        let (breaker, policy) = (&breaker, &policy);
        async move {
            let r = breaker
                .call_or_else(policy, FallbackOn::Rejected, async { Ok::<_, Failure>(0) }, |e| async move {
                    assert!(e.is_rejected());
                    Ok(i)
                })
                .await;
            assert_eq!(r.unwrap(), i);
        }
    });
    assert_eq!(n, 0, "{n} allocations in {CALLS} fallbacks");
}

#[circuit_breaker(name = "alloc-attribute")]
async fn annotated(i: usize) -> Result<usize, Failure> {
    Ok(i)
}

#[circuit_breaker(name = "alloc-attribute-fallback", fallback = answer)]
async fn annotated_with_fallback(i: usize) -> Result<usize, Failure> {
    let _ = i;
    Err(Failure)
}

async fn answer(i: usize, _: CallError<Failure>) -> Result<usize, Failure> {
    Ok(i + 1)
}

#[test]
fn the_attribute_allocates_nothing_per_call() {
    let n = allocations_of(|i| async move { assert_eq!(annotated(i).await, Ok(i)) });
    assert_eq!(n, 0, "{n} allocations in {CALLS} annotated calls");
    // Failures, then rejections once open: every call answered by the fallback.
    let n = allocations_of(|i| async move { assert_eq!(annotated_with_fallback(i).await, Ok(i + 1)) });
    assert_eq!(n, 0, "{n} allocations in {CALLS} annotated calls served by the fallback");
    assert_eq!(Registry::global().get("alloc-attribute-fallback").unwrap().state(), State::Open);
}

#[test]
fn the_counter_counts() {
    let n = allocations_of(|_| async {
        std::hint::black_box(Box::new(1));
    });
    assert_eq!(n, CALLS as u64, "a zero above would prove nothing");
}
