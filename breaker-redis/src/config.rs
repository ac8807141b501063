//! Fleet settings from code, the `[fleet]` table of the TOML configuration file, and
//! `CIRCUIT_BREAKER_FLEET__*` environment variables.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use breaker_runtime::parse::{format_duration, parse_duration};

/// How one breaker reacts when another replica of the fleet opens it.
///
/// | policy | another replica opens | trade-off |
/// | --- | --- | --- |
/// | `hint` (default) | this breaker is sensitised for the remaining wait: its next failure opens it at once, its next success clears the hint | a dead dependency costs each replica one failed call, not `minimum_calls`; one replica with a broken network cannot open a healthy fleet |
/// | `any` | adopt the open outright | fastest: no call goes out after the first opening; one replica's bad network opens the whole fleet |
/// | `quorum(k)` | adopt once `k` distinct replicas have open reports alive | robust to a few bad vantage points; the first `k` replicas each pay their own `minimum_calls` |
/// | `local` | ignore the fleet (still publishes its own openings) | today's behaviour |
///
/// ```
/// use breaker_redis::FleetPolicy;
///
/// assert_eq!("quorum(3)".parse::<FleetPolicy>().unwrap(), FleetPolicy::Quorum(3));
/// assert_eq!(FleetPolicy::default(), FleetPolicy::Hint);
/// assert!("quorum(0)".parse::<FleetPolicy>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FleetPolicy {
    /// Sensitise for the remaining wait: the next failure opens, the next success clears.
    #[default]
    Hint,
    /// Adopt the first opening anywhere in the fleet.
    Any,
    /// Adopt once this many distinct replicas have reported the breaker open (at least 1).
    Quorum(u32),
    /// Ignore what the fleet says.
    Local,
}

impl FromStr for FleetPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad =
            || format!("invalid fleet policy `{s}`; expected one of `hint`, `any`, `quorum(K)` with K >= 1, `local`");
        match s.to_ascii_lowercase().as_str() {
            "hint" => Ok(FleetPolicy::Hint),
            "any" => Ok(FleetPolicy::Any),
            "local" => Ok(FleetPolicy::Local),
            other => {
                let k = other
                    .strip_prefix("quorum(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .and_then(|k| k.trim().parse::<u32>().ok())
                    .filter(|k| *k >= 1)
                    .ok_or_else(bad)?;
                Ok(FleetPolicy::Quorum(k))
            }
        }
    }
}

impl fmt::Display for FleetPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetPolicy::Hint => f.write_str("hint"),
            FleetPolicy::Any => f.write_str("any"),
            FleetPolicy::Quorum(k) => write!(f, "quorum({k})"),
            FleetPolicy::Local => f.write_str("local"),
        }
    }
}

/// A fleet setting that could not be applied: names its source (the variable and its value,
/// or the file, key and line) and what was wrong.
///
/// Shown as `CIRCUIT_BREAKER_FLEET__POLICY="most": ...`, or `app.toml: fleet.lease_ttl, line 8: ...`
/// for a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct FleetConfigError {
    /// The variable (`CIRCUIT_BREAKER_FLEET__URL="..."`) or the file key (`fleet.url`, after
    /// the file's path when read by [`FleetConfig::from_toml_file`]).
    pub source_name: String,
    /// The 1-based line of the file where the key is set; `None` for variables and settings
    /// made in code.
    pub line: Option<usize>,
    /// What was wrong.
    pub message: String,
}

