//! Runs the queue-for-retry example in a short mode: every message delivered exactly once, in
//! order, across the broker's outage.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/queue_for_retry.rs"]
mod queue_for_retry;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_delivered_once_in_order_across_the_outage() {
    let summary = queue_for_retry::run(150, Duration::from_millis(1500)).await.unwrap();
    assert_eq!(summary.accepted, 150);
    assert_eq!(summary.lost(), 0, "{summary:?}");
    assert_eq!(summary.duplicated(), 0, "{summary:?}");
    assert!(summary.in_order(), "{summary:?}");
    assert_eq!(summary.delivered, (0..150).collect::<Vec<_>>());
    assert_eq!(summary.left_over, 0);
    assert!(summary.max_depth > 1, "work waited while the broker was down: {summary:?}");
    assert!(summary.transitions.iter().any(|t| t.contains("closed → open")), "{:?}", summary.transitions);
    assert!(summary.transitions.iter().any(|t| t.contains("→ closed")), "{:?}", summary.transitions);
}
