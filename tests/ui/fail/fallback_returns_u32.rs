//! A fallback returns the function's own `Result`, not the success value.
use breaker_runtime::CallError;
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(fallback = cached)]
pub async fn get(id: u32) -> Result<u32, Error> {
    Ok(id)
}

async fn cached(id: u32, _: CallError<Error>) -> u32 {
    id
}

fn main() {}
