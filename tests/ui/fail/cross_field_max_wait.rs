//! `max_wait` cannot be shorter than `wait`.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(wait = "5m", max_wait = "1m")]
pub async fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
