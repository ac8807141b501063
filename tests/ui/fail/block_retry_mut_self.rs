//! A method's `retry` inside a block gets the method form's checks: no `&mut self`.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

#[circuit_breaker(name = "client")]
impl Client {
    #[circuit_breaker(retry(attempts = 2))]
    pub async fn reset(&mut self) -> Result<u32, Error> {
        Ok(1)
    }
}

fn main() {}
