//! A window in a form the parser does not accept lists the accepted forms.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(window = "100 requests")]
pub async fn get() -> Result<u32, Error> {
    Ok(1)
}

fn main() {}
