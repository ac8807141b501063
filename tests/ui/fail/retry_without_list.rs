//! `retry` takes a list.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(retry = 3)]
pub async fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
