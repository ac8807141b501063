//! `#[circuit_breaker]` on an inherent `impl` block: shared and per-method breakers, `skip`,
//! method-level arguments, blocking methods, generics, and methods left alone.
use breaker_runtime::{circuit_breaker, CallError, Registry, Rejected, TimedOut};

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

pub type Response<T> = Result<T, Error>;

fn is_failure(_: &Error) -> bool {
    true
}

pub struct Bcs {
    registry: Registry,
}

#[circuit_breaker(
    name = "bcs",
    registry = self.registry,
    timeout = "2s",
    failure_if = is_failure,
    consecutive_failures = 3,
    wait = "30s"
)]
impl Bcs {
    pub const LIMIT: u32 = 3;

    pub async fn essays(&self, id: u32) -> Result<Vec<u32>, Error> {
        Ok(vec![id])
    }

    pub fn blocking(&self, id: u32) -> std::result::Result<u32, Error> {
        Ok(id)
    }

    pub async fn generic<T: Send + Clone>(&self, value: T) -> Result<T, Error> {
        Ok(value)
    }

    #[circuit_breaker(fallback = Self::cached, fallback_on = "rejected", timeout = "5s")]
    pub async fn with_fallback(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }

    #[circuit_breaker(skip)]
    pub async fn unprotected(&self) -> Result<u32, Error> {
        Ok(0)
    }

    #[circuit_breaker(skip)]
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        true
    }

    pub const fn constant(&self) -> Result<u32, Error> {
        Ok(Self::LIMIT)
    }

    pub async fn aliased(&self) -> Response<u32> {
        Ok(1)
    }

    #[breaker_runtime::circuit_breaker(name = "bcs-alias", consecutive_failures = 1)]
    pub async fn aliased_marked(&self) -> Response<u32> {
        Ok(1)
    }

    async fn cached(&self, id: u32, _: CallError<Error>) -> Result<u32, Error> {
        Ok(id)
    }
}

pub struct PerMethod;

#[circuit_breaker(name = "per", per_method, retry(attempts = 2, backoff = "1ms"))]
impl PerMethod {
    pub async fn first(&self, name: String) -> Result<String, Error> {
        Ok(name)
    }

    #[circuit_breaker(consecutive_failures = 2, retry(attempts = 3, backoff = "5ms"))]
    pub async fn second(&self) -> Result<u32, Error> {
        Ok(2)
    }

    #[circuit_breaker(skip)]
    pub fn blocking(&self) -> Result<u32, Error> {
        Ok(3)
    }
}

pub struct Generic<T>(T);

#[circuit_breaker]
impl<T: Clone + Send + Sync> Generic<T> {
    pub async fn get(&self) -> Result<T, Error> {
        Ok(self.0.clone())
    }

    pub fn get_blocking(&mut self) -> Result<T, Error> {
        Ok(self.0.clone())
    }
}

fn main() {}
