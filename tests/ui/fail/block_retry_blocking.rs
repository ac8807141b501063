//! The block's `retry` cannot apply to a blocking method.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

#[circuit_breaker(name = "client", retry(attempts = 3))]
impl Client {
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }

    pub fn get_blocking(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
