#![allow(missing_docs)]
//! Instruction counts per call of the core's paths, for `valgrind --tool=callgrind`: runs one
//! scenario `n` times. The same method as `breaker-runtime/benches/callgrind.rs`: each
//! scenario's loop is one `#[inline(never)]` function named `run_*`; count only inside it
//! (`--toggle-collect='callgrind::run_*'`) at `n` and `2n` calls and divide the difference by
//! `n`. `scripts/callgrind` does that for these scenarios and the runtime's, in one table.
//!
//! ```sh
//! cargo bench -p breaker-core --bench callgrind --no-run   # prints the binary's path
//! valgrind --tool=callgrind --toggle-collect='callgrind::run_*' <binary> open_ours 1000000
//! ```
//!
//! The loops are `benches/core.rs`'s criterion loops, so the counts line up with its figures.
//! Run by `cargo bench` without a scenario, it runs every scenario briefly as a smoke test.

use std::hint::black_box;
use std::time::Duration;

use breaker_core::testing::ManualClock;
use breaker_core::{CircuitBreaker, ClockSource, Config, Outcome};

mod shared;
use shared::{failsafe_open, ours_open, recloser_open, Fail};

/// `n` calls of `f`, the criterion loop's body.
#[inline(never)]
fn run_loop(n: u64, f: impl Fn()) {
    for _ in 0..n {
        f();
    }
}

/// [`shared::ours_open`], with the coarse clock calibrated and its next ticks past the origin
/// (until then a reading takes the slow way, a time-dependent number of times that would blur
/// the count).
fn ours_open_calibrated() -> CircuitBreaker {
    let b = ours_open();
    assert!(b.try_acquire().is_err());
    std::thread::sleep(Duration::from_millis(20));
    b
}

const SCENARIOS: &[(&str, &str)] = &[
    ("clock_coarse", "`ClockSource::System.now_coarse()` alone: the clock read an open rejection pays"),
    ("clock_instant", "`Instant::now()` alone: the clock read recloser and failsafe pay"),
    ("open_ours", "open rejection: `try_acquire` on an open breaker whose wait has not passed"),
    ("open_ours_ticked", "open rejection as `open_ours`, a `Ticker` (1 ms) running: no clock read"),
    ("open_recloser", "open rejection: recloser 1.4 `Recloser::call`"),
    ("open_failsafe", "open rejection: failsafe 1.3 `CircuitBreaker::call`"),
    ("closed_ours", "closed: `try_acquire` + `success` (100-call window, 50% threshold)"),
    ("time_window_1k", "closed: `try_acquire` + `success`, a 60 s time window holding 1,000 calls"),
];

fn run(scenario: &str, n: u64) {
    use failsafe::CircuitBreaker as _;
    match scenario {
        "clock_coarse" => {
            let system = ClockSource::System;
            run_loop(n, || {
                black_box(system.now_coarse());
            });
        }
        "clock_instant" => run_loop(n, || {
            black_box(std::time::Instant::now());
        }),
        "open_ours" => {
            let ours = ours_open_calibrated();
            run_loop(n, || {
                black_box(ours.try_acquire().is_err());
            });
        }
        "open_ours_ticked" => {
            let ours = ours_open_calibrated();
            // Its first bound is stored before `start` returns; its thread is not counted.
            let _ticker = breaker_core::Ticker::start(breaker_core::Ticker::DEFAULT_PERIOD).unwrap();
            run_loop(n, || {
                black_box(ours.try_acquire().is_err());
            });
        }
        "open_recloser" => {
            let r = recloser_open();
            run_loop(n, || {
                black_box(r.call(|| Ok::<u64, Fail>(black_box(1))).is_err());
            });
        }
        "open_failsafe" => {
            let f = failsafe_open();
            run_loop(n, || {
                black_box(f.call(|| Ok::<u64, Fail>(black_box(1))).is_err());
            });
        }
        "closed_ours" => {
            let ours =
                CircuitBreaker::new("bench", Config::builder().count_window(100).failure_rate(0.5).build().unwrap());
            run_loop(n, || ours.try_acquire().unwrap().success());
        }
        "time_window_1k" => {
            // `benches/core.rs`'s `time_window_calls_in_window/1000`.
            let clock = ManualClock::new();
            let b = CircuitBreaker::new(
                "bench",
                Config::builder().time_window(Duration::from_secs(60)).consecutive_failures(0).build().unwrap(),
            )
            .with_clock(clock.clone());
            let step = Duration::from_nanos(60_000_000_000 / 1_000);
            for i in 0..1_000 {
                b.try_acquire().unwrap().record(if i % 10 == 9 { Outcome::Failure } else { Outcome::Success });
                clock.advance(step);
            }
            run_loop(n, || b.try_acquire().unwrap().success());
        }
        other => {
            eprintln!("unknown scenario `{other}`; expected one of:");
            for (name, what) in SCENARIOS {
                eprintln!("  {name:<14} {what}");
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
