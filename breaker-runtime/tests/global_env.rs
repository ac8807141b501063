//! The global registry reads the process environment once; each check runs in a child process
//! (this test binary re-run with a marker variable) so it gets a fresh global and environment.

#![cfg(unix)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::time::Duration;

use breaker_runtime::sources::from_env_vars_os;
use breaker_runtime::Registry;

const CHILD: &str = "BREAKER_TEST_CHILD";

/// Re-runs `test` alone in a child process with `vars` set; returns its output.
fn in_child(test: &str, vars: &[(&OsStr, &OsStr)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([test, "--exact", "--nocapture", "--test-threads=1"]).env(CHILD, "1");
    for (k, v) in vars {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "child failed:\n{text}");
    text
}

#[test]
fn the_global_registry_ignores_neighbours_that_are_not_utf8() {
    if std::env::var_os(CHILD).is_some() {
        let wait = Registry::global().effective_config("db").unwrap().wait();
        println!("CHILD-WAIT={wait:?}");
        return;
    }
    let out = in_child(
        "the_global_registry_ignores_neighbours_that_are_not_utf8",
        &[
            (OsStr::new("SOME_OTHER_TOOL"), OsStr::from_bytes(b"caf\xe9")),
            (OsStr::from_bytes(b"WEIRD_\xff_NAME"), OsStr::new("x")),
            (OsStr::new("CIRCUIT_BREAKER_DEFAULT__WAIT"), OsStr::new("7s")),
        ],
    );
    assert!(out.contains(&format!("CHILD-WAIT={:?}", Duration::from_secs(7))), "{out}");
}

#[test]
fn one_of_our_variables_that_is_not_utf8_is_an_error_naming_it() {
    let vars = [
        (OsStr::new("CIRCUIT_BREAKER_DB__WAIT").to_owned(), OsStr::from_bytes(b"5\xffs").to_owned()),
        (OsStr::new("PATH").to_owned(), OsStr::from_bytes(b"\xff").to_owned()),
    ];
    let err = from_env_vars_os(vars).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    assert_eq!(err.errors[0].location, "CIRCUIT_BREAKER_DB__WAIT");
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
}

#[test]
fn the_kill_switch_survives_a_bad_neighbour_and_errors_reach_stderr() {
    if std::env::var_os(CHILD).is_some() {
        let registry = Registry::global();
        println!("CHILD-STATE={:?}", registry.breaker("db").state());
        println!("CHILD-ERRORS={}", registry.config_errors().len());
        println!("CHILD-WAIT={:?}", registry.effective_config("db").unwrap().wait());
        return;
    }
    let out = in_child(
        "the_kill_switch_survives_a_bad_neighbour_and_errors_reach_stderr",
        &[
            (OsStr::new("CIRCUIT_BREAKER_ENABLED"), OsStr::new("false")),
            (OsStr::new("CIRCUIT_BREAKER_DB__WAIT"), OsStr::new("soon")),
            (OsStr::new("CIRCUIT_BREAKER_DB__MINIMUM_CALLS"), OsStr::new("5")),
            (OsStr::new("CIRCUIT_BREAKER_LOG_LEVEL"), OsStr::new("debug")),
        ],
    );
    assert!(out.contains("CHILD-STATE=MetricsOnly"), "kill switch honoured: {out}");
    assert!(out.contains("CHILD-ERRORS=1"), "{out}");
    assert!(out.contains(&format!("CHILD-WAIT={:?}", Duration::from_secs(60))), "nothing else applied: {out}");
    assert!(out.contains("CIRCUIT_BREAKER_DB__WAIT=\"soon\""), "the error reached stderr without a subscriber: {out}");
}

#[test]
fn an_unknown_variable_does_not_drop_the_others() {
    if std::env::var_os(CHILD).is_some() {
        let registry = Registry::global();
        println!("CHILD-STATE={:?}", registry.breaker("db").state());
        println!("CHILD-WARNINGS={}", registry.config_warnings().len());
        return;
    }
    let out = in_child(
        "an_unknown_variable_does_not_drop_the_others",
        &[
            (OsStr::new("CIRCUIT_BREAKER_ENABLED"), OsStr::new("false")),
            (OsStr::new("CIRCUIT_BREAKER_LOG_LEVEL"), OsStr::new("debug")),
        ],
    );
    assert!(out.contains("CHILD-STATE=MetricsOnly") && out.contains("CHILD-WARNINGS=1"), "{out}");
    assert!(out.contains("CIRCUIT_BREAKER_LOG_LEVEL"), "the warning reached stderr: {out}");
}

#[test]
fn init_global_from_env_refuses_a_bad_environment() {
    if std::env::var_os(CHILD).is_some() {
        match breaker_runtime::init_global_from_env() {
            Ok(_) => println!("CHILD-INIT=ok"),
            Err(e) => println!("CHILD-INIT=err {e}"),
        }
        return;
    }
    let out = in_child(
        "init_global_from_env_refuses_a_bad_environment",
        &[(OsStr::new("CIRCUIT_BREAKER_DB__WAIT"), OsStr::new("soon"))],
    );
    assert!(out.contains("CHILD-INIT=err") && out.contains("CIRCUIT_BREAKER_DB__WAIT"), "{out}");
    let out = in_child("init_global_from_env_refuses_a_bad_environment", &[]);
    assert!(out.contains("CHILD-INIT=ok"), "{out}");
}
