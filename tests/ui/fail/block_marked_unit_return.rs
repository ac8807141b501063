//! A method returning `()` that is marked explicitly inside a block gets the method form's
//! error: there is no failure to count.
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
    /// Left alone: not marked.
    pub fn reset(&self) {}

    #[circuit_breaker]
    pub fn clear(&self) {}
}

fn main() {}
