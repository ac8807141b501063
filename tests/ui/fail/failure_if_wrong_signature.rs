//! `failure_if` takes `fn(&E) -> bool`.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

fn is_failure(_: &str) -> bool {
    true
}

#[circuit_breaker(failure_if = is_failure)]
pub async fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
