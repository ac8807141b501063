//! A function with a fallback must still return a `Result`.
use breaker_runtime::circuit_breaker;
use breaker_runtime::CallError;

#[circuit_breaker(fallback = cached)]
pub async fn get(id: u32) -> Option<u32> {
    Some(id)
}

async fn cached(id: u32, _: CallError<()>) -> Option<u32> {
    Some(id)
}

fn main() {}
