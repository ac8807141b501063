//! With a fallback, owned arguments are cloned for it: a non-`Clone` one is named.
use breaker_runtime::CallError;
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Request;

#[circuit_breaker(fallback = cached)]
pub async fn get(id: u32, request: Request) -> Result<u32, Error> {
    let _ = request;
    Ok(id)
}

async fn cached(id: u32, _: Request, _: CallError<Error>) -> Result<u32, Error> {
    Ok(id)
}

fn main() {}
