//! Set-ups the breaker-core benches share: the criterion one (`core.rs`), the callgrind one
//! and the interleaved one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use breaker_core::{CircuitBreaker, ClockSource, Config};

/// The error every peer's failing call returns.
#[derive(Debug)]
pub(crate) struct Fail;

/// Our breaker, opened by one failure, with an hour's wait.
pub(crate) fn ours_open() -> CircuitBreaker {
    let b = CircuitBreaker::new(
        "bench",
        Config::builder().consecutive_failures(1).wait(Duration::from_secs(3600)).build().unwrap(),
    );
    b.try_acquire().unwrap().failure();
    b
}

/// recloser, opened, with an hour's wait.
pub(crate) fn recloser_open() -> recloser::Recloser {
    let r = recloser::Recloser::custom().closed_len(1).error_rate(0.5).open_wait(Duration::from_secs(3600)).build();
    for _ in 0..4 {
        let _ = r.call(|| Err::<(), Fail>(Fail));
    }
    assert!(matches!(r.call(|| Ok::<(), Fail>(())), Err(recloser::Error::Rejected)));
    r
}

/// failsafe, opened, with an hour's wait.
pub(crate) fn failsafe_open() -> impl failsafe::CircuitBreaker {
    use failsafe::CircuitBreaker as _;
    let cb = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(Duration::from_secs(3600)),
        ))
        .build();
    let _ = cb.call(|| Err::<(), Fail>(Fail));
    assert!(cb.call(|| Ok::<(), Fail>(())).is_err());
    cb
}

/// The least any open rejection without a ticker does, written by hand: a coarse reading,
/// one load of a deadline, a compare, and an error that names the breaker and the wait left.
/// The gap between it and our `try_acquire` is what our state machine adds.
#[allow(dead_code)] // the callgrind bench does not time it
#[inline(always)]
pub(crate) fn floor_rejection(system: &ClockSource, deadline: &AtomicU64) -> Result<(), (&'static str, u64)> {
    let (coarse, lag) = system.now_coarse();
    let until = deadline.load(Ordering::Acquire);
    let upper = coarse + lag;
    if upper < until {
        Err(("bench", until - upper))
    } else {
        Ok(())
    }
}
