//! An unknown key on the block lists the block's keys.
use breaker_runtime::{circuit_breaker, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

pub struct Client;

#[circuit_breaker(name = "client", per_methd)]
impl Client {
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
