//! `minimum_calls` cannot exceed a count window.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(window = "10 calls", minimum_calls = 20)]
pub async fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
