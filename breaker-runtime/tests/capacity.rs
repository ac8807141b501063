//! Names from outside cannot grow a registry without bound: a capacity, an overflow breaker,
//! and optional eviction of idle breakers.

use std::time::Duration;

use breaker_runtime::testing::ManualClock;
use breaker_runtime::{Config, NameRefused, Registry, State, MAX_NAME_LEN, OVERFLOW_NAME};

#[test]
fn a_full_registry_serves_new_names_from_one_overflow_breaker() {
    let registry = Registry::builder().capacity(2).build().unwrap();
    let a = registry.breaker("a");
    registry.breaker("b");
    let junk: Vec<_> = (0..100).map(|i| registry.breaker(format!("junk-{i}"))).collect();
    assert!(junk.iter().all(|b| b.name().as_str() == OVERFLOW_NAME));
    junk[0].force_open();
    assert_eq!(junk[99].state(), State::ForcedOpen, "one shared overflow breaker");
    assert_eq!(registry.len(), 2);
    assert_eq!(registry.snapshots().len(), 3, "the overflow breaker is visible");
    assert_eq!(registry.breaker("a").state(), a.state(), "existing names are still served");
    assert_eq!(registry.try_breaker("c").unwrap_err(), NameRefused::Full { capacity: 2 });
    assert!(registry.try_breaker("c").unwrap_err().to_string().contains("map unbounded input"));
}

#[test]
fn configured_names_never_count_against_the_capacity() {
    let registry = Registry::builder().capacity(1).build().unwrap();
    registry.breaker("junk");
    registry.configure("payments", Config::builder().wait(Duration::from_secs(5))).unwrap();
    assert_eq!(registry.try_breaker("payments").unwrap().name().as_str(), "payments");
}

#[test]
fn removing_a_breaker_frees_its_place() {
    let registry = Registry::builder().capacity(1).build().unwrap();
    registry.breaker("a");
    assert!(registry.try_breaker("b").is_err());
    registry.remove("a");
    assert!(registry.try_breaker("b").is_ok());
}

#[test]
fn overlong_names_are_refused() {
    let registry = Registry::new();
    let long = "x".repeat(MAX_NAME_LEN + 1);
    assert_eq!(registry.try_breaker(long.clone()).unwrap_err(), NameRefused::TooLong { len: MAX_NAME_LEN + 1 });
    assert_eq!(registry.breaker(long.clone()).name().as_str(), OVERFLOW_NAME);
    assert!(registry.try_breaker("x".repeat(MAX_NAME_LEN)).is_ok());
}

#[test]
fn idle_breakers_are_evicted_and_held_or_recent_ones_kept() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).evict_idle_after(Duration::from_secs(60)).build().unwrap();
    registry.breaker("idle");
    let held = registry.breaker("held");
    registry.breaker("recent");
    clock.advance(Duration::from_secs(59));
    assert_eq!(registry.evict_idle(), 0, "nothing idle for a minute yet");
    registry.breaker("recent"); // a lookup keeps it
    clock.advance(Duration::from_secs(2));
    assert_eq!(registry.evict_idle(), 1);
    assert!(registry.get("idle").is_none());
    assert!(registry.get("held").is_some(), "a handle is held: kept");
    assert!(registry.get("recent").is_some());
    drop(held);
    assert_eq!(registry.len(), 2);
}

#[test]
fn a_full_registry_evicts_idle_breakers_to_make_room() {
    let clock = ManualClock::new();
    let registry =
        Registry::builder().clock(clock.clone()).capacity(2).evict_idle_after(Duration::from_secs(60)).build().unwrap();
    registry.breaker("a");
    registry.breaker("b");
    clock.advance(Duration::from_secs(61));
    assert_eq!(registry.breaker("c").name().as_str(), "c", "room was made");
    assert_eq!(registry.len(), 1);
}

#[test]
fn without_eviction_nothing_is_evicted() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build().unwrap();
    registry.breaker("a");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(registry.evict_idle(), 0);
    assert!(registry.get("a").is_some());
}

#[test]
fn names_sharing_one_environment_variable_are_warned_about() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    tracing::subscriber::with_default(subscriber, || {
        let env = breaker_runtime::sources::from_env_vars([("CIRCUIT_BREAKER_A_B__WAIT", "5s")]).unwrap();
        let registry = Registry::builder().env_config(env).build().unwrap();
        registry.breaker("a-b");
        registry.breaker("a.b");
        registry.breaker("default");
    });
    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("share the environment name A_B"), "{log}");
    assert!(log.contains("cannot be configured alone from the environment"), "{log}");
}
