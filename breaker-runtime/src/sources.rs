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

#[cfg(feature = "toml")]
mod file;
#[cfg(feature = "toml")]
#[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
pub use file::{from_toml_file, from_toml_str};

/// Configuration layers from one source: a default layer and one per breaker name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceConfig {
    /// Applies to every breaker.
    pub default: ConfigBuilder,
    /// Applies to the named breaker, over `default`. Keys are as the source spells them:
    /// normalised (see [`env_name`]) for the environment, exact for files. A file's keys may
    /// be patterns with `*` (`"payments.*"`); see [`SourceConfig::layers_for`].
    pub named: BTreeMap<String, ConfigBuilder>,
    /// The global switch, when the source sets it.
    pub enabled: Option<bool>,
    /// Settings that were skipped without stopping the rest: unknown variables and keys.
    pub warnings: Vec<SourceError>,
    /// Where each setting was written, by section (`default`, a name or a pattern) and key:
    /// the variable, or the file's path and line.
    pub origins: BTreeMap<(String, String), String>,
    /// Settings of named [`RetryQueue`](crate::RetryQueue)s: a file's `[queues."name"]`
    /// tables, the environment's `CIRCUIT_BREAKER_QUEUE__<NAME>__<KEY>` (the name as
    /// [`env_name`] spells it). See [`Registry::queue_settings`](crate::Registry::queue_settings).
    pub queues: BTreeMap<String, QueueLayer>,
}

/// One source's settings for a named queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueLayer {
    /// `capacity`: messages the queue holds, 1 to 10,000,000.
    pub capacity: Option<usize>,
    /// `shutdown_deadline`: how long shutdown may take, at most 24 h.
    pub shutdown_deadline: Option<std::time::Duration>,
}

/// The keys of a queue's settings.
const QUEUE_KEYS: &[&str] = &["capacity", "shutdown_deadline"];

impl QueueLayer {
    /// Sets `key` from its text; `Err` with a message for a bad key or value.
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "capacity" => match value.trim().parse::<usize>() {
                Ok(n) if (1..=10_000_000).contains(&n) => self.capacity = Some(n),
                _ => return Err(format!("invalid value \"{value}\"; expected a whole number from 1 to 10000000")),
            },
            "shutdown_deadline" => {
                let d = breaker_core::parse::parse_duration(value.trim()).map_err(|e| e.to_string())?;
                if d > breaker_core::MAX_DURATION {
                    return Err("must be at most 24h".to_owned());
                }
                self.shutdown_deadline = Some(d);
            }
            _ => return Err(unknown_queue_key(key)),
        }
        Ok(())
    }

    /// `over`'s settings where it has them, else this layer's.
    pub(crate) fn merge(self, over: QueueLayer) -> QueueLayer {
        QueueLayer {
            capacity: over.capacity.or(self.capacity),
            shutdown_deadline: over.shutdown_deadline.or(self.shutdown_deadline),
        }
    }
}

fn unknown_queue_key(key: &str) -> String {
    format!(
        "unknown queue setting `{key}`; expected one of {}",
        QUEUE_KEYS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    )
}

impl SourceConfig {
    /// The layers this source holds for `name`, lowest precedence first: matching patterns
    /// from the least to the most specific, then the exact name. (The `default` layer comes
    /// before all of them.) A pattern's specificity is its count of characters other than
    /// `*`; a file in which two equally specific patterns can match one name is refused when
    /// it is read, so the order is always defined.
    ///
    /// ```
    /// use breaker_runtime::sources::from_toml_str;
    ///
    /// let file = from_toml_str("[\"payments.*\"]\nwait = \"5s\"\n[\"payments.refunds\"]\nwait = \"9s\"\n", "f.toml").unwrap();
    /// assert_eq!(file.layers_for("payments.charges", false).len(), 1);
    /// assert_eq!(file.layers_for("payments.refunds", false).len(), 2);
    /// assert!(file.layers_for("search", false).is_empty());
    /// ```
    pub fn layers_for(&self, name: &str, normalise: bool) -> Vec<&ConfigBuilder> {
        self.sections_for(name, normalise).into_iter().map(|(_, layer)| layer).collect()
    }

    /// [`layers_for`](Self::layers_for) with each layer's section name.
    pub(crate) fn sections_for(&self, name: &str, normalise: bool) -> Vec<(&str, &ConfigBuilder)> {
        let key = if normalise { env_name(name) } else { name.to_owned() };
        let mut patterns: Vec<(usize, &str, &ConfigBuilder)> = self
            .named
            .iter()
            .filter(|(pattern, _)| pattern.contains('*') && glob_matches(pattern, &key))
            .map(|(pattern, layer)| (specificity(pattern), pattern.as_str(), layer))
            .collect();
        patterns.sort_by_key(|(specificity, _, _)| *specificity);
        let mut sections: Vec<(&str, &ConfigBuilder)> = patterns.into_iter().map(|(_, p, layer)| (p, layer)).collect();
        sections.extend(self.named.get_key_value(&key).map(|(k, layer)| (k.as_str(), layer)));
        sections
    }

