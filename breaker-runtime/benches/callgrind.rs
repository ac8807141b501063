#![allow(missing_docs)]
//! Instruction counts per call, for `valgrind --tool=callgrind`: runs one scenario `n` times.
//!
//! Wall-clock figures on a shared VM wobble; instruction counts do not. Each scenario's loop
//! is one `#[inline(never)]` function named `run_*`; count only inside it
//! (`--toggle-collect`), at `n` and at `2n` calls, and divide the difference by `n`: what is
//! left is one iteration, set-up (including quanta's time-dependent calibration) cancelled
//! out. `scripts/callgrind` does exactly that for every scenario and prints the table
//! BENCHMARKS.md holds.
//!
//! ```sh
//! cargo bench -p breaker-runtime --bench callgrind --no-run   # prints the binary's path
//! valgrind --tool=callgrind --toggle-collect='callgrind::run_*' <binary> layer_off 1000000
//! ```
//!
//! Each scenario's loop is the same generic helper as `benches/runtime.rs` uses (`time_async`,
//! `time_service`), so the counts line up with the criterion figures. Run by `cargo bench`
//! without a scenario, it runs every scenario briefly as a smoke test.

use std::hint::black_box;

use breaker_runtime::tower::CircuitBreakerLayer;
use breaker_runtime::Registry;
use tower::{service_fn, Layer, Service, ServiceExt};

mod shared;
use shared::{annotated, bare, direct, rt, Fail};

/// `n` sequential awaits of `f` inside one `block_on` (as `benches/runtime.rs`'s `time_async`).
#[inline(never)]
fn run_async<F, Fut>(rt: &tokio::runtime::Runtime, n: u64, f: F)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        for i in 0..n {
            f(i).await;
        }
    });
}

/// `n` sequential `ready().call()`s on one service (as `benches/runtime.rs`'s `time_service`).
#[inline(never)]
fn run_service<S>(rt: &tokio::runtime::Runtime, n: u64, svc: &mut S)
where
    S: Service<u64>,
    S::Error: std::fmt::Debug,
{
    rt.block_on(async {
        for i in 0..n {
            let ready = svc.ready().await.unwrap();
            black_box(ready.call(black_box(i)).await.is_ok());
        }
    });
}

/// `n` times what any breaker must do per call to meet issue #3's metric list with the
/// Prometheus exporter: read a clock at both ends, count the call, record its duration.
#[inline(never)]
fn run_floor(n: u64, clock: &quanta::Clock, calls: &metrics::Counter, duration: &metrics::Histogram) {
    for _ in 0..n {
        let started = clock.raw();
        calls.increment(1);
        #[allow(clippy::cast_precision_loss)]
        duration.record(clock.delta_as_nanos(started, clock.raw()) as f64 * 1e-9);
        black_box(duration);
    }
}

/// The least any breaker layer adds: a service whose response future owns a shared handle
/// (an `Arc` clone per call, dropped when the future is) and says whether the call was an `Ok`,
/// with no breaker at all. What `CircuitBreakerLayer` adds beyond this is its own work.
#[derive(Clone)]
struct HandleOnly<S> {
    inner: S,
    handle: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<S: Service<u64, Response = u64>> Service<u64> for HandleOnly<S> {
    type Response = u64;
    type Error = S::Error;
    type Future = HandleOnlyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: u64) -> Self::Future {
        HandleOnlyFuture { inner: self.inner.call(req), handle: self.handle.clone() }
    }
}

pin_project_lite::pin_project! {
    struct HandleOnlyFuture<F> {
        #[pin]
        inner: F,
        handle: std::sync::Arc<std::sync::atomic::AtomicU64>,
    }
}

impl<F: std::future::Future<Output = Result<u64, E>>, E> std::future::Future for HandleOnlyFuture<F> {
    type Output = Result<u64, E>;

    #[inline(always)]
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        // A read of the shared state, as a breaker's healthy path makes.
        black_box(this.handle.load(std::sync::atomic::Ordering::Relaxed));
        std::task::Poll::Ready(result)
    }
}

fn unmetered() -> Registry {
    Registry::builder().metrics(false).build().unwrap()
}

fn prometheus() -> metrics_exporter_prometheus::PrometheusRecorder {
    metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder()
}

