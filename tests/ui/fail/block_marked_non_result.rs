//! A method the block would leave alone (it does not return a `Result`) but that is marked
//! explicitly gets the method form's diagnostic: it cannot be protected.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

#[circuit_breaker(name = "client")]
impl Client {
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }

    #[circuit_breaker(timeout = "1s")]
    pub async fn count(&self) -> u32 {
        0
    }
}

fn main() {}