    /// True when the source has a section for exactly `name` or a pattern matching it.
    pub(crate) fn mentions(&self, name: &str, normalise: bool) -> bool {
        !self.sections_for(name, normalise).is_empty()
    }
}

/// How specific a pattern is: its characters other than `*`.
fn specificity(pattern: &str) -> usize {
    pattern.chars().filter(|c| *c != '*').count()
}

/// `*` matches any run of characters (dots included); everything else matches itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Keys from the systems our users migrate from, with the key each stands for and the unit a
/// bare number is in. Documented in the README's alias table.
pub const ALIASES: &[(&str, &str)] = &[
    ("failure_threshold", "consecutive_failures"),
    ("recovery_timeout", "wait"),
    ("timeout_secs", "wait"),
    ("open_timeout_ms", "wait"),
    ("error_rate_threshold", "failure_rate"),
    ("window_size", "window"),
    ("sample_size", "window"),
    ("half_open_max_requests", "half_open_permits"),
];

/// The canonical key for `key` (itself when it is not an alias), and `value` in the canonical
/// key's spelling: a bare number of seconds, milliseconds or calls gets its unit.
fn canonical<'a>(key: &'a str, value: &str) -> (&'a str, String) {
    let Some((_, to)) = ALIASES.iter().find(|(alias, _)| *alias == key) else {
        return (key, value.to_owned());
    };
    let bare = value.trim();
    let is_number = !bare.is_empty() && bare.chars().all(|c| c.is_ascii_digit());
    let value = match key {
        "recovery_timeout" | "timeout_secs" if is_number => format!("{bare}s"),
        "open_timeout_ms" if is_number => format!("{bare}ms"),
        "window_size" | "sample_size" if is_number => format!("{bare} calls"),
        _ => bare.to_owned(),
    };
    (to, value)
}

/// Levenshtein distance, for did-you-mean suggestions on short keys.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Every key a source accepts: the configuration keys, their aliases, `enabled` and `base`.
fn known_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().copied().chain(ALIASES.iter().map(|(alias, _)| *alias)).chain(["enabled", "base"])
}

