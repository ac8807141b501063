//! An attribute with a `timeout` called outside a tokio runtime fails with a message that
//! names the attribute, not tokio's "there is no reactor running".

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use breaker_runtime::{circuit_breaker, Registry, Rejected, TimedOut};

#[derive(Debug)]
enum Error {
    Rejected,
    TimedOut,
}

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error::Rejected
    }
}

impl From<TimedOut> for Error {
    fn from(_: TimedOut) -> Self {
        Error::TimedOut
    }
}

#[circuit_breaker(registry = registry, timeout = "1s")]
async fn with_timeout(registry: &Registry) -> Result<u32, Error> {
    Ok(1)
}

#[circuit_breaker(registry = registry)]
async fn without_timeout(registry: &Registry) -> Result<u32, Error> {
    Ok(2)
}

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` once, on no runtime at all (as another executor would).
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(Noop));
    pin!(fut).poll(&mut Context::from_waker(&waker))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn a_timeout_outside_tokio_names_the_attribute() {
    let registry = Registry::new();
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(with_timeout(&registry)))).unwrap_err();
    let message = panic_message(&*payload);
    assert!(message.contains("#[circuit_breaker(timeout"), "{message}");
    assert!(message.contains("tokio runtime"), "{message}");
}

#[test]
fn without_a_timeout_no_runtime_is_needed() {
    let registry = Registry::new();
    assert!(matches!(poll_once(without_timeout(&registry)), Poll::Ready(Ok(2))));
}
