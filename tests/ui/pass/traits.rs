//! Native `async fn` in trait impls, and methods inside `#[async_trait]` impls.
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
    fn fetch(&self, id: u32) -> impl std::future::Future<Output = Result<u32, Error>> + Send;
    async fn fetch_local(&self, id: u32) -> Result<u32, Error>;
}

pub struct Client;

impl Native for Client {
    #[circuit_breaker]
    async fn fetch(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }

    #[circuit_breaker(fallback = Self::local_fallback)]
    async fn fetch_local(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

impl Client {
    async fn local_fallback(&self, id: u32, _: CallError<Error>) -> Result<u32, Error> {
        Ok(id)
    }
}

#[async_trait::async_trait]
pub trait Boxed {
    async fn fetch(&self, id: u32, name: String) -> Result<u32, Error>;
    async fn fetch_mut(&mut self, id: u32) -> Result<u32, Error>;
}

pub struct BoxedClient {
    hits: u32,
}

#[async_trait::async_trait]
impl Boxed for BoxedClient {
    #[circuit_breaker(name = "boxed", fallback = Self::boxed_fallback, retry(attempts = 2, backoff = "1ms"))]
    async fn fetch(&self, id: u32, name: String) -> Result<u32, Error> {
        if name.is_empty() {
            return Err(Error);
        }
        Ok(self.hits + id)
    }

    #[circuit_breaker(timeout = "1s", fallback = Self::boxed_mut_fallback)]
    async fn fetch_mut(&mut self, id: u32) -> Result<u32, Error> {
        self.hits += id;
        Ok(self.hits)
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
