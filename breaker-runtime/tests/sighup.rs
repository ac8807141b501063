//! `Registry::reload_on_sighup` (feature `sighup`): a SIGHUP reloads the file.

#![cfg(all(unix, feature = "sighup"))]

use std::time::Duration;

use breaker_runtime::Registry;

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_sighup_reloads_the_configuration() {
    let dir = std::env::temp_dir().join(format!("breaker-sighup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("breakers.toml");
    std::fs::write(&path, "[db]\nwait = \"5s\"\n").unwrap();
    let registry = Registry::builder().from_toml_file(&path).unwrap().build().unwrap();
    let db = registry.breaker("db");
    registry.reload_on_sighup().unwrap();
    std::fs::write(&path, "[db]\nwait = \"8s\"\n").unwrap();
    let sent = std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status().unwrap();
    assert!(sent.success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while db.core().config().wait() != Duration::from_secs(8) {
        assert!(tokio::time::Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
