//! Configuration bounds hold whichever source a value comes from: code, a file or the
//! environment (the attribute's are compile errors, tested in `breaker-macros`). Each error
//! names the field and the bound.

use std::time::Duration;

use breaker_runtime::sources::{from_env_vars, from_toml_str};
use breaker_runtime::{Config, Registry};

#[test]
fn a_wait_out_of_bounds_is_an_error_from_every_source() {
    let registry = Registry::new();
    let err = registry.configure("code", Config::builder().wait(Duration::from_secs(u64::MAX))).unwrap_err();
    assert!(err.to_string().contains("`wait`: must be at most 24h, got "), "{err}");

    let env = from_env_vars([("CIRCUIT_BREAKER_DEFAULT__WAIT", "18446744073709551615s")]).unwrap();
    let err = Registry::builder().env_config(env).build().unwrap_err().to_string();
    assert!(err.contains("environment") || err.contains("combined"), "names where it came from: {err}");
    assert!(err.contains("must be at most 24h"), "{err}");

    let file = from_toml_str("[default]\nwait = \"2ns\"\n", "breakers.toml").unwrap();
    let err = Registry::builder().file_config(file).build().unwrap_err().to_string();
    assert!(err.contains("must be at least 1ms, got 2ns"), "{err}");

    let env = from_env_vars([("CIRCUIT_BREAKER_DB__MAX_HALF_OPEN", "25h")]).unwrap();
    let err = Registry::new().apply_env(env).unwrap_err().to_string();
    assert!(
        err.contains("in environment: breaker `DB`: max_half_open") && err.contains("must be at most 24h, got 25h"),
        "{err}"
    );
}
