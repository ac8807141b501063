//! Inside a block, each method gets the method form's checks: a fallback of the wrong shape,
//! an error type that cannot hold a rejection.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

#[derive(Debug)]
pub struct Plain;

#[circuit_breaker(name = "client", per_method)]
impl Client {
    #[circuit_breaker(fallback = Self::cached)]
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }

    pub async fn plain(&self) -> Result<u32, Plain> {
        Ok(1)
    }

    async fn cached(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
