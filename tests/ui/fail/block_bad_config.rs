//! An invalid block configuration is reported once, not once per method.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

#[circuit_breaker(name = "client", failure_rate = 1.5, window = "5 calls", minimum_calls = 10)]
impl Client {
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }

    pub async fn put(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
