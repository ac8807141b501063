//! `#[async_trait]` must expand before the block attribute, so it goes above it.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

#[async_trait::async_trait]
pub trait Fetch {
    async fn fetch(&self, id: u32) -> Result<u32, Error>;
}

#[circuit_breaker(name = "client")]
#[async_trait::async_trait]
impl Fetch for Client {
    async fn fetch(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
