//! Reloading a registry's file and environment while it runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use breaker_runtime::testing::ManualClock;
use breaker_runtime::{Event, Name, Registry, State};

/// A configuration file in a fresh temporary directory, removed on drop.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(text: &str) -> TempFile {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "breaker-reload-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("breakers.toml");
        std::fs::write(&path, text).unwrap();
        TempFile { dir, path }
    }
    fn write(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_reload_keeps_state_generation_and_backoff_and_the_window_when_its_shape_holds() {
    let clock = ManualClock::new();
    let file =
        TempFile::new("[db]\nconsecutive_failures = 2\nwait = \"10s\"\nbackoff_multiplier = 2.0\nmax_wait = \"1h\"\n");
    let registry = Registry::builder().clock(clock.clone()).from_toml_file(file.path()).unwrap().build().unwrap();
    let db = registry.breaker("db");
    let fail = || {
        let _ = db.call_blocking(|| Err::<(), _>("down"));
    };
    fail();
    fail();
    assert_eq!(db.state(), State::Open);
    clock.advance(Duration::from_secs(10));
    fail(); // the probe fails: reopened with the backoff's next step (20 s)
    assert_eq!(db.state(), State::Open);
    let retry_after = db.snapshot().retry_after;

    file.write(
        "[db]\nconsecutive_failures = 3\nwait = \"10s\"\nbackoff_multiplier = 2.0\nmax_wait = \"1h\"\njitter = 0.0\n",
    );
    assert_eq!(registry.reload().unwrap().changed, [Name::from("db")]);
    assert_eq!(db.state(), State::Open, "state kept");
    assert_eq!(db.snapshot().retry_after, retry_after, "the open wait is not restarted");
    clock.advance(Duration::from_secs(20));
    fail();
    assert_eq!(db.snapshot().retry_after, Some(Duration::from_secs(40)), "backoff kept: the next step is 40 s");

    // The window is kept when its shape is unchanged, emptied when it changes.
    let keep = registry.breaker("keep");
    let _ = keep.call_blocking(|| Err::<(), _>("one failure"));
    file.write("[db]\nwait = \"5s\"\n[keep]\nwindow = \"100 calls\"\n");
    registry.reload().unwrap();
    assert_eq!(keep.snapshot().calls_in_window, 1, "same window: kept");
    file.write("[db]\nwait = \"5s\"\n[keep]\nwindow = \"50 calls\"\n");
    registry.reload().unwrap();
    assert_eq!(keep.snapshot().calls_in_window, 0, "new window size: emptied");
}

#[test]
fn an_invalid_reload_changes_nothing_and_is_reported() {
    let file = TempFile::new("[db]\nwait = \"5s\"\n");
    let registry = Registry::builder().from_toml_file(file.path()).unwrap().build().unwrap();
    let db = registry.breaker("db");
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    registry.on_event(move |e| match e {
        Event::ConfigReloaded(changed) => seen.lock().unwrap().push(format!("reloaded {changed:?}")),
        Event::ConfigReloadFailed(errors) => seen.lock().unwrap().push(format!("failed: {errors}")),
        _ => {}
    });

    file.write("[db]\nwait = \"9s\"\nfailure_rate = 3.0\n[other]\nwait = \"soon\"\n");
    let err = registry.reload().unwrap_err();
    assert_eq!(err.errors.len(), 1, "the file's own error first: {err}");
    assert_eq!(db.core().config().wait(), Duration::from_secs(5), "nothing changed");
    assert_eq!(registry.config_errors().len(), 1);

    // Readable, but invalid once combined (a range error): still nothing, and the source named.
    file.write("[db]\nwait = \"9s\"\nfailure_rate = 3.0\n");
    let err = registry.reload().unwrap_err();
    assert!(err.to_string().contains("failure_rate") && err.to_string().contains("breakers.toml:3"), "{err}");
    assert_eq!(db.core().config().wait(), Duration::from_secs(5));

    file.write("[db]\nwait = \"9s\"\n");
    registry.reload().unwrap();
    assert_eq!(db.core().config().wait(), Duration::from_secs(9));
    assert!(registry.config_errors().is_empty(), "a good reload clears the errors");
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events[0].starts_with("failed: ") && events[1].starts_with("failed: "));
    assert_eq!(events[2], "reloaded [\"db\"]");
}

