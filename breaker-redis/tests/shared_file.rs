//! The fleet's settings live in the same TOML file and environment as the breakers'.

mod support;

use std::time::Duration;

use breaker_redis::{Fleet, FleetConfig, FleetError, FleetPolicy};
use breaker_runtime::Registry;
use support::{eventually, RedisServer};

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("breaker-fleet-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn one_file_configures_the_breakers_and_the_fleet() {
    let text = "[db]\nwait = \"5s\"\n\n[fleet]\nurl = \"redis://127.0.0.1:6379\"\npolicy = \"any\"\n";
    let path = write_temp("shared", text);
    let registry = Registry::builder().from_toml_file(&path);
    let fleet = FleetConfig::from_toml_file(&path);
    let _ = std::fs::remove_file(&path);
    let registry = registry.expect("the runtime accepts a file with a [fleet] table").build().unwrap();
    assert!(registry.config_warnings().is_empty(), "{:?}", registry.config_warnings());
    let fleet = fleet.unwrap().unwrap();
    assert_eq!(fleet.policy, FleetPolicy::Any);
    let errors = FleetConfig::from_toml_file("/nonexistent/breaker.toml").unwrap_err();
    assert!(errors[0].to_string().starts_with("/nonexistent/breaker.toml: "), "{errors:?}");
}

/// Code, then the file, then the environment, end to end: the variables win over the file,
/// and the link really runs with the result (its channel carries the variable's prefix).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_from_the_file_and_the_environment_reach_the_link() {
    let Some(server) = RedisServer::start() else { return };
    let text = "[fleet]\nurl = \"redis://127.0.0.1:1\"\nprefix = \"from-file\"\ninstance_id = \"file-id\"\n\
                lease_ttl = \"3s\"\nreconnect_min = \"20ms\"\n[fleet.policies]\npayments = \"quorum(2)\"\n";
    let path = write_temp("layers", text);
    let from_file = FleetConfig::from_toml_file(&path);
    let _ = std::fs::remove_file(&path);
    let config = from_file
        .unwrap()
        .expect("a [fleet] table")
        .apply_env_vars([
            ("CIRCUIT_BREAKER_FLEET__URL", server.url().as_str()),
            ("CIRCUIT_BREAKER_FLEET__PREFIX", "from-env"),
            ("CIRCUIT_BREAKER_FLEET__POLICY__SEARCH", "local"),
            ("OTHER_VARIABLE", "ignored"),
        ])
        .unwrap();
    assert_eq!(config.instance_id, "file-id", "the file's value where no variable is set");
    assert_eq!(config.lease_ttl, Duration::from_secs(3));
    assert_eq!(config.policy_for("payments"), FleetPolicy::Quorum(2));
    assert_eq!(config.policy_for("search"), FleetPolicy::Local);
    let registry = Registry::new();
    let fleet = Fleet::attach(&registry, config).unwrap();
    eventually(Duration::from_secs(3), || fleet.link_up()).await.expect("linked through the variable's URL");
    let channels = server.command("PUBSUB CHANNELS *").unwrap_or_default();
    assert!(channels.contains("from-env:fleet:events"), "subscribed under the variable's prefix: {channels:?}");
    assert_eq!(fleet.instance_id(), "file-id");
    fleet.shutdown().await;
}

/// An invalid value names its field and where it came from: the file and key, the variable,
/// or (set in code) the field; a file's errors come in line order.
#[tokio::test]
async fn an_invalid_value_names_its_field_and_source() {
    let path = write_temp("invalid", "[fleet]\nurl = \"redis://x\"\nlease_ttl = \"soon\"\nshared_probes = 3\n");
    let errors = FleetConfig::from_toml_file(&path).unwrap_err();
    let _ = std::fs::remove_file(&path);
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    let file = path.display().to_string();
    assert!(shown[0].starts_with(&format!("{file}: fleet.lease_ttl, line 3: ")), "{shown:?}");
    assert!(shown[1].starts_with(&format!("{file}: fleet.shared_probes, line 4: ")), "{shown:?}");

    let errors = FleetConfig::new("redis://x")
        .apply_env_vars([("CIRCUIT_BREAKER_FLEET__COMMAND_TIMEOUT", "0ms"), ("CIRCUIT_BREAKER_FLEET__POLICY", "all")])
        .unwrap_err();
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(shown[0].starts_with("CIRCUIT_BREAKER_FLEET__COMMAND_TIMEOUT=\"0ms\": "), "{shown:?}");
    assert!(shown[1].starts_with("CIRCUIT_BREAKER_FLEET__POLICY=\"all\": invalid fleet policy"), "{shown:?}");

    let mut config = FleetConfig::new("redis://x");
    config.reconnect_max = Duration::ZERO;
    let error = Fleet::attach(&Registry::new(), config).unwrap_err();
    assert!(matches!(error, FleetError::Config(_)), "{error:?}");
    assert!(error.to_string().contains("reconnect_max: must be longer than zero"), "{error}");
}
