//! `#[circuit_breaker]` works when `breaker-runtime` is a dependency named `cb`.

use cb::{circuit_breaker, CallError, Registry, Rejected, State};

#[derive(Debug, PartialEq)]
enum Error {
    Down,
    Open,
}

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error::Open
    }
}

fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(Registry::new)
}

#[circuit_breaker(crate = cb, name = "renamed", registry = registry(), consecutive_failures = 1)]
async fn call(up: bool) -> Result<u32, Error> {
    if up {
        Ok(1)
    } else {
        Err(Error::Down)
    }
}

#[circuit_breaker(crate = cb, name = "renamed-fallback", registry = registry(), consecutive_failures = 1, fallback = answer)]
async fn with_fallback(up: bool) -> Result<u32, Error> {
    if up {
        Ok(1)
    } else {
        Err(Error::Down)
    }
}

async fn answer(_up: bool, error: CallError<Error>) -> Result<u32, Error> {
    Ok(if error.is_rejected() { 3 } else { 2 })
}

#[tokio::test]
async fn the_attribute_expands_through_the_renamed_crate() {
    assert_eq!(call(true).await, Ok(1));
    assert_eq!(call(false).await, Err(Error::Down));
    assert_eq!(registry().get("renamed").unwrap().state(), State::Open);
    assert_eq!(call(true).await, Err(Error::Open));

    assert_eq!(with_fallback(false).await, Ok(2));
    assert_eq!(with_fallback(true).await, Ok(3));
}

struct Client;

/// The block form passes `crate` on to every method, and reads method attributes however
/// their path is spelled.
#[circuit_breaker(crate = cb, name = "renamed-block", registry = registry(), consecutive_failures = 1)]
impl Client {
    async fn get(&self, up: bool) -> Result<u32, Error> {
        if up {
            Ok(1)
        } else {
            Err(Error::Down)
        }
    }

    #[cb::circuit_breaker(fallback = answer_method)]
    async fn with_fallback(&self, up: bool) -> Result<u32, Error> {
        self.get(up).await
    }
}

async fn answer_method(_client: &Client, _up: bool, error: CallError<Error>) -> Result<u32, Error> {
    Ok(if error.is_rejected() { 3 } else { 2 })
}

#[tokio::test]
async fn the_block_attribute_expands_through_the_renamed_crate() {
    assert_eq!(Client.get(false).await, Err(Error::Down));
    assert_eq!(registry().get("renamed-block").unwrap().state(), State::Open);
    assert_eq!(Client.get(true).await, Err(Error::Open));
    assert_eq!(Client.with_fallback(true).await, Ok(3));
}
