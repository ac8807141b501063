//! The fleet's settings live in the same TOML file and environment as the breakers'.

use breaker_redis::{FleetConfig, FleetPolicy};
use breaker_runtime::Registry;

#[test]
fn one_file_configures_the_breakers_and_the_fleet() {
    let text = "[db]\nwait = \"5s\"\n\n[fleet]\nurl = \"redis://127.0.0.1:6379\"\npolicy = \"any\"\n";
    let path = std::env::temp_dir().join(format!("breaker-fleet-shared-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let registry = Registry::builder().from_toml_file(&path);
    let fleet = FleetConfig::from_toml_file(&path);
    let _ = std::fs::remove_file(&path);
    let registry = registry.expect("the runtime accepts a file with a [fleet] table").build().unwrap();
    // Until the runtime knows the `[fleet]` table, it warns about it (and never errors).
    println!("unused sections: {:?}", registry.unused_sections());
    println!("warnings: {:?}", registry.config_warnings());
    let fleet = fleet.unwrap().unwrap();
    assert_eq!(fleet.policy, FleetPolicy::Any);
    let errors = FleetConfig::from_toml_file("/nonexistent/breaker.toml").unwrap_err();
    assert!(errors[0].to_string().starts_with("/nonexistent/breaker.toml: "), "{errors:?}");
}
