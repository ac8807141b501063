//! `skip` goes on a method, not on the block.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

#[circuit_breaker(skip)]
impl Client {
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
