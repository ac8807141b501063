//! Configuration on one method of a shared block would configure every method's breaker.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

#[circuit_breaker(name = "client", consecutive_failures = 3)]
impl Client {
    #[circuit_breaker(consecutive_failures = 5, timeout = "1s")]
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
