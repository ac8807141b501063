//! A blocking function cannot be retried.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(retry(attempts = 3))]
pub fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
