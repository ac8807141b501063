//! A plain `fn`'s fallback is a plain `fn` too.
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
pub fn get(id: &str) -> Result<u32, Error> {
    Ok(id.len() as u32)
}

async fn cached(id: &str, _: CallError<Error>) -> Result<u32, Error> {
    Ok(id.len() as u32)
}

fn main() {}