/// The fleet's settings.
///
/// Every field has a default except the Redis URL. Auth and TLS go in the URL, as the redis
/// client reads it: `redis://:password@host:6379/0`, `rediss://user:password@host:6380`.
/// `rediss://` needs this crate's `tls` feature; a private CA goes in
/// [`tls_ca_file`](Self::tls_ca_file()), and a client certificate for a server that asks for
/// one (mutual TLS) in [`tls_client_identity`](Self::tls_client_identity). `Debug` output and [`describe`](Self::describe) show
/// the URL without its password.
///
/// From TOML, the same file as the breakers' settings:
///
/// ```toml
/// [fleet]
/// url = "redis://127.0.0.1:6379"
/// prefix = "checkout"            # keys and channel: checkout:fleet:...
/// instance_id = "checkout-7f9c"  # default: $HOSTNAME-<pid>
/// policy = "hint"                # hint | any | quorum(K) | local
/// shared_probes = true           # one probe budget for the whole fleet
/// lease_ttl = "10s"
/// command_timeout = "250ms"
/// reconnect_min = "100ms"
/// reconnect_max = "1s"
/// max_message_bytes = 4096
/// # tls_ca_file = "/etc/redis/ca.crt"  # trust only this CA (PEM) for rediss://
/// # tls_client_cert_file = "/etc/redis/client.crt"  # mutual TLS: this certificate (PEM)
/// # tls_client_key_file = "/etc/redis/client.key"   # and its private key (PEM)
///
/// [fleet.policies]
/// payments = "any"
/// ```
///
/// From the environment: `CIRCUIT_BREAKER_FLEET__URL`, `CIRCUIT_BREAKER_FLEET__POLICY`, ...
/// one variable per key, and `CIRCUIT_BREAKER_FLEET__POLICY__<BREAKER>` for one breaker's
/// policy (breaker names match case-insensitively with `-` and `_` alike).
///
/// ```
/// use std::time::Duration;
/// use breaker_redis::{FleetConfig, FleetPolicy};
///
/// let config = FleetConfig::from_toml_str(
///     "[fleet]\nurl = \"redis://127.0.0.1:6379\"\npolicy = \"any\"\n[fleet.policies]\nsearch = \"local\"\n",
/// )
/// .unwrap()
/// .unwrap()
/// .apply_env_vars([("CIRCUIT_BREAKER_FLEET__LEASE_TTL", "3s")])
/// .unwrap();
/// assert_eq!(config.policy_for("payments"), FleetPolicy::Any);
/// assert_eq!(config.policy_for("search"), FleetPolicy::Local);
/// assert_eq!(config.lease_ttl, Duration::from_secs(3));
/// ```
#[derive(Clone, PartialEq)]
pub struct FleetConfig {
    /// The Redis or Valkey URL; auth and TLS go here.
    pub url: String,
    /// Namespace of every key and the channel: `<prefix>:fleet:...`. Default `breaker`.
    pub prefix: String,
    /// This replica's id, shown in other replicas' events. Default `$HOSTNAME-<pid>`.
    pub instance_id: String,
    /// The policy of breakers not named in [`policies`](Self::policies).
    pub policy: FleetPolicy,
    /// Per-breaker policies, by breaker name.
    pub policies: BTreeMap<String, FleetPolicy>,
    /// One probe budget for the fleet: a replica probes only while it holds the lease.
    pub shared_probes: bool,
    /// How long a probe lease lives: a prober that dies loses it after this.
    pub lease_ttl: Duration,
    /// Longest wait for one Redis command before the link counts as down.
    pub command_timeout: Duration,
    /// First reconnect delay; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Larger messages on the channel are ignored and counted.
    pub max_message_bytes: usize,
    /// With a `rediss://` URL, trust only the CA certificates in this PEM file instead of the
    /// system's roots: for a Redis whose certificate a private CA signed. Needs the `tls`
    /// feature; read once, by [`Fleet::attach`](crate::Fleet::attach). Default none.
    pub tls_ca_file: Option<PathBuf>,
    /// With a `rediss://` URL, the PEM certificate (chain) this replica presents to a server
    /// that asks clients for one (`tls-auth-clients yes`: mutual TLS). Set together with
    /// [`tls_client_key_file`](Self::tls_client_key_file). Needs the `tls` feature; read once,
    /// by [`Fleet::attach`](crate::Fleet::attach). Default none.
    pub tls_client_cert_file: Option<PathBuf>,
    /// The PEM private key of [`tls_client_cert_file`](Self::tls_client_cert_file) (PKCS#8,
    /// PKCS#1 or SEC1). Its contents are never logged. Default none.
    pub tls_client_key_file: Option<PathBuf>,
}

