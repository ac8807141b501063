//! The outage harness in its short mode: every scenario at once, checking the correctness
//! properties (shielding, recovery, no false trips, fast rejections once open, zero loss,
//! duplicates only from deliveries the sender saw fail, zero leftovers) with generous margins. Other
//! latency is reported, not asserted.

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
        .filter(|c| c.asserted && c.applies && !c.ok)
        .map(|c| format!("{} / {}: {} (measured {})", c.scenario, c.client, c.property, c.measured))
        .collect();
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
    assert_eq!(report.scenarios.len(), 7, "every scenario ran");
    for s in &report.scenarios {
        for p in s.producers.iter().filter(|p| p.label.starts_with("RetryQueue")) {
            assert_eq!(p.lost, 0, "{}: nothing lost", s.scenario.name());
            match p.acks_lost {
                // At least once: every lost acknowledgement may cost one extra copy, no more.
                Some(acks_lost) => {
                    assert!(acks_lost > 0, "{}: the fault happened", s.scenario.name());
                    assert!(p.extra_copies <= acks_lost, "{}: {p:?}", s.scenario.name());
                }
                None => assert_eq!(p.duplicated, 0, "{}: refused connections cannot duplicate", s.scenario.name()),
            }
        }
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

// The checks themselves, on hand-made runs (no network, no clock): each could not fail, or
// claimed too much, before the harness kept its own counts.

mod checks {
    use std::time::Duration;

    use breaker_examples::harness::load::{Call, Run};
    use breaker_examples::harness::{measure, Fault, Margin, Mode, Phase, Scenario, ScenarioReport, Served, Variant};

    fn call(at: f64, ms: f64, served: Served) -> Call {
        Call { at, latency: Duration::from_secs_f64(ms / 1000.0), served }
    }

    /// Our tower client in the short `hang` scenario: it opens at 2.5 s, then rejects calls in
    /// 50 µs while `probes` probes each wait out the 2 s timeout.
    fn hang_report(probes: usize, rejected: usize, unanswered: usize) -> ScenarioReport {
        let scenario = Scenario::new(Fault::Hang, Mode::Short);
        let mut calls = Vec::new();
        let mut attempts = Vec::new();
        for i in 0..rejected {
            calls.push(call(3.0 + i as f64 * 0.02, 0.05, Served::FallbackRejected));
        }
        for i in 0..probes {
            let at = 3.5 + i as f64 * 1.5;
            calls.push(call(at, 2000.0, Served::FallbackFailed));
            attempts.push(at);
        }
        // Admitted calls that never came back to the caller: what a leaked permit looks like.
        for i in 0..unanswered {
            attempts.push(9.0 + i as f64 * 0.1);
        }
        calls.sort_by(|a, b| a.at.total_cmp(&b.at));
        let transitions = vec![
            (2.5, Phase::Open),
            (4.5, Phase::HalfOpen),
            (6.5, Phase::Open),
            (10.2, Phase::HalfOpen),
            (10.3, Phase::Closed),
        ];
        let run = Run { calls, ..Run::default() };
        let measured = measure::measure(&scenario, Variant::TowerLayer, run, attempts, transitions);
        ScenarioReport { scenario, clients: vec![measured], producers: Vec::new() }
    }

    fn find<'a>(
        checks: &'a [breaker_examples::harness::Check],
        property: &str,
    ) -> &'a breaker_examples::harness::Check {
        checks.iter().find(|c| c.property.starts_with(property)).unwrap_or_else(|| panic!("no `{property}` row"))
    }

    #[test]
    fn hang_judges_rejected_calls_apart_from_probes_and_asserts_them() {
        // 3 probes of 2 s among 100 calls are 3%: counted together, the p99 was 2 s.
        let report = hang_report(3, 100, 0);
        let checks = report.checks(Margin::STRICT);
        let row = find(&checks, "rejected-call p99 under 5.0 ms once open (at 40 requests/s)");
        assert!(row.ok && row.asserted && row.applies, "{row:?}");
        assert!(row.measured.starts_with("50 µs over 100 rejected calls"), "{}", row.measured);
        assert!(row.measured.contains("p99 2000.0 ms over 3"), "probes reported apart: {}", row.measured);
        assert_eq!(report.clients[0].rejected_once_open.count, 100);
        assert_eq!(report.clients[0].admitted_once_open.count, 3);
    }

    #[test]
    fn an_admitted_call_that_never_settles_is_caught() {
        let report = hang_report(3, 100, 1);
        let checks = report.checks(Margin::STRICT);
        let row = find(&checks, "every admitted call settled");
        assert!(!row.ok && row.asserted, "{row:?}");
        assert_eq!(row.measured, "4 admitted, 3 settled");
        let fine = hang_report(3, 100, 0);
        assert!(find(&fine.checks(Margin::STRICT), "every admitted call settled").ok);
    }

    #[test]
    fn a_breaker_that_never_opened_has_no_recovery_to_judge() {
        let scenario = Scenario::new(Fault::Down, Mode::Short);
        let calls = vec![call(1.0, 1.0, Served::Fresh), call(3.0, 1.0, Served::FallbackFailed)];
        let run = Run { calls, ..Run::default() };
        let measured = measure::measure(&scenario, Variant::Peer, run, vec![1.0, 3.0], Vec::new());
        let report = ScenarioReport { scenario, clients: vec![measured], producers: Vec::new() };
        let checks = report.checks(Margin::STRICT);
        let opens = find(&checks, "opens during the fault");
        assert!(!opens.ok && opens.applies, "{opens:?}");
        for property in ["closed within", "at most 2 requests"] {
            let row = find(&checks, property);
            assert!(!row.applies && row.measured == "never opened", "{row:?}");
        }
        let markdown_row =
            breaker_examples::harness::Report { mode: Mode::Short, scenarios: vec![report], elapsed: Duration::ZERO }
                .markdown();
        assert!(
            markdown_row.contains("| closed within 1500.0 ms after healing | never opened | n/a |"),
            "{markdown_row}"
        );
    }
}
