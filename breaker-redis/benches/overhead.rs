#![allow(missing_docs)] // criterion_group! generates an undocumented function
//! The async call benchmark with a fleet attached against a local breaker, in one run: the
//! same `Breaker::call` on a closed breaker, once in a registry with no fleet and once in a
//! registry linked to a private `redis-server` (the link runs on another runtime's thread).
//!
//! Run with `cargo bench -p breaker-redis --bench overhead` (needs `redis-server` on PATH).

use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use breaker_redis::{Fleet, FleetConfig};
use breaker_runtime::{Breaker, CallError, Registry};
use criterion::{criterion_group, criterion_main, Criterion};

#[inline(never)]
async fn bare(i: u64) -> Result<u64, ()> {
    Ok(black_box(i))
}

fn time_calls(rt: &tokio::runtime::Runtime, iters: u64, breaker: &Breaker) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            let r: Result<u64, CallError<()>> = breaker.call(bare(i)).await;
            black_box(r.is_ok());
        }
        start.elapsed()
    })
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn overhead(c: &mut Criterion) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Server(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH"),
    );
    let link_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let local = Registry::builder().metrics(false).build().unwrap().breaker("bench");
    let linked = Registry::builder().metrics(false).build().unwrap();
    let fleet = {
        let _entered = link_rt.enter();
        Fleet::attach(&linked, FleetConfig::new(format!("redis://127.0.0.1:{port}")).instance_id("bench")).unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fleet.link_up() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(fleet.link_up(), "fleet link up");
    let fleet_breaker = linked.breaker("bench");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut g = c.benchmark_group("async_call_closed_fleet");
    g.bench_function("local_breaker", |b| b.iter_custom(|iters| time_calls(&rt, iters, &local)));
    g.bench_function("fleet_attached", |b| b.iter_custom(|iters| time_calls(&rt, iters, &fleet_breaker)));
    g.finish();
    drop(fleet);
    drop(server);
}

criterion_group!(benches, overhead);
criterion_main!(benches);