#[test]
fn reloads_are_counted_by_result() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let file = TempFile::new("[db]\nwait = \"5s\"\n");
    let registry = Registry::builder().from_toml_file(file.path()).unwrap().build().unwrap();
    registry.reload().unwrap();
    file.write("[db]\nwait = 5\n");
    registry.reload().unwrap_err();
    let counts: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == breaker_runtime::metrics::CONFIG_RELOADS)
        .map(|(key, _, _, value)| {
            let result = key.key().labels().find(|l| l.key() == "result").unwrap().value().to_owned();
            let metrics_util::debugging::DebugValue::Counter(n) = value else { panic!("a counter") };
            (result, n)
        })
        .collect();
    assert!(counts.contains(&("success".to_owned(), 1)) && counts.contains(&("failure".to_owned(), 1)), "{counts:?}");
}

const A: &str = "[default]\nwait = \"11s\"\nminimum_calls = 7\n[db]\nfailure_rate = 0.3\n";
const B: &str = "[default]\nwait = \"22s\"\nminimum_calls = 9\n[db]\nfailure_rate = 0.6\n";
const BAD: &str = "[default]\nwait = \"33s\"\nminimum_calls = 11\n[db]\nfailure_rate = 7\n";

#[test]
fn a_hundred_reloads_under_load_lose_no_call_mix_no_configuration_and_reset_no_state() {
    let file = TempFile::new(A);
    let registry = Registry::builder().from_toml_file(file.path()).unwrap().build().unwrap();
    let db = registry.breaker("db");
    let pinned = registry.breaker("pinned");
    pinned.force_open();
    let open = registry.breaker("open");
    open.core().reconfigure(breaker_runtime::Config::builder().consecutive_failures(1).build().unwrap());
    let _ = open.call_blocking(|| Err::<(), _>("down"));
    assert_eq!(open.state(), State::Open);
    let generation_probe = open.snapshot().retry_after;

    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stop) = (db.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let (mut sent, mut returned) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    sent += 1;
                    let _ = db.call_blocking(|| if sent % 50 == 0 { Err("x") } else { Ok(()) });
                    returned += 1;
                }
                (sent, returned)
            })
        })
        .collect();
    let watcher = {
        let (db, stop) = (db.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut mixed = 0;
            while !stop.load(Ordering::Relaxed) {
                let c = db.core().config();
                let a = (c.wait(), c.minimum_calls(), c.failure_rate()) == (Duration::from_secs(11), 7, Some(0.3));
                let b = (c.wait(), c.minimum_calls(), c.failure_rate()) == (Duration::from_secs(22), 9, Some(0.6));
                if !a && !b {
                    mixed += 1;
                }
            }
            mixed
        })
    };
    let (mut ok, mut refused) = (0, 0);
    for i in 0..100 {
        file.write([A, B, BAD][i % 3]);
        match registry.reload() {
            Ok(_) => ok += 1,
            Err(_) => refused += 1,
        }
        assert_eq!(pinned.state(), State::ForcedOpen, "reload {i} reset a forced-open breaker");
        assert_eq!(open.state(), State::Open, "reload {i} reset an open breaker");
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        let (sent, returned) = caller.join().unwrap();
        assert!(sent > 0);
        assert_eq!(sent, returned, "every call came back");
    }
    assert_eq!(watcher.join().unwrap(), 0, "a configuration mixing two reloads was seen");
    assert_eq!((ok, refused), (67, 33));
    assert_eq!(open.snapshot().retry_after.is_some(), generation_probe.is_some());
}

