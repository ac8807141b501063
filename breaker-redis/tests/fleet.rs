//! Replicas sharing breakers through a real `redis-server` (started per test; see
//! `support/mod.rs`). Each replica is a `Registry` with its own `Fleet` in this process.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use breaker_redis::{Fleet, FleetConfig, FleetPolicy};
use breaker_runtime::testing::ManualClock;
use breaker_runtime::{Config, Event, Registry, State, Transition};
use support::{eventually, RedisServer};

const SOON: Duration = Duration::from_secs(3);

struct Replica {
    registry: Registry,
    fleet: Option<Fleet>,
    seen: Arc<Mutex<Vec<Transition>>>,
}

impl Replica {
    fn db(&self) -> breaker_runtime::Breaker {
        self.registry.breaker("db")
    }

    fn trip(&self) {
        self.trip_named("db");
    }

    fn trip_named(&self, name: &'static str) {
        let breaker = self.registry.breaker(name);
        for _ in 0..5 {
            if let Ok(permit) = breaker.core().try_acquire() {
                permit.failure();
            }
        }
        assert_eq!(breaker.state(), State::Open);
    }

    fn states(&self) -> Vec<(String, State)> {
        let mut states: Vec<(String, State)> =
            self.registry.snapshots().into_iter().map(|(name, s)| (name.to_string(), s.state)).collect();
        states.sort_by(|x, y| x.0.cmp(&y.0));
        states
    }

    fn last(&self) -> Transition {
        self.seen.lock().unwrap().last().cloned().expect("a transition")
    }

    fn fleet(&self) -> &Fleet {
        self.fleet.as_ref().unwrap()
    }
}

fn config(server: &RedisServer, id: &str, policy: FleetPolicy) -> FleetConfig {
    let mut config = FleetConfig::new(server.url()).prefix("test").instance_id(id).policy(policy);
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    config.lease_ttl = Duration::from_millis(800);
    config
}

async fn replica(config: FleetConfig, wait: Duration) -> Replica {
    replica_on(config, wait, None).await
}

/// A replica whose breakers read `clock` (time stands still unless the test moves it).
async fn replica_on(config: FleetConfig, wait: Duration, clock: Option<ManualClock>) -> Replica {
    let mut builder = Registry::builder();
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    let registry = builder
        .metrics(false)
        .default_config(
            Config::builder()
                .consecutive_failures(5)
                .minimum_calls(100)
                .wait(wait)
                .half_open_permits(1)
                .success_threshold(1),
        )
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    registry.on_event(move |e| {
        if let Event::Transition(t) = e {
            sink.lock().unwrap().push(t.clone());
        }
    });
    registry.breaker("db");
    let fleet = Fleet::attach(&registry, config).unwrap();
    assert!(eventually(SOON, || fleet.link_up()).await.is_some(), "link up");
    Replica { registry, fleet: Some(fleet), seen }
}

