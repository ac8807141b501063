#![allow(missing_docs)] // criterion_group! generates an undocumented function
//! The core's hot paths against a bare atomic, recloser 1.4 and failsafe 1.3, in one run.
//!
//! Run with `cargo bench -p breaker-core --bench core`. BENCHMARKS.md holds the table.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use breaker_core::testing::ManualClock;
use breaker_core::ClockSource;
use breaker_core::{CircuitBreaker, Config};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

mod shared;
use shared::{failsafe_open, floor_rejection, ours_open, recloser_open, Fail};

fn ours_closed() -> CircuitBreaker {
    // Equivalent to the peers below: a 100-call window, 50% threshold.
    CircuitBreaker::new("bench", Config::builder().count_window(100).failure_rate(0.5).build().unwrap())
}

fn recloser_closed() -> recloser::Recloser {
    recloser::Recloser::custom().closed_len(100).error_rate(0.5).build()
}

fn failsafe_closed() -> impl failsafe::CircuitBreaker {
    failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            5,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        ))
        .build()
}

fn single_thread(c: &mut Criterion) {
    use failsafe::CircuitBreaker as _;
    let mut g = c.benchmark_group("closed_call");
    let counter = AtomicU64::new(0);
    g.bench_function("baseline_atomic_fetch_add", |b| b.iter(|| black_box(counter.fetch_add(1, Ordering::AcqRel))));
    let ours = ours_closed();
    g.bench_function("breaker_core", |b| {
        b.iter(|| {
            let permit = ours.try_acquire().unwrap();
            permit.success();
        })
    });
    let r = recloser_closed();
    g.bench_function("recloser", |b| b.iter(|| black_box(r.call(|| Ok::<u64, Fail>(black_box(1))).is_ok())));
    let f = failsafe_closed();
    g.bench_function("failsafe", |b| b.iter(|| black_box(f.call(|| Ok::<u64, Fail>(black_box(1))).is_ok())));
    g.finish();

    let mut g = c.benchmark_group("open_rejection");
    let ours = ours_open();
    g.bench_function("breaker_core", |b| b.iter(|| black_box(ours.try_acquire().is_err())));
    // The same with the opt-in ticked bound: no clock read per rejection.
    let ticker = breaker_core::Ticker::start(breaker_core::Ticker::DEFAULT_PERIOD).unwrap();
    g.bench_function("breaker_core_ticked", |b| b.iter(|| black_box(ours.try_acquire().is_err())));
    drop(ticker);
    let r = recloser_open();
    g.bench_function("recloser", |b| b.iter(|| black_box(r.call(|| Ok::<u64, Fail>(black_box(1))).is_err())));
    let f = failsafe_open();
    g.bench_function("failsafe", |b| b.iter(|| black_box(f.call(|| Ok::<u64, Fail>(black_box(1))).is_err())));
    // Deciding "the wait has not passed" needs a reading of the time; these are the cheapest
    // readings there are, alone. The coarse one is what an open rejection pays.
    let system = ClockSource::System;
    g.bench_function("clock_read_coarse", |b| b.iter(|| black_box(system.now_coarse())));
    // The least any open rejection without a ticker does (`shared::floor_rejection`).
    let deadline = AtomicU64::new(u64::MAX);
    g.bench_function("floor_hand_written", |b| b.iter(|| black_box(floor_rejection(&system, &deadline))));
    g.bench_function("clock_read_precise", |b| b.iter(|| black_box(system.now_nanos())));
    g.finish();
}

/// Per-call cost with two threads hammering one shared breaker: wall time / calls per thread.
fn two_threads(c: &mut Criterion) {
    use failsafe::CircuitBreaker as _;
    fn run(iters: u64, f: impl Fn() + Send + Sync + 'static) -> Duration {
        let f = Arc::new(f);
        let barrier = Arc::new(Barrier::new(3));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (f, barrier) = (Arc::clone(&f), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..iters {
                        f();
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    }
    let mut g = c.benchmark_group("two_threads_closed");
    let ours = Arc::new(ours_closed());
    g.bench_function("breaker_core", |b| {
        b.iter_custom(|iters| {
            let ours = Arc::clone(&ours);
            run(iters, move || ours.try_acquire().unwrap().success())
        })
    });
    let r = Arc::new(recloser_closed());
    g.bench_function("recloser", |b| {
        b.iter_custom(|iters| {
            let r = Arc::clone(&r);
            run(iters, move || {
                black_box(r.call(|| Ok::<u64, Fail>(1)).is_ok());
            })
        })
    });
    let f = Arc::new(failsafe_closed());
    g.bench_function("failsafe", |b| {
        b.iter_custom(|iters| {
            let f = Arc::clone(&f);
            run(iters, move || {
                black_box(f.call(|| Ok::<u64, Fail>(1)).is_ok());
            })
        })
    });
    g.finish();
}

/// Per-call cost of a time window holding 1,000 to 1,000,000 calls: must stay flat.
fn time_window(c: &mut Criterion) {
    let mut g = c.benchmark_group("time_window_calls_in_window");
    for calls in [1_000u64, 10_000, 100_000, 1_000_000] {
        let clock = ManualClock::new();
        let b = CircuitBreaker::new(
            "bench",
            Config::builder().time_window(Duration::from_secs(60)).consecutive_failures(0).build().unwrap(),
        )
        .with_clock(clock.clone());
        // Spread `calls` outcomes (10% failures) over the 60 s window.
        let step = Duration::from_nanos(60_000_000_000 / calls);
        for i in 0..calls {
            b.try_acquire().unwrap().record(if i % 10 == 9 {
                breaker_core::Outcome::Failure
            } else {
                breaker_core::Outcome::Success
            });
            clock.advance(step);
        }
        assert!(b.snapshot().calls_in_window as u64 >= calls * 9 / 10);
        g.bench_with_input(BenchmarkId::from_parameter(calls), &calls, |bench, _| {
            bench.iter(|| b.try_acquire().unwrap().success())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = single_thread, two_threads, time_window
}
criterion_main!(benches);