#[test]
fn a_watched_file_reloads_when_it_changes() {
    let file = TempFile::new("[db]\nwait = \"5s\"\n");
    let registry = Registry::builder().from_toml_file(file.path()).unwrap().build().unwrap();
    let db = registry.breaker("db");
    let watch = registry.watch_config(Duration::from_millis(10)).unwrap();
    file.write("[db]\nwait = \"8s\"\nminimum_calls = 3\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.core().config().wait() != Duration::from_secs(8) {
        assert!(Instant::now() < deadline, "the change was never picked up");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(watch); // stops and joins the watching thread
    assert!(Registry::new().watch_config(Duration::from_secs(1)).is_err(), "no file: nothing to watch");
}

#[test]
fn patterns_base_and_precedence() {
    let file = TempFile::new(
        r#"
[default]
wait = "30s"

[shared]
consecutive_failures = 9
jitter = 0.2

["payments.*"]
base = "shared"
wait = "5s"

["payments.refunds.*"]
wait = "7s"

["payments.refunds.eu"]
minimum_calls = 4
"#,
    );
    let registry = Registry::builder().from_toml_file(file.path()).unwrap().build().unwrap();
    let charges = registry.effective_config("payments.charges").unwrap();
    assert_eq!(
        (charges.wait(), charges.consecutive_failures(), charges.jitter()),
        (Duration::from_secs(5), Some(9), 0.2)
    );
    let eu = registry.effective_config("payments.refunds.eu").unwrap();
    assert_eq!((eu.wait(), eu.minimum_calls(), eu.consecutive_failures()), (Duration::from_secs(7), 4, Some(9)));
    assert_eq!(registry.effective_config("search").unwrap().wait(), Duration::from_secs(30));
    let sources = registry.effective_config_sources("payments.refunds.eu");
    let source = |key: &str| sources.iter().find(|(k, _)| *k == key).unwrap().1.clone();
    assert!(source("wait").ends_with("breakers.toml:14 (payments.refunds.*.wait)"), "{}", source("wait"));
    assert!(source("minimum_calls").ends_with("breakers.toml:17 (payments.refunds.eu.minimum_calls)"));
    assert!(source("consecutive_failures").contains("inherited through `base`"), "{}", source("consecutive_failures"));
    assert_eq!(source("max_half_open"), "built-in default");
}

#[test]
fn equally_specific_patterns_that_can_meet_are_an_error_naming_both() {
    let err = breaker_runtime::sources::from_toml_str("[\"a.*\"]\nwait = \"1s\"\n[\"*.b\"]\nwait = \"2s\"\n", "f.toml")
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`*.b`") && text.contains("`a.*`"), "{text}");
    // Equally specific but disjoint: fine.
    assert!(breaker_runtime::sources::from_toml_str("[\"a.*\"]\nwait = \"1s\"\n[\"b.*\"]\nwait = \"2s\"\n", "f.toml")
        .is_ok());
    let err = breaker_runtime::sources::from_toml_str("[a]\nbase = \"b\"\n[b]\nbase = \"a\"\n", "f.toml").unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");
    let err = breaker_runtime::sources::from_toml_str("[a]\nbase = \"nowhere\"\n", "f.toml").unwrap_err();
    assert!(err.to_string().contains("line 2: a.base=\"nowhere\""), "{err}");
}

#[test]
fn the_seeds_knob_names_are_aliases() {
    let file = breaker_runtime::sources::from_toml_str(
        "[db]\nfailure_threshold = 4\nrecovery_timeout = 30\nerror_rate_threshold = 0.4\nwindow_size = 50\nhalf_open_max_requests = 3\n[cache]\nopen_timeout_ms = 1500\nsample_size = 20\n[q]\ntimeout_secs = \"2m\"\n",
        "f.toml",
    )
    .unwrap();
    let registry = Registry::builder().file_config(file).build().unwrap();
    let db = registry.effective_config("db").unwrap();
    assert_eq!(db.consecutive_failures(), Some(4));
    assert_eq!(db.wait(), Duration::from_secs(30));
    assert_eq!(db.failure_rate(), Some(0.4));
    assert_eq!(db.window(), breaker_runtime::WindowKind::Count(50));
    assert_eq!(db.half_open_permits(), 3);
    let cache = registry.effective_config("cache").unwrap();
    assert_eq!((cache.wait(), cache.window()), (Duration::from_millis(1500), breaker_runtime::WindowKind::Count(20)));
    assert_eq!(registry.effective_config("q").unwrap().wait(), Duration::from_secs(120));

    let err =
        breaker_runtime::sources::from_toml_str("[db]\nfailure_threshold = 4\nconsecutive_failures = 5\n", "f.toml")
            .unwrap_err();
    assert!(err.to_string().contains("both set `consecutive_failures`"), "{err}");

    let env = breaker_runtime::sources::from_env_vars([
        ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "3"),
        ("CIRCUIT_BREAKER_TIMEOUT_SECS", "45"),
        ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "1"),
    ])
    .unwrap();
    let registry = Registry::builder().env_config(env).build().unwrap();
    let any = registry.effective_config("anything").unwrap();
    assert_eq!(
        (any.consecutive_failures(), any.wait(), any.success_threshold()),
        (Some(3), Duration::from_secs(45), 1)
    );
    let err = breaker_runtime::sources::from_env_vars([
        ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "3"),
        ("CIRCUIT_BREAKER_DEFAULT__CONSECUTIVE_FAILURES", "4"),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("both set `consecutive_failures`"), "{err}");
}

