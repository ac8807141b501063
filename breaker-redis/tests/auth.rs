//! Auth through the URL: a password-protected `redis-server` (started per test, see
//! `support/mod.rs`), and the password kept out of every log line, `Debug` output, event and
//! error. Every log line of this test binary is captured, at every level.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use breaker_redis::{Fleet, FleetConfig, FleetPolicy};
use breaker_runtime::{Config, Event, Registry, State};
use support::{eventually, RedisServer};

const PASSWORD: &str = "pa55-Hunter2-secret";
const WRONG: &str = "wrong-Guess-9";
const SOON: Duration = Duration::from_secs(3);

/// Every log line of this process, as the fmt subscriber writes it.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    let logs = LOGS.get_or_init(|| Mutex::new(Vec::new()));
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(|| Capture).init();
    });
    logs
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        logs().lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [PASSWORD, WRONG] {
        assert!(!text.contains(secret), "{what} shows a password:\n{text}");
    }
}

fn url(server: &RedisServer, password: &str) -> String {
    format!("redis://:{password}@127.0.0.1:{}", server.port)
}

fn config(url: String, id: &str) -> FleetConfig {
    let mut config = FleetConfig::new(url).prefix("auth").instance_id(id).policy(FleetPolicy::Any);
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(100);
    config
}

fn registry(events: &Arc<Mutex<Vec<String>>>) -> Registry {
    let registry = Registry::builder()
        .default_config(Config::builder().consecutive_failures(2).wait(Duration::from_secs(30)))
        .build()
        .unwrap();
    let sink = events.clone();
    registry.on_event(move |e: &Event| sink.lock().unwrap().push(format!("{e:?} {e}")));
    registry.breaker("db");
    registry
}

macro_rules! server {
    ($($arg:expr),*) => {
        match RedisServer::start_with(&[$($arg),*]) {
            Some(server) => server,
            None => return,
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_url_links_the_fleet_end_to_end_and_the_password_shows_nowhere() {
    logs();
    let server = server!("--requirepass", PASSWORD);
    let events = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (registry(&events), registry(&events));
    let config_a = config(url(&server, PASSWORD), "a");
    assert_no_secret("FleetConfig's Debug", &format!("{config_a:?}"));
    assert_no_secret("FleetConfig::describe", &config_a.describe());
    let fleet_a = Fleet::attach(&a, config_a).unwrap();
    let fleet_b = Fleet::attach(&b, config(url(&server, PASSWORD), "b")).unwrap();
    eventually(SOON, || fleet_a.link_up() && fleet_b.link_up()).await.expect("both links up with the password");
    for _ in 0..2 {
        a.breaker("db").core().try_acquire().unwrap().failure();
    }
    eventually(SOON, || b.breaker("db").state() == State::Open).await.expect("a's opening reached b through Redis");
    assert_no_secret("Fleet's Debug", &format!("{fleet_a:?} {fleet_b:?}"));
    assert_no_secret("FleetStats", &format!("{:?}", fleet_b.stats()));
    assert_no_secret("events", &events.lock().unwrap().join("\n"));
    fleet_a.shutdown().await;
    fleet_b.shutdown().await;
    assert_no_secret("the logs", &captured());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_keeps_the_link_down_and_says_why_once_without_the_password() {
    logs();
    let server = server!("--requirepass", PASSWORD);
    let events = Arc::new(Mutex::new(Vec::new()));
    let b = registry(&events);
    let fleet = Fleet::attach(&b, config(url(&server, WRONG), "wrong")).expect("attach does not connect");
    // Long enough for several reconnect attempts (20 ms doubling to 100 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!fleet.link_up(), "a refused password is a link down");
    b.breaker("db").core().try_acquire().expect("calls are judged locally").success();
    let logs = captured();
    let warnings: Vec<&str> =
        logs.lines().filter(|l| l.contains("WARN") && l.contains("fleet") && l.contains("instance=wrong")).collect();
    // One warning saying the password was refused, not one per attempt (a timeout on a loaded
    // machine may add a warning of its own).
    let refused: Vec<&&str> = warnings.iter().filter(|l| l.contains("Password authentication failed")).collect();
    assert_eq!(refused.len(), 1, "one warning for a refusal that repeats at every attempt:\n{logs}");
    eprintln!("{}", refused[0]);
    let retries = logs.lines().filter(|l| l.contains("still down") && l.contains("instance=wrong")).count();
    assert!(retries >= 1, "it kept retrying, at debug level:\n{logs}");
    assert_no_secret("the logs", &logs);
    assert_no_secret("Fleet's Debug", &format!("{fleet:?}"));
    fleet.shutdown().await;
}

#[test]
fn errors_and_debug_output_hide_the_password() {
    let config = FleetConfig::new(format!("redis://user:{PASSWORD}@db:6379/0"));
    assert_no_secret("FleetConfig's Debug", &format!("{config:?}"));
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let _guard = runtime.enter();
    let registry = Registry::new();
    let error = Fleet::attach(&registry, FleetConfig::new(format!("redis://:{PASSWORD}@db:notaport"))).unwrap_err();
    assert_no_secret("FleetError", &format!("{error} {error:?}"));
    let misspelt = [("CIRCUIT_BREAKER_FLEET__URI", format!("redis://:{PASSWORD}@db:6379"))];
    let errors = FleetConfig::new("redis://db").apply_env_vars(misspelt).unwrap_err();
    assert!(errors[0].to_string().contains("CIRCUIT_BREAKER_FLEET__URI"), "{errors:?}");
    assert_no_secret("a variable's error", &format!("{errors:?} {}", errors[0]));
}

#[cfg(not(feature = "tls"))]
#[tokio::test]
async fn rediss_without_the_tls_feature_names_the_feature() {
    let url = format!("rediss://:{PASSWORD}@127.0.0.1:6380");
    let error = Fleet::attach(&Registry::new(), FleetConfig::new(url)).unwrap_err();
    assert!(matches!(error, breaker_redis::FleetError::TlsNotBuilt { .. }), "{error:?}");
    assert!(error.to_string().contains("`tls` feature of `breaker-redis`"), "{error}");
    assert_no_secret("the error", &format!("{error} {error:?}"));
}
