//! `crate = path` for a re-exported or renamed runtime.
mod facade {
    pub use breaker_runtime as breaker;
}

use facade::breaker::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(crate = facade::breaker, name = "renamed", timeout = "1s", fallback = fallback)]
pub async fn get(id: u32) -> Result<u32, Error> {
    Ok(id)
}

async fn fallback(id: u32, _: facade::breaker::CallError<Error>) -> Result<u32, Error> {
    Ok(id)
}

fn main() {}
