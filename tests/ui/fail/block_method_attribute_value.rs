//! A method-level attribute inside a block is a list or nothing, never `= value`; its unknown
//! keys list the method-level keys (`skip` among them).
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
    #[circuit_breaker = "fast"]
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }

    #[circuit_breaker(nmae = "x")]
    pub async fn put(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
