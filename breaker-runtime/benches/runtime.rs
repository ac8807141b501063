#![allow(missing_docs)] // criterion_group! generates an undocumented function
//! The runtime's per-call overhead against a bare `async fn`, recloser's `AsyncRecloser` and
//! tower-resilience's circuit breaker layer, in one run.
//!
//! Run with `cargo bench -p breaker-runtime --bench runtime`. BENCHMARKS.md holds the table.

use std::hint::black_box;
use std::time::{Duration, Instant};

use breaker_runtime::tower::CircuitBreakerLayer;
use breaker_runtime::{circuit_breaker, Registry};
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{service_fn, Layer, Service, ServiceExt};

mod shared;
use shared::{annotated, bare, direct, rt, Fail};

/// Runs `iters` sequential awaits of `f` inside one `block_on`, timing only the loop.
fn time_async<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, f: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            f(i).await;
        }
        start.elapsed()
    })
}

static UNMETERED: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();

fn unmetered() -> &'static Registry {
    UNMETERED.get_or_init(|| Registry::builder().metrics(false).build().unwrap())
}

fn async_call(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("async_call_closed");
    g.bench_function("bare_async_fn", |b| {
        b.iter_custom(|iters| {
            time_async(&rt, iters, |i| async move {
                black_box(bare(i).await.is_ok());
            })
        })
    });
    let breaker = unmetered().breaker("bench");
    g.bench_function("breaker_runtime_metrics_off", |b| {
        b.iter_custom(|iters| {
            time_async(&rt, iters, |i| {
                let breaker = &breaker;
                async move {
                    black_box(breaker.call(bare(i)).await.is_ok());
                }
            })
        })
    });
    let metered = Registry::new().breaker("bench");
    g.bench_function("breaker_runtime_default_no_recorder", |b| {
        b.iter_custom(|iters| {
            time_async(&rt, iters, |i| {
                let breaker = &metered;
                async move {
                    black_box(breaker.call(bare(i)).await.is_ok());
                }
            })
        })
    });
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let prometheus = metrics::with_local_recorder(&recorder, || Registry::new().breaker("bench"));
    g.bench_function("breaker_runtime_prometheus", |b| {
        b.iter_custom(|iters| {
            time_async(&rt, iters, |i| {
                let breaker = &prometheus;
                async move {
                    black_box(breaker.call(bare(i)).await.is_ok());
                }
            })
        })
    });
    let recloser = recloser::AsyncRecloser::from(recloser::Recloser::custom().closed_len(100).build());
    g.bench_function("recloser_async", |b| {
        b.iter_custom(|iters| {
            time_async(&rt, iters, |i| {
                let recloser = &recloser;
                async move {
                    black_box(recloser.call(bare(i)).await.is_ok());
                }
            })
        })
    });
    g.bench_function("macro_annotated", |b| {
        b.iter_custom(|iters| {
            time_async(&rt, iters, |i| async move {
                black_box(annotated(i).await.is_ok());
            })
        })
    });
    g.bench_function("macro_equivalent_direct", |b| {
        b.iter_custom(|iters| {
            time_async(&rt, iters, |i| async move {
                black_box(direct(i).await.is_ok());
            })
        })
    });
    g.finish();
}

/// A method wrapped through `#[circuit_breaker]` on its `impl` block against the same method
/// carrying the attribute itself (issue 15): the block form reuses the method form's
/// expansion, so the two should cost the same. Both in one group, so one run compares them.
fn block_attribute(c: &mut Criterion) {
    struct MethodForm;
    impl MethodForm {
        #[circuit_breaker(name = "bench-method-form")]
        async fn get(&self, i: u64) -> Result<u64, Fail> {
            Ok(black_box(i))
        }
    }
    struct BlockForm;
    #[circuit_breaker(name = "bench-block-form")]
    impl BlockForm {
        async fn get(&self, i: u64) -> Result<u64, Fail> {
            Ok(black_box(i))
        }
    }
    let rt = rt();
    let mut g = c.benchmark_group("async_call_block_attribute");
    g.bench_function("method_attribute", |b| {
        b.iter_custom(|iters| {
            time_async(&rt, iters, |i| async move {
                black_box(MethodForm.get(i).await.is_ok());
            })
        })
    });
    g.bench_function("block_attribute", |b| {
        b.iter_custom(|iters| {
            time_async(&rt, iters, |i| async move {
                black_box(BlockForm.get(i).await.is_ok());
            })
        })
    });
    g.finish();
}

