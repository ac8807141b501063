//! Without a fallback, the error type must hold a rejection.
use breaker_runtime::circuit_breaker;

#[derive(Debug)]
pub struct Error;

#[circuit_breaker]
pub async fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
