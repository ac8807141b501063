//! What the criterion bench and the callgrind bench share, so their figures line up: the error
//! type, the bare call every scenario wraps, and the runtime.

use std::hint::black_box;

use breaker_runtime::{circuit_breaker, CallError, Registry, Rejected};

#[derive(Debug)]
pub(crate) struct Fail;

impl From<Rejected> for Fail {
    fn from(_: Rejected) -> Self {
        Fail
    }
}

/// The call every scenario protects: an `async fn` that cannot be inlined.
#[inline(never)]
pub(crate) async fn bare(i: u64) -> Result<u64, Fail> {
    Ok(black_box(i))
}

/// A current-thread runtime with timers.
pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A function behind the attribute.
#[circuit_breaker(name = "bench-macro")]
pub(crate) async fn annotated(i: u64) -> Result<u64, Fail> {
    Ok(black_box(i))
}

/// What the attribute expands to, written by hand: the handle resolved once, then `call`.
pub(crate) async fn direct(i: u64) -> Result<u64, Fail> {
    static BREAKER: std::sync::OnceLock<breaker_runtime::Breaker> = std::sync::OnceLock::new();
    let breaker = BREAKER.get_or_init(|| Registry::global().breaker("bench-direct"));
    breaker.call(async { Ok(black_box(i)) }).await.map_err(|e| match e {
        CallError::Failed(e) => e,
        _ => Fail,
    })
}
