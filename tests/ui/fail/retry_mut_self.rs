//! Retried attempts cannot share a `&mut` borrow.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

impl Client {
    #[circuit_breaker(retry(attempts = 3))]
    pub async fn get(&mut self) -> Result<u32, Error> {
        Ok(1)
    }
}

fn main() {}
