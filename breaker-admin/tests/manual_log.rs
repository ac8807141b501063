//! A manual change is logged with its origin, and no token is ever logged. Alone in its binary:
//! it captures logs with a thread-local subscriber, and a test on another thread reaching the
//! same log call first could make `tracing` cache "no one listens" for it.

mod common;
use common::{post, serve};

use breaker_admin::AdminOptions;
use breaker_runtime::Registry;

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The server runs on this test's thread (a current-thread runtime), so a thread-local
/// subscriber sees its logs.
#[tokio::test]
async fn a_manual_change_is_logged_with_its_origin_and_never_the_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let registry = Registry::new();
    registry.breaker("db");
    let addr = serve(&registry, AdminOptions::new().admin_token("hunter2-token")).await;
    assert_eq!(post(addr, "db", Some("hunter2-token"), r#"{"state":"forced_open"}"#).await.0, 200);
    assert_eq!(post(addr, "db", Some("wrong-token"), r#"{"state":"closed"}"#).await.0, 403);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = logs.lines().find(|l| l.contains("set manually")).unwrap_or_else(|| panic!("no log line: {logs}"));
    assert!(line.contains("breaker=db") && line.contains("to_state=\"forced_open\""), "{line}");
    assert!(line.contains("POST /circuit-breakers/{name}/state"), "{line}");
    assert!(!logs.contains("hunter2") && !logs.contains("wrong-token"), "a token was logged: {logs}");
}
