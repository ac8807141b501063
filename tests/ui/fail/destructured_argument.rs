//! A fallback needs each argument under a name.
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
pub async fn get((a, b): (u32, u32)) -> Result<u32, Error> {
    Ok(a + b)
}

async fn cached(_: (u32, u32), _: CallError<Error>) -> Result<u32, Error> {
    Ok(0)
}

fn main() {}
