//! The attribute bounds an async fallback by the site's `timeout` when the error type can
//! report a timeout (`From<TimedOut>`); other error types compile as before.

use std::time::Duration;

use breaker_runtime::{circuit_breaker, CallError, Registry, Rejected, TimedOut};

#[derive(Debug, PartialEq)]
enum ClientError {
    Down,
    Open,
    TimedOut,
}

impl From<Rejected> for ClientError {
    fn from(_: Rejected) -> Self {
        ClientError::Open
    }
}

impl From<TimedOut> for ClientError {
    fn from(_: TimedOut) -> Self {
        ClientError::TimedOut
    }
}

/// Holds no timeout: with `fallback_on = "any"` none is required.
#[derive(Debug)]
struct Plain;

impl From<Rejected> for Plain {
    fn from(_: Rejected) -> Self {
        Plain
    }
}

struct Client {
    registry: Registry,
}

impl Client {
    #[circuit_breaker(registry = self.registry, timeout = "1s", fallback = Self::hangs)]
    async fn fetch(&self) -> Result<u32, ClientError> {
        Err(ClientError::Down)
    }

    async fn hangs(&self, _error: CallError<ClientError>) -> Result<u32, ClientError> {
        std::future::pending().await
    }

    #[circuit_breaker(registry = self.registry, timeout = "1s", fallback = Self::answers)]
    async fn plain(&self) -> Result<u32, Plain> {
        Err(Plain)
    }

    async fn answers(&self, _error: CallError<Plain>) -> Result<u32, Plain> {
        Ok(7)
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_fallback_is_cut_off_at_the_sites_timeout() {
    let client = Client { registry: Registry::new() };
    let started = tokio::time::Instant::now();
    assert_eq!(client.fetch().await, Err(ClientError::TimedOut));
    assert_eq!(started.elapsed(), Duration::from_secs(1), "bounded by the site's timeout");
}

#[tokio::test(start_paused = true)]
async fn an_error_type_without_timeouts_still_gets_its_fallback() {
    let client = Client { registry: Registry::new() };
    assert_eq!(client.plain().await.unwrap(), 7);
}
