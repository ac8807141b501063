//! Every error is reported at once, each on its own token.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(nmae = "x", wait = "30 sec", failure_rate = 2.0, fallback_on = "sometimes", retry(attempts = 0))]
pub async fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
