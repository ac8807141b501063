//! The tower layer allocates nothing per call, admitted or rejected: a counting global
//! allocator measures many `ready().call()` after warm-up. Counts are per thread, and the
//! current-thread runtime polls everything on the test's own thread, so tests running in
//! parallel do not disturb each other.

use std::convert::Infallible;
use std::time::Duration;

use breaker_runtime::testing::ManualClock;
use breaker_runtime::tower::CircuitBreakerLayer;
use breaker_runtime::{Config, Registry, State};
use tower::{service_fn, Layer, Service, ServiceExt};

#[path = "../../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

const CALLS: u64 = 10_000;

/// Drives `CALLS` calls through a layer over `registry`'s breaker `name` (after 100 to warm
/// up) and returns the allocations they made and how many were rejected.
fn allocations_per_run(registry: &Registry, name: &'static str) -> (u64, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let layer = CircuitBreakerLayer::named(registry, name);
    let mut svc = layer.layer(service_fn(|n: u64| std::future::ready(Ok::<_, Infallible>(n))));
    runtime.block_on(async {
        let mut run = async |calls: u64| {
            let mut rejected = 0;
            for n in 0..calls {
                match svc.ready().await.unwrap().call(n).await {
                    Ok(m) => assert_eq!(m, n),
                    Err(e) => {
                        assert!(e.is_rejected(), "{e:?}");
                        rejected += 1;
                    }
                }
            }
            rejected
        };
        run(100).await;
        let before = allocations();
        let rejected = run(CALLS).await;
        (allocations() - before, rejected)
    })
}

#[test]
fn an_admitted_call_allocates_nothing() {
    for metrics in [true, false] {
        let registry = Registry::builder().metrics(metrics).build().unwrap();
        let (allocations, rejected) = allocations_per_run(&registry, "closed");
        assert_eq!(registry.breaker("closed").state(), State::Closed);
        assert_eq!(rejected, 0);
        assert_eq!(allocations, 0, "metrics {metrics}: allocations over {CALLS} admitted calls");
    }
}

#[test]
fn a_rejected_call_allocates_nothing() {
    // Opened by failures (a timed rejection with a retry_after) and forced open.
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .default_config(Config::builder().consecutive_failures(1).wait(Duration::from_secs(60)))
        .build()
        .unwrap();
    registry.breaker("open").core().try_acquire().unwrap().failure();
    assert_eq!(registry.breaker("open").state(), State::Open);
    let (allocations, rejected) = allocations_per_run(&registry, "open");
    assert_eq!(rejected, CALLS);
    assert_eq!(allocations, 0, "allocations over {CALLS} calls rejected while open");

    registry.breaker("forced").force_open();
    let (allocations, rejected) = allocations_per_run(&registry, "forced");
    assert_eq!(rejected, CALLS);
    assert_eq!(allocations, 0, "allocations over {CALLS} calls rejected while forced open");
}

#[test]
fn the_allocator_counts() {
    let before = allocations();
    drop(std::hint::black_box(Box::new(42_u64)));
    assert_eq!(allocations() - before, 1, "a zero above would prove nothing");
}