/// Every field, the URL without its password.
impl fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetConfig")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("instance_id", &self.instance_id)
            .field("policy", &self.policy)
            .field("policies", &self.policies)
            .field("shared_probes", &self.shared_probes)
            .field("lease_ttl", &self.lease_ttl)
            .field("command_timeout", &self.command_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_client_cert_file", &self.tls_client_cert_file)
            .field("tls_client_key_file", &self.tls_client_key_file)
            .finish()
    }
}

impl FleetConfig {
    /// The defaults, talking to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        FleetConfig {
            url: url.into(),
            prefix: "breaker".into(),
            instance_id: default_instance_id(),
            policy: FleetPolicy::Hint,
            policies: BTreeMap::new(),
            shared_probes: true,
            lease_ttl: Duration::from_secs(10),
            command_timeout: Duration::from_millis(250),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(1),
            max_message_bytes: 4096,
            tls_ca_file: None,
            tls_client_cert_file: None,
            tls_client_key_file: None,
        }
    }

    /// Sets the key and channel prefix.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets this replica's id.
    #[must_use]
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = id.into();
        self
    }

    /// Sets the default policy.
    #[must_use]
    pub fn policy(mut self, policy: FleetPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets one breaker's policy.
    #[must_use]
    pub fn breaker_policy(mut self, breaker: impl Into<String>, policy: FleetPolicy) -> Self {
        self.policies.insert(breaker.into(), policy);
        self
    }

    /// Turns the shared probe budget on or off.
    #[must_use]
    pub fn shared_probes(mut self, on: bool) -> Self {
        self.shared_probes = on;
        self
    }

    /// Sets the probe lease's time to live.
    #[must_use]
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Trusts only the CA certificates in this PEM file for a `rediss://` URL (a private
    /// CA); needs the `tls` feature.
    #[must_use]
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca_file = Some(path.into());
        self
    }

    /// Presents this PEM certificate (chain) and PEM private key to a `rediss://` server that
    /// asks clients for a certificate (mutual TLS); needs the `tls` feature.
    ///
    /// ```
    /// use breaker_redis::FleetConfig;
    ///
    /// let config = FleetConfig::new("rediss://redis.internal:6380")
    ///     .tls_ca_file("/etc/redis/ca.crt")
    ///     .tls_client_identity("/etc/redis/client.crt", "/etc/redis/client.key");
    /// assert!(config.validate().is_ok());
    /// ```
    #[must_use]
    pub fn tls_client_identity(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls_client_cert_file = Some(cert.into());
        self.tls_client_key_file = Some(key.into());
        self
    }

    /// The policy of the breaker named `breaker`.
    pub fn policy_for(&self, breaker: &str) -> FleetPolicy {
        let wanted = normalise(breaker);
        self.policies.iter().find(|(name, _)| normalise(name) == wanted).map_or(self.policy, |(_, p)| *p)
    }

    /// The channel every replica publishes on.
    pub fn channel(&self) -> String {
        format!("{}:fleet:events", self.prefix)
    }

    /// The `[fleet]` table of a TOML configuration file: `Ok(None)` when there is none. Every
    /// bad key is reported, each with its line.
    pub fn from_toml_str(text: &str) -> Result<Option<Self>, Vec<FleetConfigError>> {
        let at_line = |key: &str, span: std::ops::Range<usize>, message: &str| FleetConfigError {
            source_name: key.to_string(),
            line: Some(line_of(text, span.start)),
            message: message.to_string(),
        };
        let syntax = |e: toml::de::Error| {
            vec![FleetConfigError {
                source_name: "file".into(),
                line: e.span().map(|span| line_of(text, span.start)),
                message: e.message().to_string(),
            }]
        };
        // Three readings of the (small) file, so every key keeps its place: the `fleet` value,
        // then its keys once it is a table, then the policies once they are a table.
        let Some(fleet) = toml::from_str::<spans::Document>(text).map_err(syntax)?.fleet else {
            return Ok(None);
        };
        if !fleet.get_ref().is_table() {
            return Err(vec![at_line("fleet", fleet.span(), "expected a table")]);
        }
        let keys = toml::from_str::<spans::Keys>(text).map_err(syntax)?.fleet;
        let url = match keys.get("url") {
            Some(url) => match url.get_ref().as_str() {
                Some(s) => s.to_string(),
                None => return Err(vec![at_line("fleet.url", url.span(), "expected a string")]),
            },
            None => return Err(vec![at_line("fleet.url", fleet.span(), "missing; the fleet needs a Redis URL")]),
        };
        let mut config = FleetConfig::new(url);
        let mut errors = Vec::new();
        for (key, value) in &keys {
            let (at, span, value) = (format!("fleet.{key}"), value.span(), value.get_ref());
            if key == "url" {
                continue;
            }
            if key == "policies" {
                if !value.is_table() {
                    errors.push(at_line(&at, span, "expected a table of breaker = \"policy\""));
                    continue;
                }
                let policies = toml::from_str::<spans::PolicyDocument>(text).map_err(syntax)?.fleet.policies;
                for (breaker, policy) in policies {
                    let (at, span) = (format!("fleet.policies.{breaker}"), policy.span());
                    match policy.get_ref().as_str().map(str::parse::<FleetPolicy>) {
                        Some(Ok(policy)) => {
                            config.policies.insert(breaker, policy);
                        }
                        Some(Err(message)) => errors.push(at_line(&at, span, &message)),
                        None => errors.push(at_line(&at, span, "expected a string")),
                    }
                }
                continue;
            }
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    errors.push(at_line(&at, span, "expected a string, an integer or a boolean"));
                    continue;
                }
            };
            if let Err(message) = config.set(key, &text) {
                errors.push(at_line(&at, span, &message));
            }
        }
        errors.sort_by_key(|e| e.line);
        if errors.is_empty() {
            Ok(Some(config))
        } else {
            Err(errors)
        }
    }

    /// The `[fleet]` table of the TOML file at `path` (the same file as the breakers'
    /// settings): `Ok(None)` when it has none.
    pub fn from_toml_file(path: impl AsRef<std::path::Path>) -> Result<Option<Self>, Vec<FleetConfigError>> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![FleetConfigError { source_name: path.display().to_string(), line: None, message: e.to_string() }]
        })?;
        Self::from_toml_str(&text).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| FleetConfigError { source_name: format!("{}: {}", path.display(), e.source_name), ..e })
                .collect()
        })
    }

    /// Applies `CIRCUIT_BREAKER_FLEET__*` variables from the process environment.
    pub fn apply_env(self) -> Result<Self, Vec<FleetConfigError>> {
        self.apply_env_vars(std::env::vars())
    }

    /// Applies `CIRCUIT_BREAKER_FLEET__*` variables from `vars`; others are skipped. Every
    /// error is reported, each naming its variable.
    pub fn apply_env_vars<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Result<Self, Vec<FleetConfigError>>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut errors = Vec::new();
        for (key, value) in vars {
            let (key, value) = (key.as_ref(), value.as_ref());
            let Some(field) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let field = field.to_ascii_lowercase();
            let result = match field.split_once("__") {
                Some(("policy", breaker)) if !breaker.is_empty() => value.parse().map(|policy| {
                    self.policies.insert(breaker.to_string(), policy);
                }),
                Some(_) => {
                    Err(format!("unknown fleet setting; expected {ENV_PREFIX}<KEY> or {ENV_PREFIX}POLICY__<BREAKER>"))
                }
                None if field == "url" => {
                    self.url = value.to_string();
                    Ok(())
                }
                None => self.set(&field, value),
            };
            if let Err(message) = result {
                // A misspelt URL variable must not show its password.
                errors.push(FleetConfigError {
                    source_name: format!("{key}={:?}", redact(value)),
                    line: None,
                    message,
                });
            }
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let duration = || match parse_duration(value) {
            Ok(d) if d.is_zero() => Err("must be longer than zero".to_owned()),
            Ok(d) => Ok(d),
            Err(e) => Err(e.to_string()),
        };
        match key {
            "prefix" if value.is_empty() => return Err("the prefix must not be empty".into()),
            "prefix" => self.prefix = value.to_string(),
            "instance_id" if value.is_empty() => return Err("the instance id must not be empty".into()),
            "instance_id" => self.instance_id = value.to_string(),
            "policy" => self.policy = value.parse()?,
            "shared_probes" => {
                self.shared_probes = value.parse().map_err(|_| format!("expected `true` or `false`, got `{value}`"))?;
            }
            "lease_ttl" => self.lease_ttl = duration()?,
            "command_timeout" => self.command_timeout = duration()?,
            "reconnect_min" => self.reconnect_min = duration()?,
            "reconnect_max" => self.reconnect_max = duration()?,
            "tls_ca_file" if value.is_empty() => return Err("must not be empty".into()),
            "tls_ca_file" => self.tls_ca_file = Some(PathBuf::from(value)),
            "tls_client_cert_file" | "tls_client_key_file" if value.is_empty() => {
                return Err("must not be empty".into())
            }
            "tls_client_cert_file" => self.tls_client_cert_file = Some(PathBuf::from(value)),
            "tls_client_key_file" => self.tls_client_key_file = Some(PathBuf::from(value)),
            "max_message_bytes" => {
                self.max_message_bytes =
                    value.parse().map_err(|_| format!("expected a number of bytes, got `{value}`"))?;
            }
            other => {
                return Err(format!(
                    "unknown fleet setting `{other}`; expected one of {}",
                    KEYS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                ))
            }
        }
        Ok(())
    }

    /// Checks what `from_toml_str` and `apply_env_vars` check for settings made in code: no
    /// empty prefix or instance id, no zero durations, `reconnect_min <= reconnect_max`, room
    /// for a message (`max_message_bytes` at least 256), and a client certificate and key set
    /// together or not at all. [`Fleet::attach`](crate::Fleet::attach)
    /// calls it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_redis::FleetConfig;
    ///
    /// assert!(FleetConfig::new("redis://x").validate().is_ok());
    /// let errors = FleetConfig::new("redis://x").lease_ttl(Duration::ZERO).validate().unwrap_err();
    /// assert_eq!(errors[0].source_name, "lease_ttl");
    /// ```
    pub fn validate(&self) -> Result<(), Vec<FleetConfigError>> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                errors.push(err(key, message));
            }
        };
        check(!self.prefix.is_empty(), "prefix", "must not be empty");
        check(!self.instance_id.is_empty(), "instance_id", "must not be empty");
        for (key, d) in [
            ("lease_ttl", self.lease_ttl),
            ("command_timeout", self.command_timeout),
            ("reconnect_min", self.reconnect_min),
            ("reconnect_max", self.reconnect_max),
        ] {
            check(!d.is_zero(), key, "must be longer than zero");
        }
        check(self.reconnect_min <= self.reconnect_max, "reconnect_min", "must not exceed `reconnect_max`");
        check(self.max_message_bytes >= 256, "max_message_bytes", "must be at least 256");
        let (cert, key) = (self.tls_client_cert_file.is_some(), self.tls_client_key_file.is_some());
        check(!cert || key, "tls_client_key_file", "missing: a client certificate needs its private key");
        check(!key || cert, "tls_client_cert_file", "missing: a client key needs its certificate");
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The main settings in one line, durations human-readable and the URL without its
    /// password (for logs and reports).
    pub fn describe(&self) -> String {
        format!(
            "url={} prefix={} instance_id={} policy={} shared_probes={} lease_ttl={}",
            redact(&self.url),
            self.prefix,
            self.instance_id,
            self.policy,
            self.shared_probes,
            format_duration(self.lease_ttl)
        )
    }
}

