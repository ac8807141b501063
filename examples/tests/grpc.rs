//! Runs the gRPC example in a short mode and checks what it shows: the breaker opening while
//! the server answers `Unavailable`, RPCs rejected without reaching it, and recovery.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/grpc.rs"]
mod grpc;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_example_opens_shields_the_server_and_recovers() {
    let summary = grpc::run(Duration::from_secs(6)).await.unwrap();
    println!("{summary:#?}");

    assert!(summary.transitions.iter().any(|t| t.contains("closed → open")), "the breaker opened: {summary:#?}");
    assert!(summary.rejected > 0, "RPCs were rejected by the breaker: {summary:#?}");
    assert!(summary.unavailable >= 3, "the server's failures opened it: {summary:#?}");
    assert!(summary.ok > 0, "healthy phases succeeded: {summary:#?}");
    // About one RPC every 20 ms for 2 s of failure: ~100 calls. Without the breaker every one
    // reaches the server; with it, the 3 that open it and one probe per 500 ms wait.
    assert!(summary.calls_while_failing >= 20, "the failing phase ran: {summary:#?}");
    assert!(
        summary.hits_while_failing * 4 <= summary.calls_while_failing,
        "the breaker shielded the failing server: {} of {} RPCs reached it",
        summary.hits_while_failing,
        summary.calls_while_failing
    );
    assert_eq!(summary.final_state, "closed", "the breaker recovered: {summary:#?}");
}
