//! No allocation per call with a fleet attached: the closed path and the rejected path,
//! measured by a counting allocator on the test's thread while the fleet's link runs (linked
//! to a private `redis-server`) on another runtime's threads.

mod support;

use std::time::Duration;

use breaker_redis::{Fleet, FleetConfig};
use breaker_runtime::{CallError, Config, Registry, State};
use support::RedisServer;

#[path = "../../tests/support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

const CALLS: u64 = 10_000;

#[test]
fn calls_allocate_nothing_with_a_fleet_attached() {
    let Some(server) = RedisServer::start() else { return };
    let link_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let registry = Registry::builder()
        .metrics(false)
        .default_config(Config::builder().consecutive_failures(3).wait(Duration::from_secs(60)))
        .build()
        .unwrap();
    let fleet = {
        let _entered = link_rt.enter();
        Fleet::attach(&registry, FleetConfig::new(server.url()).instance_id("alloc")).unwrap()
    };
    let calls = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    calls.block_on(async {
        for _ in 0..500 {
            if fleet.link_up() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(fleet.link_up());
        let breaker = registry.breaker("db");
        let closed = |i: u64| {
            let breaker = &breaker;
            async move {
                let r: Result<u64, CallError<()>> = breaker.call(async move { Ok(i) }).await;
                assert_eq!(r.unwrap(), i);
            }
        };
        for i in 0..100 {
            closed(i).await;
        }
        let before = allocations();
        for i in 0..CALLS {
            closed(i).await;
        }
        assert_eq!(allocations() - before, 0, "closed calls with a fleet attached");

        breaker.core().adopt_open(
            Duration::from_secs(60),
            breaker_runtime::InstanceId::new("x"),
            breaker_runtime::FleetCause::Opened,
        );
        assert_eq!(breaker.state(), State::Open);
        let rejected = |i: u64| {
            let breaker = &breaker;
            async move {
                let r: Result<u64, CallError<()>> = breaker.call(async move { Ok(i) }).await;
                assert!(r.is_err());
            }
        };
        for i in 0..100 {
            rejected(i).await;
        }
        let before = allocations();
        for i in 0..CALLS {
            rejected(i).await;
        }
        assert_eq!(allocations() - before, 0, "rejected calls with a fleet attached");
    });
    drop(fleet);
    drop(server);
}
