//! Configuration from the environment and from TOML files, and the precedence between sources.
//!
//! # Precedence
//!
//! For a breaker named `N`, fields are taken from the first of these that sets them:
//!
//! 1. the environment: `CIRCUIT_BREAKER_<N>__<FIELD>`, then `CIRCUIT_BREAKER_DEFAULT__<FIELD>`;
//! 2. the file: the `["N"]` section, then the `[default]` section;
//! 3. code: [`Registry::configure`](crate::Registry::configure) for `N`, then the attribute on
//!    the function (`#[circuit_breaker(name = "N", wait = "30s")]`), then the registry default
//!    ([`RegistryBuilder::default_config`](crate::RegistryBuilder::default_config));
//! 4. the built-in defaults documented on [`Config`](breaker_core::Config).
//!
//! # Environment
//!
//! - `CIRCUIT_BREAKER_ENABLED=false` turns every breaker into a pass-through that still
//!   measures (the metrics-only state). `true` (the default) leaves them alone.
//! - `CIRCUIT_BREAKER_<NAME>__<FIELD>=value` sets one field for one breaker. `<NAME>` is the
//!   breaker's name in upper case with every character other than a letter or digit replaced
//!   by `_` (`content-service` → `CONTENT_SERVICE`); `<FIELD>` is a key from
//!   [`breaker_core::KEYS`] in upper case (`FAILURE_RATE`). Both are matched whatever
//!   their case. `DEFAULT` as the name sets the field for every breaker.
//!
//! ```text
//! CIRCUIT_BREAKER_DEFAULT__WAIT=30s
//! CIRCUIT_BREAKER_CONTENT_SERVICE__FAILURE_RATE=0.25
//! CIRCUIT_BREAKER_CONTENT_SERVICE__WINDOW=60s
//! ```
//!
//! # File
//!
//! ```toml
//! [default]
//! wait = "30s"
//!
//! ["content-service"]
//! failure_rate = 0.25
//! window = "100 calls"
//! consecutive_failures = false   # off
//! ```
//!
//! A malformed value is an error naming the variable or key and the value; nothing from a
//! source with an error is applied.

use std::collections::BTreeMap;
use std::fmt;

use breaker_core::{ConfigBuilder, KEYS};

/// The prefix of every environment variable the runtime reads.
pub const ENV_PREFIX: &str = "CIRCUIT_BREAKER_";
/// The global on/off switch.
pub const ENV_ENABLED: &str = "CIRCUIT_BREAKER_ENABLED";

/// Configuration layers from one source: a default layer and one per breaker name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceConfig {
    /// Applies to every breaker.
    pub default: ConfigBuilder,
    /// Applies to the named breaker, over `default`. Keys are as the source spells them:
    /// normalised (see [`env_name`]) for the environment, exact for files.
    pub named: BTreeMap<String, ConfigBuilder>,
    /// The global switch, when the source sets it.
    pub enabled: Option<bool>,
}

impl SourceConfig {
    /// The layer for `name`, or `None` when the source says nothing specific about it.
    pub(crate) fn for_name(&self, name: &str, normalise: bool) -> Option<&ConfigBuilder> {
        if normalise {
            self.named.get(&env_name(name))
        } else {
            self.named.get(name)
        }
    }
}

/// One malformed setting: where it came from (variable or key) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The variable (`CIRCUIT_BREAKER_DB__WAIT`) or key path (`db.wait`).
    pub location: String,
    /// The offending value as written.
    pub value: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Errors about a whole source (a syntax error, a missing file) or about the combined
        // configuration have no single value to show.
        if self.value.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}={:?}: {}", self.location, self.value, self.message)
        }
    }
}

/// Every malformed setting of a source, reported at once. Nothing from the source was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceErrors {
    /// What was being read: `environment` or the file's path.
    pub source: String,
    /// Each problem.
    pub errors: Vec<SourceError>,
}

impl fmt::Display for SourceErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid circuit breaker configuration in {}: ", self.source)?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SourceErrors {}

/// A breaker name as it appears in environment variables: upper case, every character other
/// than an ASCII letter or digit replaced by `_`.
///
/// ```
/// assert_eq!(breaker_runtime::sources::env_name("content-service.v2"), "CONTENT_SERVICE_V2");
/// ```
pub fn env_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// Reads `CIRCUIT_BREAKER_*` variables from `vars` (use [`std::env::vars`] for the process).
///
/// # Example
///
/// ```
/// use breaker_runtime::sources::from_env_vars;
///
/// let config = from_env_vars([("CIRCUIT_BREAKER_DB__WAIT", "5s"), ("PATH", "/bin")]).unwrap();
/// assert!(config.named.contains_key("DB"));
///
/// let err = from_env_vars([("CIRCUIT_BREAKER_DB__WAIT", "5 sec")]).unwrap_err();
/// assert!(err.to_string().contains("CIRCUIT_BREAKER_DB__WAIT=\"5 sec\""));
/// ```
pub fn from_env_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<SourceConfig, SourceErrors>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut config = SourceConfig::default();
    let mut errors = Vec::new();
    for (key, value) in vars {
        let (key, value) = (key.as_ref(), value.as_ref());
        let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let error = |message: String| SourceError { location: key.to_owned(), value: value.to_owned(), message };
        if key == ENV_ENABLED {
            match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => config.enabled = Some(true),
                "false" | "0" | "no" | "off" => config.enabled = Some(false),
                _ => errors.push(error("expected `true` or `false`".to_owned())),
            }
            continue;
        }
        let Some((name, field)) = rest.rsplit_once("__") else {
            errors.push(error(format!(
                "not a circuit breaker setting; expected `{ENV_ENABLED}` or `{ENV_PREFIX}<NAME>__<FIELD>`"
            )));
            continue;
        };
        let field = field.to_ascii_lowercase();
        if name.is_empty() {
            errors.push(error("the breaker name is empty".to_owned()));
            continue;
        }
        // Variable names are case-sensitive, but lookups use `env_name`: normalise the name
        // here too, so `CIRCUIT_BREAKER_content_service__WAIT` is not silently ignored.
        let name = env_name(name);
        let layer = if name == "DEFAULT" { &mut config.default } else { config.named.entry(name).or_default() };
        if let Err(e) = layer.set(&field, value) {
            let message = if e.field().is_empty() {
                format!(
                    "unknown field `{}`; expected one of {}",
                    field.to_ascii_uppercase(),
                    KEYS.iter().map(|k| format!("`{}`", k.to_ascii_uppercase())).collect::<Vec<_>>().join(", ")
                )
            } else {
                e.message().to_owned()
            };
            errors.push(error(message));
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        errors.sort_by(|a, b| a.location.cmp(&b.location));
        Err(SourceErrors { source: "environment".to_owned(), errors })
    }
}

