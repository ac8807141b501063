//! `skip` leaves the method alone, so other arguments next to it have no effect.
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
    #[circuit_breaker(skip, timeout = "1s")]
    pub async fn get(&self, id: u32) -> Result<u32, Error> {
        Ok(id)
    }
}

fn main() {}
