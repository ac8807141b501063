//! `#[circuit_breaker]` on trait impls: native `async fn` in traits, and `#[async_trait]`
//! impls with `#[async_trait]` written above the attribute.
use breaker_runtime::{circuit_breaker, CallError, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[allow(async_fn_in_trait)] // a local trait; `Send` does not matter here
pub trait Native {
    async fn fetch(&self, id: u32) -> Result<u32, Error>;
    fn fetch_blocking(&self, id: u32) -> Result<u32, Error>;
    fn name(&self) -> &'static str;
}

pub struct Client;

#[circuit_breaker(name = "native")]
impl Native for Client {
    async fn fetch(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }

    #[circuit_breaker(fallback = Self::blocking_fallback)]
    fn fetch_blocking(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }

    fn name(&self) -> &'static str {
        "client"
    }
}

impl Client {
    fn blocking_fallback(&self, id: u32, _: CallError<Error>) -> Result<u32, Error> {
        Ok(id)
    }
}

#[async_trait::async_trait]
pub trait Boxed {
    async fn fetch(&self, id: u32, name: String) -> Result<u32, Error>;
    async fn fetch_mut(&mut self, id: u32) -> Result<u32, Error>;
    async fn count(&self) -> u32;
}

pub struct BoxedClient {
    hits: u32,
}

#[async_trait::async_trait]
#[circuit_breaker(per_method, timeout = "1s")]
impl Boxed for BoxedClient {
    #[circuit_breaker(fallback = Self::boxed_fallback, retry(attempts = 2, backoff = "1ms"))]
    async fn fetch(&self, id: u32, name: String) -> Result<u32, Error> {
        if name.is_empty() {
            return Err(Error);
        }
        Ok(self.hits + id)
    }

    #[circuit_breaker(fallback = Self::boxed_mut_fallback)]
    async fn fetch_mut(&mut self, id: u32) -> Result<u32, Error> {
        self.hits += id;
        Ok(self.hits)
    }

    async fn count(&self) -> u32 {
        self.hits
    }
}

impl BoxedClient {
    async fn boxed_fallback(&self, id: u32, _name: String, _: CallError<Error>) -> Result<u32, Error> {
        Ok(id)
    }

    async fn boxed_mut_fallback(&mut self, id: u32, _: CallError<Error>) -> Result<u32, Error> {
        self.hits -= id;
        Ok(0)
    }
}

fn main() {}
