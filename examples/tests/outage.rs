//! The outage harness in its short mode: every scenario at once, checking the correctness
//! properties (shielding, recovery, no false trips, zero loss, zero leftovers) with generous
//! margins. Latency is reported, not asserted.

use std::time::{Duration, Instant};

use breaker_examples::harness::{self, Margin, Mode, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_shield_recover_and_leave_nothing_behind() {
    let t = Instant::now();
    let report = harness::run(&Options { mode: Mode::Short, only: Vec::new() }).await.unwrap();
    let elapsed = t.elapsed();
    println!("{}", report.markdown());

    let missed: Vec<String> = report
        .checks(Margin::GENEROUS)
        .into_iter()
        .filter(|c| c.asserted && !c.ok)
        .map(|c| format!("{} / {}: {} (measured {})", c.scenario, c.client, c.property, c.measured))
        .collect();
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
    assert_eq!(report.scenarios.len(), 6, "every scenario ran");
    for s in &report.scenarios {
        let lost: u64 =
            s.producers.iter().filter(|p| p.label.starts_with("RetryQueue")).map(|p| p.lost + p.duplicated).sum();
        assert_eq!(lost, 0, "{}: nothing lost or duplicated", s.scenario.name());
        for c in s.clients.iter().filter(|c| c.variant.has_breaker()) {
            // The breaker shields: far fewer requests reach the failing dependency than without it.
            let without = s.clients[0].fault_rate.max(1.0);
            if s.scenario.name() != "partial" {
                assert!(
                    c.fault_rate < without * 0.6 || c.variant == harness::Variant::Peer,
                    "{}: {} shields: {:.1}/s vs {:.1}/s",
                    s.scenario.name(),
                    c.variant.label(),
                    c.fault_rate,
                    without
                );
            }
        }
    }
    assert!(elapsed < Duration::from_secs(90), "the short mode took {elapsed:?}");
}