const SCENARIOS: &[(&str, &str)] = &[
    ("bare", "a bare `async fn`, awaited directly"),
    ("call_off", "`Breaker::call`, `RegistryBuilder::metrics(false)`"),
    ("call_no_recorder", "`Breaker::call`, defaults, no recorder installed"),
    ("call_prometheus", "`Breaker::call` with a Prometheus recorder"),
    ("recloser", "recloser `AsyncRecloser::call`"),
    ("annotated", "`#[circuit_breaker]` function (global registry)"),
    ("direct", "the same, written by hand"),
    ("floor", "the exporter's floor: two quanta reads, a counter increment, a histogram record"),
    ("service_fn", "`service_fn` alone, `ready().call()`"),
    ("handle_only", "a layer whose future owns an `Arc` clone, no breaker (the least a layer adds)"),
    ("layer_off", "`CircuitBreakerLayer`, `metrics(false)`"),
    ("layer_no_recorder", "`CircuitBreakerLayer`, defaults, no recorder"),
    ("layer_prometheus", "`CircuitBreakerLayer` with a Prometheus recorder"),
    ("tower_resilience", "tower-resilience 0.14 layer"),
];

fn run(scenario: &str, n: u64) {
    let rt = rt();
    match scenario {
        "bare" => run_async(&rt, n, |i| async move {
            black_box(bare(i).await.is_ok());
        }),
        "call_off" | "call_no_recorder" | "call_prometheus" => {
            let recorder = prometheus();
            let breaker = match scenario {
                "call_off" => unmetered().breaker("bench"),
                "call_no_recorder" => Registry::new().breaker("bench"),
                _ => metrics::with_local_recorder(&recorder, || Registry::new().breaker("bench")),
            };
            run_async(&rt, n, |i| {
                let breaker = &breaker;
                async move {
                    black_box(breaker.call(bare(i)).await.is_ok());
                }
            });
        }
        "recloser" => {
            let recloser = recloser::AsyncRecloser::from(recloser::Recloser::custom().closed_len(100).build());
            run_async(&rt, n, |i| {
                let recloser = &recloser;
                async move {
                    black_box(recloser.call(bare(i)).await.is_ok());
                }
            });
        }
        "annotated" => run_async(&rt, n, |i| async move {
            black_box(annotated(i).await.is_ok());
        }),
        "direct" => run_async(&rt, n, |i| async move {
            black_box(direct(i).await.is_ok());
        }),
        "floor" => {
            // `benches/runtime.rs`'s `prometheus_floor/all_three`, in a plain loop.
            let recorder = prometheus();
            let (calls, duration) = metrics::with_local_recorder(&recorder, || {
                (
                    metrics::counter!("calls", "breaker" => "bench", "outcome" => "success"),
                    metrics::histogram!("duration", "breaker" => "bench"),
                )
            });
            run_floor(n, &quanta::Clock::new(), &calls, &duration);
        }
        "service_fn" | "handle_only" | "layer_off" | "layer_no_recorder" | "layer_prometheus" | "tower_resilience" => {
            let inner = service_fn(|i: u64| async move { Ok::<u64, Fail>(black_box(i)) });
            let recorder = prometheus();
            match scenario {
                "service_fn" => run_service(&rt, n, &mut { inner }),
                "handle_only" => run_service(&rt, n, &mut HandleOnly { inner, handle: Default::default() }),
                "layer_off" => {
                    run_service(&rt, n, &mut CircuitBreakerLayer::new(unmetered().breaker("bench")).layer(inner));
                }
                "layer_no_recorder" => {
                    run_service(&rt, n, &mut CircuitBreakerLayer::new(Registry::new().breaker("bench")).layer(inner));
                }
                "layer_prometheus" => {
                    let breaker = metrics::with_local_recorder(&recorder, || Registry::new().breaker("bench"));
                    run_service(&rt, n, &mut CircuitBreakerLayer::new(breaker).layer(inner));
                }
                _ => {
                    let mut theirs = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
                        .failure_rate_threshold(0.5)
                        .sliding_window_size(100)
                        .build()
                        .unwrap()
                        .layer(inner);
                    run_service(&rt, n, &mut theirs);
                }
            }
        }
        other => {
            eprintln!("unknown scenario `{other}`; expected one of:");
            for (name, what) in SCENARIOS {
                eprintln!("  {name:<18} {what}");
            }
            std::process::exit(2);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    match args.as_slice() {
        [scenario, n] => match n.parse() {
            Ok(n) => run(scenario, n),
            Err(_) => {
                eprintln!("usage: callgrind <scenario> <calls>: `{n}` is not a number");
                std::process::exit(2);
            }
        },
        [] => {
            // `cargo bench` runs every bench target: a short smoke run of each scenario.
            for (name, _) in SCENARIOS {
                run(name, 1_000);
            }
        }
        _ => {
            eprintln!("usage: callgrind <scenario> <calls>");
            std::process::exit(2);
        }
    }
}
