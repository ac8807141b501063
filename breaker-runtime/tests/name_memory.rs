//! A million distinct names from outside cost a bounded amount of memory with default settings
//! (issue: 1.24 GiB before the registry had a capacity). Alone in its binary so no other test
//! moves the process's resident size while it measures.

#[cfg(target_os = "linux")]
#[test]
fn a_million_distinct_names_stay_under_64_mib() {
    use breaker_runtime::{Registry, DEFAULT_CAPACITY};

    fn resident_bytes() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    let registry = Registry::new();
    let before = resident_bytes();
    for i in 0..1_000_000u32 {
        let _ = registry.breaker(format!("tenant-{i}"));
    }
    let grown = resident_bytes().saturating_sub(before);
    println!("resident growth for 1M distinct names: {:.1} MiB", grown as f64 / (1024.0 * 1024.0));
    assert_eq!(registry.len(), DEFAULT_CAPACITY);
    assert!(grown < 64 * 1024 * 1024, "grew {grown} bytes");
}
