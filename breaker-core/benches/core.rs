//! Benchmarks for `breaker-core` (placeholder until the benchmark suite lands).

fn main() {}
