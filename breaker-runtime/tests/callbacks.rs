//! User callbacks never run under one of our locks: a callback that re-enters the registry
//! finishes, on every path that fires one (created off, configured while running, manual
//! changes, transitions of a removed breaker's handle), and callbacks of one breaker arrive in
//! the order its transitions happened.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use breaker_runtime::sources::{self, SourceConfig};
use breaker_runtime::{Config, Event, Registry, State};

/// Runs `f` on a thread and fails (instead of hanging the suite) if it does not finish in time.
fn finishes_within(seconds: u64, what: &str, f: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    finished.recv_timeout(Duration::from_secs(seconds)).unwrap_or_else(|_| panic!("deadlock: {what} never finished"));
}

fn env(vars: &[(&str, &str)]) -> SourceConfig {
    sources::from_env_vars(vars.iter().copied()).unwrap()
}

/// A callback that uses every registry entry point, counting how often it ran.
fn reentering(registry: &Registry, seen: &Arc<AtomicUsize>) {
    let inner = registry.clone();
    let seen = Arc::clone(seen);
    registry.on_event(move |event| {
        if let Event::Transition(t) = event {
            let _ = inner.get(&t.name);
            let _ = inner.breaker("another");
            let _ = inner.health();
            let _ = inner.snapshots();
            inner.configure("configured-from-a-callback", Config::builder().wait(Duration::from_secs(3))).unwrap();
            let _ = inner.remove("configured-from-a-callback");
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
}

#[test]
fn a_breaker_created_off_does_not_deadlock_a_callback_that_reenters_the_registry() {
    let registry = Registry::builder().env_config(env(&[("CIRCUIT_BREAKER_ENABLED", "false")])).build().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    reentering(&registry, &seen);
    let r = registry.clone();
    finishes_within(10, "creating a breaker while the kill switch is off", move || {
        assert_eq!(r.breaker("db").state(), State::MetricsOnly);
    });
    assert!(seen.load(Ordering::SeqCst) >= 1, "the creation's transition reached the callback");
}

#[test]
fn switching_the_registry_off_while_running_does_not_deadlock_a_reentering_callback() {
    let registry = Registry::new();
    let _db = registry.breaker("db");
    let seen = Arc::new(AtomicUsize::new(0));
    reentering(&registry, &seen);
    let r = registry.clone();
    finishes_within(10, "apply_env with the kill switch", move || {
        r.apply_env(env(&[("CIRCUIT_BREAKER_ENABLED", "false")])).unwrap();
        assert_eq!(r.breaker("db").state(), State::MetricsOnly);
    });
    assert!(seen.load(Ordering::SeqCst) >= 1);
}

#[test]
fn manual_changes_and_trips_do_not_deadlock_a_reentering_callback() {
    let registry = Registry::new();
    registry.configure("db", Config::builder().consecutive_failures(1)).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    reentering(&registry, &seen);
    let r = registry.clone();
    finishes_within(10, "force_open, reset and a trip", move || {
        let db = r.breaker("db");
        db.force_open();
        db.reset();
        let _ = db.call_blocking(|| Err::<(), _>("down"));
        assert_eq!(db.state(), State::Open);
    });
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[test]
fn a_removed_breakers_handle_still_notifies_without_deadlock() {
    let registry = Registry::new();
    let held = registry.breaker("db");
    let seen = Arc::new(AtomicUsize::new(0));
    reentering(&registry, &seen);
    assert!(registry.remove("db").is_some());
    let r = registry.clone();
    finishes_within(10, "a transition of a removed breaker", move || {
        held.force_open();
        // The callback re-created a fresh `db` through `get`? No: `get` does not create.
        assert!(r.get("another").is_some(), "the callback ran and re-entered");
    });
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[test]
fn callbacks_of_one_breaker_arrive_in_transition_order() {
    // The first callback blocks until told to go on; meanwhile another thread changes the
    // breaker's state again. The second transition must not reach callbacks before the first.
    let registry = Registry::new();
    let db = registry.breaker("db");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let first = Arc::new(AtomicUsize::new(0));
    let (l, f) = (Arc::clone(&log), Arc::clone(&first));
    registry.on_event(move |event| {
        if let Event::Transition(t) = event {
            if f.fetch_add(1, Ordering::SeqCst) == 0 {
                let _ = released.lock().unwrap().recv_timeout(Duration::from_secs(5));
            }
            l.lock().unwrap().push((t.from, t.to));
        }
    });
    let opener = {
        let db = db.clone();
        thread::spawn(move || db.force_open())
    };
    while first.load(Ordering::SeqCst) == 0 {
        thread::yield_now();
    }
    db.reset(); // returns while the first callback still blocks
    release.send(()).unwrap();
    opener.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log, vec![(State::Closed, State::ForcedOpen), (State::ForcedOpen, State::Closed)]);
    assert_eq!(log.last().unwrap().1, db.state(), "the last event received is the final state");
}

#[test]
fn a_slow_callback_delays_only_the_call_that_delivers_it() {
    // The documented contract: callbacks run on the thread that caused the transition, after
    // every lock is released. While one sleeps, other threads' calls go through.
    let registry = Registry::new();
    registry.configure("db", Config::builder().consecutive_failures(1)).unwrap();
    let (entered, in_callback) = mpsc::channel::<()>();
    let entered = Mutex::new(entered);
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    registry.on_event(move |event| {
        if let Event::Transition(_) = event {
            let _ = entered.lock().unwrap().send(());
            let _ = released.lock().unwrap().recv_timeout(Duration::from_secs(5));
        }
    });
    let db = registry.breaker("db");
    let tripper = {
        let db = db.clone();
        thread::spawn(move || db.call_blocking(|| Err::<(), _>("down")))
    };
    in_callback.recv_timeout(Duration::from_secs(5)).unwrap();
    // The trip's callback is blocked: the breaker is usable from here meanwhile.
    assert_eq!(db.state(), State::Open);
    assert!(db.call_blocking(|| Ok::<_, ()>(())).is_err(), "rejected without waiting on the callback");
    assert!(!tripper.is_finished(), "the tripping call waits for its own callback");
    release.send(()).unwrap();
    assert!(tripper.join().unwrap().is_err());
}
