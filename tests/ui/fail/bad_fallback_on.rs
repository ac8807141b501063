//! `fallback_on` is "rejected" or "any".
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(fallback = fallback, fallback_on = "failures")]
pub async fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}

async fn fallback(_: breaker_runtime::CallError<Error>) -> Result<u32, Error> {
    Ok(0)
}