/// The prefix of the fleet's environment variables.
pub const ENV_PREFIX: &str = "CIRCUIT_BREAKER_FLEET__";

/// The keys of the `[fleet]` table (besides the `[fleet.policies]` subtable).
pub const KEYS: &[&str] = &[
    "url",
    "prefix",
    "instance_id",
    "policy",
    "shared_probes",
    "lease_ttl",
    "command_timeout",
    "reconnect_min",
    "reconnect_max",
    "max_message_bytes",
    "tls_ca_file",
    "tls_client_cert_file",
    "tls_client_key_file",
    "policies",
];

fn err(at: &str, message: &str) -> FleetConfigError {
    FleetConfigError { source_name: at.to_string(), line: None, message: message.to_string() }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The shapes `from_toml_str` reads a file as, each value with its place in the file.
mod spans {
    use std::collections::BTreeMap;

    use toml::{Spanned, Value};

    /// Only the `fleet` value; the breakers' sections are read by breaker-runtime.
    #[derive(serde::Deserialize)]
    pub(super) struct Document {
        pub(super) fleet: Option<Spanned<Value>>,
    }

    /// The `[fleet]` table's keys, once it is known to be a table.
    #[derive(serde::Deserialize)]
    pub(super) struct Keys {
        pub(super) fleet: BTreeMap<String, Spanned<Value>>,
    }

    /// The `[fleet.policies]` table's entries, once it is known to be a table.
    #[derive(serde::Deserialize)]
    pub(super) struct PolicyDocument {
        pub(super) fleet: Policies,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Policies {
        pub(super) policies: BTreeMap<String, Spanned<Value>>,
    }
}

fn normalise(name: &str) -> String {
    name.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() }).collect()
}

