//! The program the README's install section builds: one protected function in a crate of its
//! own, with a hand-written error type (no `thiserror` needed).
//!
//! `cargo run -p breaker-examples --example first_call`

use breaker_runtime::{circuit_breaker, Rejected};

/// What fetching stock can fail with.
#[derive(Debug)]
pub enum FetchError {
    /// The inventory service answered with an error.
    Upstream(String),
    /// The breaker is open: the call was not made.
    Rejected(Rejected),
}

// The one thing the attribute needs from the error type (without a fallback).
impl From<Rejected> for FetchError {
    fn from(rejected: Rejected) -> Self {
        FetchError::Rejected(rejected)
    }
}

/// Stock for `item`, from an inventory service that is up or down.
#[circuit_breaker(name = "inventory", consecutive_failures = 3)]
pub async fn stock(item: u32, service_up: bool) -> Result<u32, FetchError> {
    if service_up {
        Ok(item * 10)
    } else {
        Err(FetchError::Upstream("503 service unavailable".to_owned()))
    }
}

/// One call while the service is up, three failures, then one more call while it is up again
/// (rejected: the breaker opened after the third failure and waits before probing).
pub async fn run() -> Vec<Result<u32, FetchError>> {
    let mut results = vec![stock(1, true).await];
    for _ in 0..3 {
        results.push(stock(1, false).await);
    }
    results.push(stock(1, true).await);
    results
}

#[tokio::main]
async fn main() {
    for result in run().await {
        match result {
            Ok(stock) => println!("ok: {stock} in stock"),
            Err(FetchError::Upstream(e)) => println!("failed: {e}"),
            Err(FetchError::Rejected(r)) => println!("rejected: {r}"),
        }
    }
}
