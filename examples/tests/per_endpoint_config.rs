//! Runs the per-endpoint configuration example and checks each layer's effect.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/per_endpoint_config.rs"]
mod per_endpoint_config;

use std::time::Duration;

use breaker_runtime::WindowKind;

#[tokio::test]
async fn code_then_file_then_environment() {
    let env = vec![
        ("CIRCUIT_BREAKER_USER_SERVICE__WAIT".to_owned(), "5s".to_owned()),
        ("CIRCUIT_BREAKER_DEFAULT__MINIMUM_CALLS".to_owned(), "5".to_owned()),
    ];
    let steps = per_endpoint_config::run(env).await.unwrap();
    let get = |step: &[(String, breaker_runtime::Config)], name: &str| {
        step.iter().find(|(n, _)| n == name).map(|(_, c)| c.clone()).unwrap()
    };

    // Attribute and registry default.
    let content = get(&steps.attribute, "content-service");
    assert_eq!(content.minimum_calls(), 10);
    assert_eq!(content.window(), WindowKind::Count(100));
    let user = get(&steps.attribute, "user-service");
    assert_eq!((user.consecutive_failures(), user.wait()), (Some(3), Duration::from_secs(10)));

    // Code beats the attribute.
    assert_eq!(get(&steps.code, "content-service").minimum_calls(), 50);

    // The file beats code: its default section and each breaker's section.
    let content = get(&steps.file, "content-service");
    assert_eq!((content.failure_rate(), content.window()), (Some(0.25), WindowKind::Time(Duration::from_secs(60))));
    assert_eq!(content.wait(), Duration::from_secs(20));
    assert_eq!(get(&steps.file, "user-service").consecutive_failures(), None);
    assert_eq!(
        get(&steps.file, "user-service").wait(),
        Duration::from_secs(20),
        "the file's default beats the attribute"
    );

    // The environment beats the file.
    assert_eq!(get(&steps.env, "user-service").wait(), Duration::from_secs(5));
    assert_eq!(get(&steps.env, "content-service").minimum_calls(), 5);
    assert_eq!(get(&steps.env, "content-service").wait(), Duration::from_secs(20));

    assert!(steps.malformed.contains("CIRCUIT_BREAKER_USER_SERVICE__WAIT=\"5 sec\""), "{}", steps.malformed);
}