/// The URL without its password, for logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

fn default_instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "replica".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_names_its_source() {
        let errors =
            FleetConfig::from_toml_str("[fleet]\nurl = \"redis://x\"\npolcy = \"any\"\nlease_ttl = \"soon\"\n")
                .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().any(|e| e.source_name == "fleet.polcy" && e.message.contains("`policy`")));
        assert!(errors.iter().any(|e| e.source_name == "fleet.lease_ttl"));
        let errors = FleetConfig::new("redis://x")
            .apply_env_vars([("CIRCUIT_BREAKER_FLEET__POLICY", "most"), ("CIRCUIT_BREAKER_FLEET__X__Y", "1")])
            .unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(errors[0].to_string().starts_with("CIRCUIT_BREAKER_FLEET__POLICY=\"most\": invalid fleet policy"));
    }

    #[test]
    fn file_errors_name_the_line_of_their_key() {
        let text = "[db]\nwait = \"5s\"\n\n[fleet]\nurl = \"redis://x\"\npolcy = \"any\"\n\
                    lease_ttl = \"soon\"\n\n[fleet.policies]\npayments = \"most\"\n";
        let errors = FleetConfig::from_toml_str(text).unwrap_err();
        let lines: Vec<_> = errors.iter().map(|e| (e.source_name.as_str(), e.line)).collect();
        assert_eq!(
            lines,
            [("fleet.polcy", Some(6)), ("fleet.lease_ttl", Some(7)), ("fleet.policies.payments", Some(10))],
            "{errors:?}"
        );
        assert!(errors[1].to_string().starts_with("fleet.lease_ttl, line 7: "), "{}", errors[1]);
        // A file's errors name the file too; a TOML syntax error names its line.
        let path = std::env::temp_dir().join(format!("breaker-redis-lines-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let errors = FleetConfig::from_toml_file(&path).unwrap_err();
        assert_eq!(errors[0].to_string(), format!("{}: fleet.polcy, line 6: {}", path.display(), errors[0].message));
        std::fs::write(&path, "[fleet]\nurl = \"redis://x\"\nprefix = \n").unwrap();
        let errors = FleetConfig::from_toml_file(&path).unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert_eq!(errors[0].line, Some(3), "{errors:?}");
        // A `fleet` that is not a table, and a missing URL, are on the table's own line.
        let errors = FleetConfig::from_toml_str("a = 1\nfleet = 5\n").unwrap_err();
        assert_eq!((errors[0].source_name.as_str(), errors[0].line), ("fleet", Some(2)), "{errors:?}");
        let errors = FleetConfig::from_toml_str("\n[fleet]\nprefix = \"x\"\n").unwrap_err();
        assert_eq!((errors[0].source_name.as_str(), errors[0].line), ("fleet.url", Some(2)), "{errors:?}");
        // Variables have no line.
        let errors = FleetConfig::new("redis://x").apply_env_vars([("CIRCUIT_BREAKER_FLEET__POLICY", "most")]);
        assert_eq!(errors.unwrap_err()[0].line, None);
    }

    #[test]
    fn zero_durations_are_refused_wherever_they_come_from() {
        let errors =
            FleetConfig::from_toml_str("[fleet]\nurl = \"redis://x\"\ncommand_timeout = \"0s\"\n").unwrap_err();
        assert_eq!(errors[0].source_name, "fleet.command_timeout");
        let mut config = FleetConfig::new("redis://x");
        config.reconnect_min = Duration::from_secs(5);
        config.max_message_bytes = 10;
        let errors = config.validate().unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn no_fleet_table_is_no_fleet() {
        assert_eq!(FleetConfig::from_toml_str("[db]\nwait = \"5s\"\n").unwrap(), None);
        assert!(FleetConfig::from_toml_str("[fleet]\nprefix = \"x\"\n").is_err(), "no url");
    }

    #[test]
    fn env_sets_per_breaker_policies_matching_names_loosely() {
        let config = FleetConfig::new("redis://x")
            .apply_env_vars([("CIRCUIT_BREAKER_FLEET__POLICY__CONTENT_SERVICE", "quorum(2)")])
            .unwrap();
        assert_eq!(config.policy_for("content-service"), FleetPolicy::Quorum(2));
        assert_eq!(config.policy_for("other"), FleetPolicy::Hint);
    }

    #[test]
    fn the_ca_file_comes_from_the_file_or_the_environment() {
        let config = FleetConfig::from_toml_str("[fleet]\nurl = \"rediss://x\"\ntls_ca_file = \"/etc/ca.pem\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(config.tls_ca_file, Some(PathBuf::from("/etc/ca.pem")));
        let config = config.apply_env_vars([("CIRCUIT_BREAKER_FLEET__TLS_CA_FILE", "/run/ca.pem")]).unwrap();
        assert_eq!(config.tls_ca_file, Some(PathBuf::from("/run/ca.pem")));
        let errors = FleetConfig::from_toml_str("[fleet]\nurl = \"rediss://x\"\ntls_ca_file = \"\"\n").unwrap_err();
        assert_eq!(errors[0].source_name, "fleet.tls_ca_file");
    }

    #[test]
    fn a_client_certificate_and_its_key_come_together() {
        let text = "[fleet]\nurl = \"rediss://x\"\ntls_client_cert_file = \"/etc/c.crt\"\ntls_client_key_file = \"/etc/c.key\"\n";
        let config = FleetConfig::from_toml_str(text).unwrap().unwrap();
        assert_eq!(config.tls_client_cert_file, Some(PathBuf::from("/etc/c.crt")));
        assert_eq!(config.tls_client_key_file, Some(PathBuf::from("/etc/c.key")));
        assert!(config.validate().is_ok());
        let config = config.apply_env_vars([("CIRCUIT_BREAKER_FLEET__TLS_CLIENT_KEY_FILE", "/run/c.key")]).unwrap();
        assert_eq!(config.tls_client_key_file, Some(PathBuf::from("/run/c.key")));
        let mut only_cert = FleetConfig::new("rediss://x");
        only_cert.tls_client_cert_file = Some("/etc/c.crt".into());
        let errors = only_cert.validate().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].source_name, "tls_client_key_file", "{errors:?}");
        let mut only_key = FleetConfig::new("rediss://x");
        only_key.tls_client_key_file = Some("/etc/c.key".into());
        assert_eq!(only_key.validate().unwrap_err()[0].source_name, "tls_client_cert_file");
        let errors = FleetConfig::from_toml_str("[fleet]\nurl = \"rediss://x\"\ntls_client_key_file = \"\"\n");
        assert_eq!(errors.unwrap_err()[0].source_name, "fleet.tls_client_key_file");
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(redact("redis://:hunter2@db:6379/0"), "redis://***@db:6379/0");
        assert_eq!(redact("redis://db:6379"), "redis://db:6379");
    }
}
