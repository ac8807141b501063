//! A fallback takes the function's arguments with their types.
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

async fn cached(id: String, _: CallError<Error>) -> Result<u32, Error> {
    Ok(id.len() as u32)
}

fn main() {}
