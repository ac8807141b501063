//! Per-endpoint configuration: one client, two endpoints, configured in code, then from a TOML
//! file, then overridden by environment variables.
//!
//! Precedence, highest first: environment > file > code (`Registry::configure`, then the
//! attribute, then the registry default) > built-in defaults. A malformed value is an error
//! naming the key or variable and the value, and nothing from that source is applied.
//!
//! ```text
//! cargo run -p breaker-examples --example per_endpoint_config
//! CIRCUIT_BREAKER_USER_SERVICE__WAIT=5s cargo run -p breaker-examples --example per_endpoint_config
//! ```

use std::sync::OnceLock;

use breaker_runtime::sources::{from_env_vars, from_toml_str};
use breaker_runtime::{circuit_breaker, Config, Registry, Rejected};

/// The breakers' configuration file. In a service it would live next to the binary and be
/// read with `sources::from_toml_file`.
pub const FILE: &str = r#"
# Applies to every breaker.
[default]
wait = "20s"

["content-service"]
failure_rate = 0.25
window = "60s"

["user-service"]
consecutive_failures = false   # off: only the failure rate trips this one
"#;

/// The registry this example's client uses.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        Registry::builder()
            .default_config(Config::builder().minimum_calls(10))
            .build()
            .expect("the code defaults are valid")
    })
}

/// The client's error.
#[derive(Debug)]
pub enum ClientError {
    /// The breaker rejected the call.
    Rejected(Rejected),
}

impl From<Rejected> for ClientError {
    fn from(r: Rejected) -> Self {
        ClientError::Rejected(r)
    }
}

/// A client of two endpoints; the attribute sets each endpoint's code-level defaults.
#[derive(Debug, Default)]
pub struct Client;

impl Client {
    /// Posts, through `content-service`.
    #[circuit_breaker(name = "content-service", registry = registry(), failure_rate = 0.5, window = "100 calls")]
    pub async fn posts(&self) -> Result<Vec<String>, ClientError> {
        Ok(vec!["hello".to_owned()])
    }

    /// A profile, through `user-service`.
    #[circuit_breaker(name = "user-service", registry = registry(), consecutive_failures = 3, wait = "10s")]
    pub async fn profile(&self) -> Result<String, ClientError> {
        Ok("ada".to_owned())
    }
}

fn describe(step: &str) -> Vec<(String, Config)> {
    println!("\n== {step}");
    ["content-service", "user-service"]
        .into_iter()
        .map(|name| {
            let c = registry().effective_config(name).expect("validated when applied");
            println!(
                "{name:<16} consecutive_failures={:<4} failure_rate={:<5} window={:<10} minimum_calls={:<3} wait={:?}",
                c.consecutive_failures().map_or("off".to_owned(), |n| n.to_string()),
                c.failure_rate().map_or("off".to_owned(), |r| r.to_string()),
                c.window().to_string(),
                c.minimum_calls(),
                c.wait()
            );
            (name.to_owned(), c)
        })
        .collect()
}

/// Each step's effective configuration for both endpoints.
#[derive(Debug)]
pub struct Steps {
    /// From the attribute and the registry default.
    pub attribute: Vec<(String, Config)>,
    /// After `Registry::configure`.
    pub code: Vec<(String, Config)>,
    /// After the file.
    pub file: Vec<(String, Config)>,
    /// After the environment.
    pub env: Vec<(String, Config)>,
    /// The error for a malformed environment.
    pub malformed: String,
}

/// Applies code, file and `env` configuration in turn and shows the effect on both breakers.
pub async fn run(env: Vec<(String, String)>) -> Result<Steps, Box<dyn std::error::Error>> {
    let client = Client;
    // The first call registers each attribute's configuration.
    client.posts().await.map_err(|e| format!("{e:?}"))?;
    client.profile().await.map_err(|e| format!("{e:?}"))?;
    let attribute = describe("attribute + registry default (minimum_calls = 10)");

    registry().configure("content-service", Config::builder().minimum_calls(50))?;
    let code = describe("code: configure(\"content-service\", minimum_calls = 50)");

    registry().apply_file(from_toml_str(FILE, "breakers.toml")?)?;
    let file = describe("file: breakers.toml");

    let bad = from_env_vars([("CIRCUIT_BREAKER_USER_SERVICE__WAIT", "5 sec")]).unwrap_err().to_string();
    println!("\nmalformed environment is refused, nothing applied:\n  {bad}");
    registry().apply_env(from_env_vars(env)?)?;
    let env = describe("environment");
    Ok(Steps { attribute, code, file, env, malformed: bad })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("CIRCUIT_BREAKER_")).collect();
    if env.is_empty() {
        println!("(no CIRCUIT_BREAKER_* variables set: using CIRCUIT_BREAKER_USER_SERVICE__WAIT=5s)");
        env.push(("CIRCUIT_BREAKER_USER_SERVICE__WAIT".to_owned(), "5s".to_owned()));
    }
    if let Err(e) = run(env).await {
        eprintln!("per_endpoint_config failed: {e}");
        std::process::exit(1);
    }
}
