//! Annotated futures stay `Send` (and a `!Send` body makes them `!Send`, as without the
//! attribute: see `fail/not_send.rs`).
use std::sync::Arc;

use breaker_runtime::{circuit_breaker, CallError, Rejected, Registry, TimedOut};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

impl From<TimedOut> for Error {
    fn from(_: TimedOut) -> Self {
        Error
    }
}

pub struct Client {
    registry: Arc<Registry>,
}

impl Client {
    #[circuit_breaker(registry = self.registry, timeout = "1s", fallback = Self::fallback)]
    async fn get(&self, id: String) -> Result<String, Error> {
        tokio::task::yield_now().await;
        Ok(id)
    }

    async fn fallback(&self, id: String, _: CallError<Error>) -> Result<String, Error> {
        Ok(id)
    }

    #[circuit_breaker(retry(attempts = 3, backoff = "10ms"))]
    async fn retried(&self, id: String) -> Result<String, Error> {
        tokio::task::yield_now().await;
        Ok(id)
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    let client = Client { registry: Arc::new(Registry::new()) };
    assert_send(client.get(String::new()));
    assert_send(client.retried(String::new()));
}
