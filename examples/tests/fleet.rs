//! The fleet harness in its short mode: six replica processes, a private `redis-server`, every
//! target asserted. Under `CI=true` a missing `redis-server` fails; elsewhere the test skips.

use std::time::{Duration, Instant};

use breaker_examples::fleet::{self, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_meets_its_targets_side_by_side_with_independent_breakers() {
    if std::process::Command::new("redis-server").arg("--version").output().is_err() {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "CI=true and redis-server is not on PATH");
        eprintln!("skipped: redis-server is not on PATH");
        return;
    }
    let started = Instant::now();
    let options = Options { exe: env!("CARGO_BIN_EXE_fleet").into(), only: Vec::new(), scale: 1 };
    let report = fleet::run(&options).await.expect("the harness runs");
    println!("{}", report.markdown());
    let missed: Vec<String> = report
        .checks()
        .into_iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {} (measured {})", c.scenario, c.target, c.measured))
        .collect();
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
    assert_eq!(report.checks().len(), 11, "every target was measured");
    assert!(started.elapsed() < Duration::from_secs(60), "the short mode took {:?}", started.elapsed());
}
