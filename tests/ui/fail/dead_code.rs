//! `dead_code` still fires for an unused annotated function.
#![deny(dead_code)]
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker]
async fn unused() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