/// Reads `CIRCUIT_BREAKER_*` settings from variables as the OS hands them over
/// ([`std::env::vars_os`]), as [`from_env_vars`] does. Variables that are not ours are never
/// decoded, so a neighbour that is not valid UTF-8 is ignored; one of ours that is not valid
/// UTF-8 is an error naming it.
///
/// ```
/// use std::ffi::OsString;
/// use breaker_runtime::sources::from_env_vars_os;
///
/// let vars = [(OsString::from("CIRCUIT_BREAKER_DB__WAIT"), OsString::from("5s"))];
/// assert!(from_env_vars_os(vars).unwrap().named.contains_key("DB"));
/// ```
pub fn from_env_vars_os(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Result<SourceConfig, SourceErrors> {
    let mut ours = Vec::new();
    let mut errors = Vec::new();
    for (key, value) in vars {
        let key = match key.into_string() {
            Ok(key) if key.starts_with(ENV_PREFIX) => key,
            Ok(_) => continue,
            Err(key) => {
                let lossy = key.to_string_lossy();
                if lossy.starts_with(ENV_PREFIX) {
                    let value = value.to_string_lossy().into_owned();
                    let message = "the variable's name is not valid UTF-8".to_owned();
                    errors.push(SourceError { location: lossy.into_owned(), value, message });
                }
                continue;
            }
        };
        match value.into_string() {
            Ok(value) => ours.push((key, value)),
            Err(value) => errors.push(SourceError {
                location: key,
                value: value.to_string_lossy().into_owned(),
                message: "the value is not valid UTF-8".to_owned(),
            }),
        }
    }
    match from_env_vars(ours) {
        Ok(config) if errors.is_empty() => Ok(config),
        Ok(_) => Err(SourceErrors { source: "environment".to_owned(), errors }),
        Err(mut e) => {
            e.errors.extend(errors);
            e.errors.sort_by(|a, b| a.location.cmp(&b.location));
            Err(e)
        }
    }
}

/// Reads a TOML document: a `[default]` table and one table per breaker name.
///
/// # Example
///
/// ```
/// use breaker_runtime::sources::from_toml_str;
///
/// let config = from_toml_str("[default]\nwait = \"10s\"\n\n[\"content-service\"]\nfailure_rate = 0.3\n", "breakers.toml").unwrap();
/// assert!(config.named.contains_key("content-service"));
///
/// let err = from_toml_str("[db]\nwait = \"10 sec\"\nfailure_rate = \"high\"\n", "breakers.toml").unwrap_err();
/// assert_eq!(err.errors.len(), 2);
/// assert!(err.to_string().contains("db.wait=\"10 sec\""), "{err}");
/// ```
pub fn from_toml_str(text: &str, source: &str) -> Result<SourceConfig, SourceErrors> {
    let fail = |errors| SourceErrors { source: source.to_owned(), errors };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        fail(vec![SourceError { location: source.to_owned(), value: String::new(), message: e.to_string() }])
    })?;
    let mut config = SourceConfig::default();
    let mut errors = Vec::new();
    for (section, value) in &table {
        let toml::Value::Table(fields) = value else {
            if section == "enabled" {
                if let toml::Value::Boolean(b) = value {
                    config.enabled = Some(*b);
                    continue;
                }
            }
            errors.push(SourceError {
                location: section.clone(),
                value: value.to_string(),
                message:
                    "expected a table of settings (`[default]` or `[\"breaker-name\"]`), or `enabled = true|false`"
                        .to_owned(),
            });
            continue;
        };
        let layer =
            if section == "default" { &mut config.default } else { config.named.entry(section.clone()).or_default() };
        for (key, value) in fields {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(false) => "off".to_owned(),
                other => {
                    errors.push(SourceError {
                        location: format!("{section}.{key}"),
                        value: other.to_string(),
                        message: "expected a number, a string, or `false` to turn the setting off".to_owned(),
                    });
                    continue;
                }
            };
            if let Err(e) = layer.set(key, &text) {
                let message = if e.field().is_empty() { e.to_string() } else { e.message().to_owned() };
                errors.push(SourceError { location: format!("{section}.{key}"), value: text, message });
            }
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(fail(errors))
    }
}

/// Reads a TOML file; see [`from_toml_str`].
pub fn from_toml_file(path: impl AsRef<std::path::Path>) -> Result<SourceConfig, SourceErrors> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| SourceErrors {
        source: path.display().to_string(),
        errors: vec![SourceError {
            location: path.display().to_string(),
            value: String::new(),
            message: e.to_string(),
        }],
    })?;
    from_toml_str(&text, &path.display().to_string())
}
