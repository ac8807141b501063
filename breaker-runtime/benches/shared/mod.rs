//! What the criterion bench and the callgrind bench share, so their figures line up: the error
//! type, the bare call every scenario wraps, and the runtime.

use std::hint::black_box;

use breaker_runtime::Rejected;

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
