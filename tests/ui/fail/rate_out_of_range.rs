//! Rates are in (0, 1].
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_rate = 1.5)]
pub async fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
