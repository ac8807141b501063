//! The open rejection against the coarse clock read, timed in interleaved batches.
//!
//! Criterion times one benchmark after another, seconds apart; on a VM whose speed drifts
//! (this project's benchmark machine runs the same loop anywhere from 7 to 12 ns from one
//! minute to the next), the ratio of two of its figures measures the drift as much as the code.
//! Here every round times a batch of each contender back to back, and the ratio is taken of
//! the medians over all rounds: drift slower than a round cancels out.
//!
//! Run with `cargo bench -p breaker-core --bench interleaved`; prints markdown. Issue 14's
//! target: the open rejection at most 1.3× the coarse clock read.

use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use breaker_core::{ClockSource, Ticker};

#[allow(dead_code)] // the peers' constructors, which this bench does not time
mod shared;
use shared::{floor_rejection, ours_open};

/// Calls of each contender per batch, and rounds of batches.
const BATCH: u32 = 2_000;
const ROUNDS: usize = 3_000;

/// Nanoseconds per call of `f`, one batch. Generic, so each contender's loop is compiled
/// for it as criterion's `iter` loop is (a `dyn` call per iteration would add its own cost).
#[inline(never)]
fn batch<F: FnMut()>(f: &mut F) -> f64 {
    let start = Instant::now();
    for _ in 0..BATCH {
        f();
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH)
}

/// The median ns per call of each closure, over `ROUNDS` rounds that time one batch of each.
macro_rules! interleaved {
    ($($f:ident),+) => {{
        let rounds: Vec<_> = (0..ROUNDS).map(|_| [$(batch(&mut $f)),+]).collect();
        std::array::from_fn::<f64, { [$(stringify!($f)),+].len() }, _>(|i| {
            let mut samples: Vec<f64> = rounds.iter().map(|round| round[i]).collect();
            samples.sort_by(f64::total_cmp);
            samples[samples.len() / 2]
        })
    }};
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent: nothing to time then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let ours = ours_open();
    assert!(ours.try_acquire().is_err());
    // Past the coarse clock's first ticks after the origin, where a reading takes the slow way.
    std::thread::sleep(Duration::from_millis(20));
    let system = ClockSource::System;
    let deadline = AtomicU64::new(u64::MAX);
    let mut open = || {
        black_box(ours.try_acquire().is_err());
    };
    let mut coarse = || {
        black_box(system.now_coarse());
    };
    // As `benches/core.rs`'s `floor_hand_written`.
    let mut floor = || {
        let _ = black_box(floor_rejection(&system, &deadline));
    };
    let plain = interleaved!(open, coarse, floor);
    let ticker = Ticker::start(Ticker::DEFAULT_PERIOD).expect("no other ticker runs in this bench");
    let ticked = interleaved!(open, coarse);
    drop(ticker);

    println!(
        "| interleaved ({ROUNDS} rounds of {BATCH} calls each) | median ns per call | ÷ coarse read, same rounds |"
    );
    println!("|---|---|---|");
    println!(
        "| `open_rejection`: `try_acquire` on an open breaker | {:.2} | **{:.2}×** |",
        plain[0],
        plain[0] / plain[1]
    );
    println!("| `clock_read_coarse`: `ClockSource::System.now_coarse()` | {:.2} | 1 |", plain[1]);
    println!("| `floor_hand_written` | {:.2} | {:.2}× |", plain[2], plain[2] / plain[1]);
    println!(
        "| `open_rejection` with a `Ticker` running | {:.2} | {:.2}× (its own rounds: coarse read {:.2}) |",
        ticked[0],
        ticked[0] / ticked[1],
        ticked[1]
    );
}
