//! A configuration serialised to TOML or JSON reads back equal (feature `serde`). JSON floats
//! read back bit for bit with `serde_json`'s `float_roundtrip` feature, which the workspace enables.

#![cfg(feature = "serde")]

use std::time::Duration;

use breaker_core::{Config, ConfigBuilder, WindowKind};
use proptest::prelude::*;

/// Any valid configuration: each field either left at its default or set within its bounds.
fn configs() -> impl Strategy<Value = Config> {
    let secs = |lo: u64, hi: u64| (lo..hi).prop_map(Duration::from_millis);
    (
        (prop::option::of(0u32..50), prop::option::of(prop::option::of(0.01f64..=1.0))),
        prop::option::of(prop_oneof![
            (1u32..500).prop_map(WindowKind::Count),
            (1u64..3600).prop_map(|s| WindowKind::Time(Duration::from_secs(s)))
        ]),
        prop::option::of((secs(1, 60_000), 0.01f64..=1.0)),
        (prop::option::of(secs(1, 3_600_000)), prop::option::of(0.0f64..0.99), prop::option::of(any::<bool>())),
        (prop::option::of((1u32..10, 1u32..10)), prop::option::of(secs(1, 600_000)), prop::option::of(1u32..3)),
    )
        .prop_filter_map(
            "valid",
            |((consecutive, rate), window, slow, (wait, jitter, enabled), (permits, max_half_open, minimum))| {
                let mut b = ConfigBuilder::new();
                if let Some(n) = consecutive {
                    b = b.consecutive_failures(n);
                }
                match rate {
                    Some(Some(r)) => b = b.failure_rate(r),
                    Some(None) => b = b.without_failure_rate(),
                    None => {}
                }
                if let Some(w) = window {
                    b = b.window(w);
                }
                if let Some((d, r)) = slow {
                    b = b.slow_call(d).slow_call_rate(r);
                }
                if let Some(w) = wait {
                    b = b.wait(w).exponential_backoff(2.0, w * 4);
                }
                if let Some(j) = jitter {
                    b = b.jitter(j);
                }
                if let Some(on) = enabled {
                    b = b.enabled(on);
                }
                if let Some((p, s)) = permits {
                    b = b.half_open_permits(p.max(s)).success_threshold(s);
                }
                if let Some(d) = max_half_open {
                    b = b.max_half_open(d);
                }
                if let Some(m) = minimum {
                    b = b.minimum_calls(m);
                }
                b.build().ok()
            },
        )
}

proptest! {
    #[test]
    fn toml_reads_back_equal(config in configs()) {
        let text = toml::to_string(&config).unwrap();
        let back: Config = toml::from_str(&text).unwrap();
        prop_assert_eq!(back, config, "{}", text);
    }

    #[test]
    fn json_reads_back_equal(config in configs()) {
        let text = serde_json::to_string(&config).unwrap();
        let back: Config = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, config, "{}", text);
    }

    #[test]
    fn a_builder_keeps_only_what_it_sets(config in configs()) {
        let builder = config.to_builder();
        let text = toml::to_string(&builder).unwrap();
        let back: ConfigBuilder = toml::from_str(&text).unwrap();
        prop_assert_eq!(back, builder);
    }
}

#[test]
fn the_default_as_toml_reads_like_a_breaker_file() {
    let text = toml::to_string(&Config::default()).unwrap();
    assert!(text.contains("wait = \"1m\"") && text.contains("window = \"100 calls\""), "{text}");
    assert!(text.contains("slow_call = false") && text.contains("enabled = true"), "{text}");
    let err = toml::from_str::<Config>("failure_rate = 3.0\nhalf_open_permits = 0\n").unwrap_err();
    assert!(err.to_string().contains("failure_rate") && err.to_string().contains("half_open_permits"), "{err}");
}
