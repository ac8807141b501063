//! The fallback is a path to a function, not a string.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(fallback = "cached")]
pub async fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
