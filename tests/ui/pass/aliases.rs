//! Result aliases work: the return type is never parsed.
use breaker_runtime::{circuit_breaker, Rejected, TimedOut};

mod my {
    pub type Result<T> = std::result::Result<T, super::Error>;
}

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

impl From<TimedOut> for Error {
    fn from(_: TimedOut) -> Self {
        Error
    }
}

#[circuit_breaker(timeout = "1s")]
pub async fn alias() -> my::Result<u32> {
    Ok(1)
}

/// With a fallback covering everything, the error type needs no conversions at all.
#[circuit_breaker(fallback = io_fallback)]
pub fn io_alias(path: &str) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

fn io_fallback(_: &str, _: breaker_runtime::CallError<std::io::Error>) -> std::io::Result<String> {
    Ok(String::new())
}

fn main() {}
