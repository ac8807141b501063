//! `skip` only has a meaning on a method inside a block that carries the attribute.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

impl Client {
    #[circuit_breaker(skip)]
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
