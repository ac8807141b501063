//! A type error in the body points at the user's code.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker]
pub async fn get() -> Result<u32, Error> {
    Ok("one")
}

fn main() {}
