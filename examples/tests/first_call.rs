//! Runs the README's install example: the fourth call opens the breaker.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/first_call.rs"]
mod first_call;

use first_call::FetchError;

#[tokio::test]
async fn the_breaker_opens_after_three_failures() {
    let results = first_call::run().await;
    assert!(matches!(results[0], Ok(10)));
    assert!(results[1..4].iter().all(|r| matches!(r, Err(FetchError::Upstream(_)))));
    let Err(FetchError::Rejected(rejected)) = &results[4] else { panic!("{:?}", results[4]) };
    assert_eq!(rejected.name(), "inventory");
}