/// "unknown key `x`", with the closest known key when one is close.
fn unknown_key(key: &str, upper: bool) -> String {
    let spell = |k: &str| if upper { k.to_ascii_uppercase() } else { k.to_owned() };
    let lower = key.to_ascii_lowercase();
    let closest = known_keys().map(|k| (distance(&lower, k), k)).min_by_key(|(d, _)| *d);
    match closest {
        Some((d, k)) if d <= 3 => format!("unknown setting `{}`, ignored; did you mean `{}`?", spell(key), spell(k)),
        _ => format!(
            "unknown setting `{}`, ignored; expected one of {}",
            spell(key),
            KEYS.iter().map(|k| format!("`{}`", spell(k))).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Records which spelling set each canonical key of one layer, so an alias and its key both
/// set is an error.
///
/// Keyed as [`SourceConfig::origins`] is, so both share one copy of the map's code.
#[derive(Default)]
struct Spellings(BTreeMap<(String, String), String>);

impl Spellings {
    /// `Err` with a message when `layer` already had `canonical` set under another spelling.
    fn note(&mut self, layer: &str, canonical: &str, spelling: &str) -> Result<(), String> {
        if !KEYS.contains(&canonical) {
            return Ok(());
        }
        match self.0.insert((layer.to_owned(), canonical.to_owned()), spelling.to_owned()) {
            Some(earlier) if earlier != spelling => Err(format!(
                "`{spelling}` and `{earlier}` both set `{canonical}`; keep one (aliases: see the README's table)"
            )),
            _ => Ok(()),
        }
    }
}

/// One malformed setting: where it came from (variable or key) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The variable (`CIRCUIT_BREAKER_DB__WAIT`) or key path (`db.wait`).
    pub location: String,
    /// The line in the file, for file settings.
    pub line: Option<usize>,
    /// The offending value as written.
    pub value: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Errors about a whole source (a syntax error, a missing file) or about the combined
        // configuration have no single value to show.
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        match (self.location.is_empty(), self.value.is_empty()) {
            (true, _) => write!(f, "{}", self.message),
            (false, true) => write!(f, "{}: {}", self.location, self.message),
            (false, false) => write!(f, "{}={:?}: {}", self.location, self.value, self.message),
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
    let mut spellings = Spellings::default();
    for (key, value) in vars {
        let (key, value) = (key.as_ref(), value.as_ref());
        let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let problem =
            |message: String| SourceError { location: key.to_owned(), line: None, value: value.to_owned(), message };
        if key == ENV_ENABLED {
            match parse_switch(value) {
                Some(on) => config.enabled = Some(on),
                None => errors.push(problem("expected `true` or `false`".to_owned())),
            }
            continue;
        }
        if rest.starts_with("FLEET__") {
            continue; // fleet settings: read by `breaker-redis`
        }
        if let Some(queue) = rest.strip_prefix("QUEUE__") {
            let Some((name, field)) = queue.rsplit_once("__") else {
                errors.push(problem(format!("expected `{ENV_PREFIX}QUEUE__<NAME>__<KEY>`")));
                continue;
            };
            let layer = config.queues.entry(env_name(name)).or_default();
            if let Err(message) = layer.set(&field.to_ascii_lowercase(), value) {
                errors.push(problem(message));
            }
            continue;
        }
        // `CIRCUIT_BREAKER_<KEY>` (a key or an alias, no `__`) sets the default for every breaker.
        let (name, field) = match rest.rsplit_once("__") {
            Some((name, field)) => (env_name(name), field.to_ascii_lowercase()),
            None if known_keys().any(|k| k.eq_ignore_ascii_case(rest)) => {
                ("DEFAULT".to_owned(), rest.to_ascii_lowercase())
            }
            None => {
                config.warnings.push(problem(format!(
                    "not a circuit breaker setting, ignored; expected `{ENV_ENABLED}`, `{ENV_PREFIX}<KEY>` or `{ENV_PREFIX}<NAME>__<KEY>`"
                )));
                continue;
            }
        };
        if name.is_empty() {
            errors.push(problem("the breaker name is empty".to_owned()));
            continue;
        }
        // Variable names are case-sensitive, but lookups use `env_name`: the name is normalised
        // here too, so `CIRCUIT_BREAKER_content_service__WAIT` is not silently ignored.
        let (canonical, text) = canonical(&field, value);
        if !known_keys().any(|k| k == canonical) {
            config.warnings.push(problem(unknown_key(&field, true)));
            continue;
        }
        if let Err(message) = spellings.note(&name, canonical, &field.to_ascii_uppercase()) {
            errors.push(problem(message));
            continue;
        }
        let section = if name == "DEFAULT" { "default".to_owned() } else { name };
        let layer =
            if section == "default" { &mut config.default } else { config.named.entry(section.clone()).or_default() };
        match layer.set(canonical, &text) {
            Ok(()) => {
                config.origins.insert((section, canonical.to_owned()), key.to_owned());
            }
            Err(e) => errors.push(problem(e.message().to_owned())),
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        sort_by_location(&mut errors);
        Err(SourceErrors { source: "environment".to_owned(), errors })
    }
}

/// Sorts the environment's errors by variable: one function, so one copy of the sort's code.
fn sort_by_location(errors: &mut [SourceError]) {
    errors.sort_by(|a, b| a.location.cmp(&b.location));
}

/// `true`/`false` (and `1`/`0`, `yes`/`no`, `on`/`off`), whatever the case.
fn parse_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Reads only the kill switch, `CIRCUIT_BREAKER_ENABLED`, so that no error in another
/// setting can lose it. `Ok(None)` when it is not set.
///
/// ```
/// use breaker_runtime::sources::env_enabled;
///
/// let vars = [("CIRCUIT_BREAKER_ENABLED", "false"), ("CIRCUIT_BREAKER_DB__WAIT", "soon")];
/// assert_eq!(env_enabled(vars).unwrap(), Some(false));
/// ```
pub fn env_enabled<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Option<bool>, SourceError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let Some((_, value)) = vars.into_iter().find(|(k, _)| k.as_ref() == ENV_ENABLED) else {
        return Ok(None);
    };
    parse_switch(value.as_ref()).map(Some).ok_or_else(|| SourceError {
        location: ENV_ENABLED.to_owned(),
        line: None,
        value: value.as_ref().to_owned(),
        message: "expected `true` or `false`".to_owned(),
    })
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
                    errors.push(SourceError { location: lossy.into_owned(), line: None, value, message });
                }
                continue;
            }
        };
        match value.into_string() {
            Ok(value) => ours.push((key, value)),
            Err(value) => errors.push(SourceError {
                location: key,
                line: None,
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
            sort_by_location(&mut e.errors);
            Err(e)
        }
    }
}
