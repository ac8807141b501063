//! The attribute goes on functions.
use breaker_runtime::circuit_breaker;

#[circuit_breaker]
pub struct Client;

fn main() {}