/// What any breaker must do per call to meet issue #3's metric list with the Prometheus
/// exporter, measured alone: read a clock at both ends, count the call, record its duration.
/// Nothing of ours is in it; it bounds `breaker_runtime_prometheus` from below.
fn prometheus_floor(c: &mut Criterion) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let (calls, duration) = metrics::with_local_recorder(&recorder, || {
        (
            metrics::counter!("calls", "breaker" => "bench", "outcome" => "success"),
            metrics::histogram!("duration", "breaker" => "bench"),
        )
    });
    let clock = quanta::Clock::new();
    let mut g = c.benchmark_group("prometheus_floor");
    g.bench_function("clock_pair", |b| {
        b.iter(|| {
            let started = clock.raw();
            black_box(clock.delta_as_nanos(started, clock.raw()))
        })
    });
    // The pair of readings a metered call of ours takes: breaker-core's `Stopwatch` (the
    // time-stamp counter where the CPU's flag allows it, else `Instant`; breaker-runtime also
    // asks the kernel, which this bench does not).
    let stopwatch = breaker_runtime::Stopwatch::tsc(std::time::Duration::from_millis(2))
        .unwrap_or_else(breaker_runtime::Stopwatch::system);
    g.bench_function("clock_pair_stopwatch", |b| {
        b.iter(|| {
            let started = stopwatch.raw();
            black_box(stopwatch.nanos_between(started, stopwatch.raw()))
        })
    });
    g.bench_function("counter_increment", |b| b.iter(|| calls.increment(1)));
    g.bench_function("histogram_record", |b| b.iter(|| duration.record(black_box(1e-6))));
    g.bench_function("all_three", |b| {
        b.iter(|| {
            let started = clock.raw();
            calls.increment(1);
            #[allow(clippy::cast_precision_loss)]
            duration.record(clock.delta_as_nanos(started, clock.raw()) as f64 * 1e-9);
        })
    });
    g.finish();
}

/// Runs `iters` sequential `ready().call()`s on one service inside one `block_on`.
fn time_service<S>(rt: &tokio::runtime::Runtime, iters: u64, svc: &mut S) -> Duration
where
    S: Service<u64>,
    S::Error: std::fmt::Debug,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            let ready = svc.ready().await.unwrap();
            black_box(ready.call(black_box(i)).await.is_ok());
        }
        start.elapsed()
    })
}

fn tower_layer(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("tower_ready_call");
    let inner = service_fn(|i: u64| async move { Ok::<u64, Fail>(black_box(i)) });
    let mut baseline = inner;
    g.bench_function("service_fn_baseline", |b| b.iter_custom(|iters| time_service(&rt, iters, &mut baseline)));
    let mut ours = CircuitBreakerLayer::new(unmetered().breaker("bench-layer")).layer(inner);
    g.bench_function("breaker_runtime_layer", |b| b.iter_custom(|iters| time_service(&rt, iters, &mut ours)));
    let mut metered = CircuitBreakerLayer::new(Registry::new().breaker("bench-layer")).layer(inner);
    g.bench_function("breaker_runtime_layer_metrics_on", |b| {
        b.iter_custom(|iters| time_service(&rt, iters, &mut metered))
    });
    let mut theirs = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .unwrap()
        .layer(inner);
    g.bench_function("tower_resilience_layer", |b| b.iter_custom(|iters| time_service(&rt, iters, &mut theirs)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = async_call, prometheus_floor, tower_layer, block_attribute
}
criterion_main!(benches);