macro_rules! server {
    () => {
        match RedisServer::start() {
            Some(server) => server,
            None => return,
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_hint_an_opening_sensitises_the_others_and_one_failure_opens_them() {
    let server = server!();
    let a = replica(config(&server, "a", FleetPolicy::Hint), Duration::from_secs(30)).await;
    let b = replica(config(&server, "b", FleetPolicy::Hint), Duration::from_secs(30)).await;
    a.trip();
    let took = eventually(SOON, || b.db().core().sensitised_for().is_some()).await.expect("b sensitised");
    eprintln!("sensitised {took:?} after the opening");
    assert_eq!(b.db().state(), State::Closed, "a hint does not open");
    b.db().core().try_acquire().unwrap().failure();
    assert_eq!(b.db().state(), State::Open, "one failure, not five");
    let t = b.last();
    assert_eq!(t.reason.as_str(), "fleet_sensitised");
    assert!(t.reason.to_string().contains("`a`"), "{}", t.reason);
    assert!(t.snapshot.retry_after.unwrap() <= Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_hint_a_healthy_replica_stays_closed() {
    let server = server!();
    let a = replica(config(&server, "a", FleetPolicy::Hint), Duration::from_secs(30)).await;
    let b = replica(config(&server, "b", FleetPolicy::Hint), Duration::from_secs(30)).await;
    a.trip();
    eventually(SOON, || b.db().core().sensitised_for().is_some()).await.expect("b sensitised");
    b.db().core().try_acquire().unwrap().success();
    b.db().core().try_acquire().unwrap().failure();
    assert_eq!(b.db().state(), State::Closed, "its own success outweighs another replica's network");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_any_every_replica_adopts_the_open_naming_the_instance() {
    let server = server!();
    let a = replica(config(&server, "a", FleetPolicy::Any), Duration::from_secs(30)).await;
    let b = replica(config(&server, "b", FleetPolicy::Any), Duration::from_secs(30)).await;
    let c = replica(config(&server, "c", FleetPolicy::Local), Duration::from_secs(30)).await;
    a.trip();
    let took = eventually(SOON, || b.db().state() == State::Open).await.expect("b adopted");
    eprintln!("adopted {took:?} after the opening");
    let t = b.last();
    assert_eq!((t.from, t.to, t.reason.as_str()), (State::Closed, State::Open, "fleet_opened"));
    assert!(t.reason.to_string().contains("`a`"));
    let rejected = b.db().core().try_acquire().unwrap_err();
    assert!(rejected.retry_after().unwrap() <= Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(c.db().state(), State::Closed, "`local` ignores the fleet");
    assert_eq!(a.fleet().stats().count("published"), 1);
    assert_eq!(b.fleet().stats().count("published"), 0, "an adopted open is not echoed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_catches_up_from_the_keys() {
    let server = server!();
    let a = replica(config(&server, "a", FleetPolicy::Any), Duration::from_secs(30)).await;
    a.trip();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late = replica(config(&server, "late", FleetPolicy::Any), Duration::from_secs(30)).await;
    eventually(SOON, || late.db().state() == State::Open).await.expect("resynced");
    assert_eq!(late.fleet().stats().count("resynced"), 1);
    assert!(late.db().core().try_acquire().unwrap_err().retry_after().unwrap() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_on_the_channel_is_counted_and_ignored() {
    let server = server!();
    let b = replica(config(&server, "b", FleetPolicy::Any), Duration::from_secs(30)).await;
    let channel = "test:fleet:events";
    server.publish_raw(channel, b"\xff\x00 not json");
    server.publish_raw(channel, &vec![b'{'; 100_000]);
    server.publish_raw(channel, br#"{"v":99,"kind":"open","breaker":"db"}"#);
    server.publish_raw(channel, br#"{"v":1,"kind":"open","breaker":"db","instance":"x","generation":1,"reason":"r","remaining_ms":-5,"token":0}"#);
    let stats = || b.fleet().stats();
    eventually(SOON, || stats().count("ignored_malformed") == 2).await.expect("malformed counted");
    assert_eq!((stats().count("ignored_oversized"), stats().count("ignored_foreign")), (1, 1));
    assert!(stats().link_up);
    assert_eq!(b.db().state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_calls_are_local_and_the_fleet_resyncs_when_it_returns() {
    let mut server = server!();
    let a = replica(config(&server, "a", FleetPolicy::Any), Duration::from_secs(30)).await;
    let b = replica(config(&server, "b", FleetPolicy::Any), Duration::from_secs(30)).await;
    server.kill();
    eventually(SOON, || !a.fleet().link_up() && !b.fleet().link_up()).await.expect("links down");
    // Calls are judged locally, with no added latency.
    let start = Instant::now();
    for _ in 0..1000 {
        b.db().core().try_acquire().unwrap().success();
    }
    assert!(start.elapsed() < Duration::from_millis(200), "{:?}", start.elapsed());
    a.trip(); // opens while Redis is away: b cannot hear of it yet
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.db().state(), State::Closed);
    assert!(b.seen.lock().unwrap().is_empty(), "no breaker flapped with the link");
    server.restart();
    let back = Instant::now();
    let took = eventually(SOON, || b.db().state() == State::Open).await.expect("the outage's opening reached b");
    eprintln!("resynced {took:?} after Redis returned");
    assert!(back.elapsed() < Duration::from_secs(2));
    assert_eq!(b.last().reason.as_str(), "fleet_opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_costs_calls_nothing_and_drops_the_link() {
    let server = server!();
    let b = replica(config(&server, "b", FleetPolicy::Any), Duration::from_secs(30)).await;
    let sleeper = std::thread::spawn({
        let port = server.port;
        move || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::io::Write::write_all(&mut s, b"DEBUG SLEEP 2\r\n").unwrap();
            let mut buf = [0u8; 16];
            let _ = std::io::Read::read(&mut s, &mut buf);
        }
    });
    let (mut worst, mut saw_down) = (Duration::ZERO, false);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1900) {
        let call = Instant::now();
        b.db().core().try_acquire().unwrap().success();
        worst = worst.max(call.elapsed());
        saw_down |= !b.fleet().link_up();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Generous for a loaded machine: a call that waited on Redis would take the 2 s sleep.
    assert!(worst < Duration::from_millis(100), "slowest call {worst:?}");
    assert!(saw_down, "a Redis that does not answer in time counts as down");
    sleeper.join().unwrap();
    eventually(SOON, || b.fleet().link_up()).await.expect("link back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_probe_for_the_fleet_and_its_verdict_closes_every_replica() {
    let server = server!();
    let wait = Duration::from_millis(300);
    let replicas = [
        replica(config(&server, "a", FleetPolicy::Any), wait).await,
        replica(config(&server, "b", FleetPolicy::Any), wait).await,
        replica(config(&server, "c", FleetPolicy::Any), wait).await,
    ];
    replicas[0].trip();
    eventually(SOON, || replicas.iter().all(|r| r.db().state() == State::Open)).await.expect("all open");
    let mut probes = 0;
    let start = Instant::now();
    while replicas.iter().any(|r| r.db().state() != State::Closed) && start.elapsed() < SOON {
        for r in &replicas {
            if let Ok(permit) = r.db().core().try_acquire() {
                if permit.is_probe() {
                    probes += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                permit.success();
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(replicas.iter().all(|r| r.db().state() == State::Closed), "the verdict reached everyone");
    assert_eq!(probes, 1, "one probe budget (half_open_permits = 1) for three replicas");
    let closed_by_fleet = replicas.iter().filter(|r| r.last().reason.as_str() == "fleet_probes_succeeded").count();
    assert_eq!(closed_by_fleet, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_probe_reopens_the_fleet_with_the_shared_backoff() {
    let server = server!();
    let wait = Duration::from_millis(300);
    let a = replica(config(&server, "a", FleetPolicy::Any), wait).await;
    let b = replica(config(&server, "b", FleetPolicy::Any), wait).await;
    a.trip();
    eventually(SOON, || b.db().state() == State::Open).await.expect("b open");
    let mut prober = None;
    eventually(SOON, || {
        for (i, r) in [&a, &b].iter().enumerate() {
            if let Ok(p) = r.db().core().try_acquire() {
                assert!(p.is_probe());
                p.failure();
                prober = Some(i);
                return true;
            }
        }
        false
    })
    .await
    .expect("someone probed");
    let (prober, other) = if prober == Some(0) { (&a, &b) } else { (&b, &a) };
    assert_eq!(prober.last().reason.as_str(), "probe_failed");
    // Before the verdict the other waits for the lease (lease_ttl + slack, over a second);
    // the verdict gives it the prober's new wait instead.
    let heard = eventually(SOON, || {
        other.db().core().try_acquire().err().and_then(|r| r.retry_after()).is_some_and(|after| after <= wait)
    })
    .await;
    assert!(heard.is_some(), "the failed verdict reached the other replica");
    assert_eq!(other.db().state(), State::Open);
    assert!(other.fleet().stats().count("applied") >= 1, "the verdict was applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_probers_lease_expires_and_another_replica_probes() {
    let server = server!();
    let wait = Duration::from_millis(200);
    let mut a = replica(config(&server, "a", FleetPolicy::Any), wait).await;
    let mut b = replica(config(&server, "b", FleetPolicy::Any), wait).await;
    a.trip();
    eventually(SOON, || b.db().state() == State::Open).await.expect("b open");
    tokio::time::sleep(wait).await;
    // The lease winner's probes are released; the other's held.
    eventually(SOON, || {
        [&a, &b].iter().filter(|r| r.db().core().probes_held_for().is_none()).count() == 1
            && [&a, &b]
                .iter()
                .all(|r| r.fleet().stats().count("lease_won") + r.fleet().stats().count("lease_held_elsewhere") > 0)
    })
    .await
    .expect("one lease winner");
    if a.db().core().probes_held_for().is_some() {
        std::mem::swap(&mut a, &mut b);
    }
    // `a` won and dies before probing.
    a.fleet.take().unwrap().shutdown().await;
    let took = eventually(Duration::from_secs(4), || b.fleet().stats().count("lease_won") > 0).await;
    eprintln!("the survivor took the lease {took:?} after the winner died");
    let db = b.db();
    let permit = db.core().try_acquire().expect("the survivor probes");
    assert!(permit.is_probe());
    permit.success();
    assert_eq!(b.db().state(), State::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_quorum_a_replica_adopts_once_k_replicas_opened() {
    let server = server!();
    let a = replica(config(&server, "a", FleetPolicy::Local), Duration::from_secs(30)).await;
    let b = replica(config(&server, "b", FleetPolicy::Local), Duration::from_secs(30)).await;
    let c = replica(config(&server, "c", FleetPolicy::Quorum(2)), Duration::from_secs(30)).await;
    a.trip();
    eventually(SOON, || c.fleet().stats().count("applied") == 1).await.expect("c heard a");
    assert_eq!(c.db().state(), State::Closed, "one report is not a quorum");
    b.trip();
    eventually(SOON, || c.db().state() == State::Open).await.expect("c adopted at the second report");
    let t = c.last();
    assert_eq!(t.reason.as_str(), "fleet_opened");
    assert!(t.reason.to_string().contains("`b`"), "{}", t.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_redis_never_flaps_a_breaker() {
    let mut server = server!();
    // Time stands still for the breakers (each replica its own manual clock): no wait ends and
    // no lease is tried during the test, so any state change would be the flapping link's.
    let wait = Duration::from_secs(60);
    let clock_a = ManualClock::new();
    let a = replica_on(config(&server, "a", FleetPolicy::Any), wait, Some(clock_a.clone())).await;
    let b_config = config(&server, "b", FleetPolicy::Any).breaker_policy("hinted", FleetPolicy::Hint);
    let b = replica_on(b_config, wait, Some(ManualClock::new())).await;
    // a: `half` half-open with its probe in flight, `db` and `hinted` open, `fine` closed.
    // b: `db` open (adopted), `hinted` closed and sensitised, `fine` closed.
    a.trip_named("half");
    clock_a.advance(wait * 2);
    let half = a.registry.breaker("half");
    let probe = half.core().try_acquire().expect("the wait is over: a probe");
    assert!(probe.is_probe());
    assert_eq!(a.registry.breaker("half").state(), State::HalfOpen);
    for r in [&a, &b] {
        r.registry.breaker("fine");
        r.registry.breaker("hinted");
        r.registry.breaker("barrier");
    }
    a.trip();
    a.trip_named("hinted");
    eventually(SOON, || {
        b.db().state() == State::Open && b.registry.breaker("hinted").core().sensitised_for().is_some()
    })
    .await
    .expect("b heard both openings");
    let before = (a.states(), b.states());
    let seen_before = (a.seen.lock().unwrap().len(), b.seen.lock().unwrap().len());
    for flap in 0..4 {
        server.kill();
        eventually(SOON, || !a.fleet().link_up() && !b.fleet().link_up()).await.expect("links down");
        server.restart();
        eventually(SOON, || a.fleet().link_up() && b.fleet().link_up())
            .await
            .unwrap_or_else(|| panic!("links back up after restart {flap}"));
    }
    // A barrier: one more opening, heard by b after everything published before it.
    a.trip_named("barrier");
    eventually(SOON, || b.registry.breaker("barrier").state() == State::Open).await.expect("the barrier reached b");
    let without_barrier = |states: Vec<(String, State)>| -> Vec<(String, State)> {
        states.into_iter().filter(|(name, _)| name != "barrier").collect()
    };
    assert_eq!(without_barrier(a.states()), without_barrier(before.0), "a's breakers kept their states");
    assert_eq!(without_barrier(b.states()), without_barrier(before.1), "b's breakers kept their states");
    for (r, seen) in [(&a, seen_before.0), (&b, seen_before.1)] {
        let changed: Vec<String> = r.seen.lock().unwrap()[seen..]
            .iter()
            .filter(|t| t.name.as_str() != "barrier")
            .map(|t| format!("{} {:?} -> {:?} ({})", t.name, t.from, t.to, t.reason))
            .collect();
        assert!(changed.is_empty(), "transitions while Redis flapped: {changed:?}");
    }
    assert!(b.registry.breaker("hinted").core().sensitised_for().is_some(), "still sensitised");
    b.registry.breaker("fine").core().try_acquire().expect("closed breakers still admit").success();
    probe.success();
    assert_eq!(a.registry.breaker("half").state(), State::Closed, "the probe in flight still decides");
}

#[tokio::test]
async fn attaching_a_second_fleet_to_one_registry_is_refused_until_the_first_is_gone() {
    // No server needed: `attach` connects in the background.
    let registry = Registry::new();
    let first = Fleet::attach(&registry, FleetConfig::new("redis://127.0.0.1:1").instance_id("first")).unwrap();
    let second = Fleet::attach(&registry, FleetConfig::new("redis://127.0.0.1:1").instance_id("second"));
    let error = second.expect_err("two links on one registry would publish every opening twice");
    assert!(matches!(error, breaker_redis::FleetError::AlreadyAttached { .. }), "{error:?}");
    assert!(error.to_string().contains("first"), "the error names the link already attached: {error}");
    let other = Registry::new();
    Fleet::attach(&other, FleetConfig::new("redis://127.0.0.1:1")).expect("another registry has its own link");
    first.shutdown().await;
    Fleet::attach(&registry, FleetConfig::new("redis://127.0.0.1:1")).expect("attach again once the first is gone");
}

/// A caller-built client decides where the link connects: the settings' URL (here a closed
/// port) is only shown in logs, and the settings are checked as `attach` checks them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_built_client_links_where_it_points() {
    let server = server!();
    let a = replica(config(&server, "a", FleetPolicy::Any), Duration::from_secs(30)).await;
    let registry = Registry::builder()
        .metrics(false)
        .default_config(Config::builder().consecutive_failures(5).wait(Duration::from_secs(30)))
        .build()
        .unwrap();
    registry.breaker("db");
    let mut settings = config(&server, "b", FleetPolicy::Any);
    settings.url = "redis://127.0.0.1:1".into();
    let client = breaker_redis::redis::Client::open(server.url()).unwrap();
    let fleet = Fleet::attach_with_client(&registry, settings.clone(), client).unwrap();
    eventually(SOON, || fleet.link_up()).await.expect("linked through the caller's client");
    a.trip();
    eventually(SOON, || registry.breaker("db").state() == State::Open).await.expect("b adopted a's opening");
    // The same settings through `attach` go to their URL, where nothing answers.
    let by_url = Fleet::attach(&Registry::new(), settings.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!by_url.link_up());
    settings.lease_ttl = Duration::ZERO;
    let client = breaker_redis::redis::Client::open(server.url()).unwrap();
    match Fleet::attach_with_client(&Registry::new(), settings, client) {
        Err(breaker_redis::FleetError::Config(errors)) => assert_eq!(errors[0].source_name, "lease_ttl"),
        other => panic!("{other:?}"),
    }
    fleet.shutdown().await;
}
