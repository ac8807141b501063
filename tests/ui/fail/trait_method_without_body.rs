//! The attribute goes on a method with a body: in the impl, or on a default method.
use breaker_runtime::circuit_breaker;

#[derive(Debug)]
pub struct Error;

pub trait Client {
    #[circuit_breaker]
    async fn get(&self, id: u32) -> Result<u32, Error>;
}

fn main() {}
