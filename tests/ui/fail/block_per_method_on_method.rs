//! `per_method` goes on the block; a method gets its own breaker through its own `name`.
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
    #[circuit_breaker(per_method)]
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