#[test]
fn one_breaker_can_be_switched_off_and_back_on() {
    let file = TempFile::new("[db]\nenabled = false\n");
    let registry = Registry::builder().from_toml_file(file.path()).unwrap().build().unwrap();
    let db = registry.breaker("db");
    let other = registry.breaker("other");
    assert_eq!((db.state(), other.state()), (State::MetricsOnly, State::Closed));
    file.write("[db]\nenabled = true\n");
    registry.reload().unwrap();
    assert_eq!(db.state(), State::Closed, "switched back on");
    file.write("[\"d*\"]\nenabled = false\n");
    registry.reload().unwrap();
    assert_eq!(db.state(), State::MetricsOnly, "by pattern too");

    let env = breaker_runtime::sources::from_env_vars([("CIRCUIT_BREAKER_DB__ENABLED", "false")]).unwrap();
    let registry = Registry::builder().env_config(env).build().unwrap();
    assert_eq!(registry.breaker("db").state(), State::MetricsOnly);

    let registry = Registry::new();
    let db = registry.breaker("db");
    registry.configure("db", breaker_runtime::Config::builder().enabled(false)).unwrap();
    assert_eq!(db.state(), State::MetricsOnly, "from code, on a live breaker");
    registry.configure("db", breaker_runtime::Config::builder().enabled(true)).unwrap();
    assert_eq!(db.state(), State::Closed);
}

#[test]
fn switching_slow_calls_off_for_one_breaker_over_a_default_that_sets_them() {
    let file = breaker_runtime::sources::from_toml_str(
        "[default]\nslow_call = \"2s\"\nslow_call_rate = 0.5\n[x]\nslow_call = false\n",
        "f.toml",
    )
    .unwrap();
    let registry = Registry::builder().file_config(file).build().expect("turning a trip off turns off its rate");
    assert_eq!(registry.effective_config("x").unwrap().slow_calls(), None);
    assert!(registry.effective_config("y").unwrap().slow_calls().is_some());
}

#[test]
fn sections_no_breaker_uses_are_listed() {
    let file = breaker_runtime::sources::from_toml_str(
        "[inventory-stok]\nwait = \"5s\"\n[\"pay.*\"]\nwait = \"5s\"\n[db]\nwait = \"5s\"\n",
        "f.toml",
    )
    .unwrap();
    let env = breaker_runtime::sources::from_env_vars([("CIRCUIT_BREAKER_CACHE__WAIT", "5s")]).unwrap();
    let registry = Registry::builder().file_config(file).env_config(env).build().unwrap();
    registry.breaker("db");
    registry.breaker("pay.eu");
    let unused = registry.unused_sections();
    assert_eq!(unused, ["file: [\"inventory-stok\"]", "environment: CIRCUIT_BREAKER_CACHE__*"], "{unused:?}");
}

#[test]
fn queue_settings_come_from_the_file_and_the_environment() {
    use breaker_runtime::QueueSettings;
    let file = breaker_runtime::sources::from_toml_str(
        "[queues.\"essay-events\"]\ncapacity = 5000\nshutdown_deadline = \"3s\"\n",
        "f.toml",
    )
    .unwrap();
    let env =
        breaker_runtime::sources::from_env_vars([("CIRCUIT_BREAKER_QUEUE__ESSAY_EVENTS__CAPACITY", "200")]).unwrap();
    let registry = Registry::builder().file_config(file).env_config(env).build().unwrap();
    let defaults = QueueSettings { capacity: 10, shutdown_deadline: Duration::from_secs(1) };
    assert_eq!(
        registry.queue_settings("essay-events", defaults),
        QueueSettings { capacity: 200, shutdown_deadline: Duration::from_secs(3) },
        "env over file over code"
    );
    assert_eq!(registry.queue_settings("other", defaults), defaults);
    let err = breaker_runtime::sources::from_toml_str("[queues.q]\ncapacity = 0\nspeed = 3\n", "f.toml").unwrap_err();
    assert_eq!(err.errors.len(), 2, "{err}");
    assert!(err.to_string().contains("line 2: queues.q.capacity=\"0\""), "{err}");
    assert!(breaker_runtime::sources::from_env_vars([("CIRCUIT_BREAKER_QUEUE__Q__CAPACITY", "lots")]).is_err());
}
