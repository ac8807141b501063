//! Breaker configuration: a builder with documented defaults, validated all at once.

use std::fmt;
use std::time::Duration;

use crate::parse::{format_duration, parse_duration, parse_window, ParseError};

/// Largest count window, in calls.
pub const MAX_COUNT_WINDOW: u32 = 1_000_000;
/// Largest time window: one hour (one bucket per second).
pub const MAX_TIME_WINDOW: Duration = Duration::from_secs(3600);
/// Largest number of concurrent half-open probes.
pub const MAX_HALF_OPEN_PERMITS: u32 = 10_000;
/// Shortest open `wait`: one millisecond. A shorter wait is a typo (`"2ns"` for `"2s"`), and
/// a breaker that reopens every few nanoseconds protects nothing.
pub const MIN_WAIT: Duration = Duration::from_millis(1);
/// Longest duration any setting takes: 24 hours. Bounds `wait`, `max_wait`, `slow_call`,
/// `max_half_open` and call timeouts (see [`check_timeout`]); a longer value is almost
/// certainly a mistake (`"18446744073709551615s"` would leave a breaker open for centuries).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Checks a call timeout (the attribute's `timeout`, a retry's `backoff`) against the bounds
/// every configuration duration has: longer than zero and at most [`MAX_DURATION`]. `field` names
/// the setting in the error.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_core::check_timeout;
///
/// assert!(check_timeout("timeout", Duration::from_secs(2)).is_ok());
/// let err = check_timeout("timeout", Duration::from_secs(25 * 3600)).unwrap_err();
/// assert_eq!(err.to_string(), "`timeout`: must be at most 24h, got 25h");
/// ```
pub fn check_timeout(field: &'static str, timeout: Duration) -> Result<(), FieldError> {
    if timeout.is_zero() {
        Err(FieldError::new(field, "must be longer than zero".to_owned()))
    } else if timeout > MAX_DURATION {
        Err(FieldError::new(field, too_long(timeout)))
    } else {
        Ok(())
    }
}

/// The message for a duration over [`MAX_DURATION`].
fn too_long(d: Duration) -> String {
    format!("must be at most {}, got {}", format_duration(MAX_DURATION), format_duration(d))
}

/// How the failure and slow-call rates are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// The last N recorded outcomes, sliding by one on every outcome.
    Count(u32),
    /// The outcomes of the last N whole seconds, kept in one-second buckets.
    Time(Duration),
}

impl fmt::Display for WindowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowKind::Count(n) => write!(f, "{n} calls"),
            WindowKind::Time(d) => f.write_str(&format_duration(*d)),
        }
    }
}

/// Slow-call detection: a call is slow when it took at least `duration`, success or failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowCalls {
    /// A call taking at least this long is slow.
    pub duration: Duration,
    /// The breaker opens when this share of the calls in the window were slow.
    pub rate_threshold: f64,
}

/// A validated breaker configuration. Build one with [`Config::builder`].
///
/// The defaults follow Resilience4j where its choice is sound and depart from it where its
/// users complain:
///
/// | field | default | why |
/// |---|---|---|
/// | `consecutive_failures` | 5 | a dependency that fails five times in a row is down; trips fast at low traffic, where a rate is noise |
/// | `failure_rate` | 0.5 | half the calls failing is an outage, not noise |
/// | `window` | 100 calls | large enough for a stable rate, small enough to react within seconds at modest traffic |
/// | `minimum_calls` | 20 | a rate over fewer calls is noise; still lets a breaker trip long before the window fills (Resilience4j's 100 does not) |
/// | `slow_call` | off | what counts as slow depends on the endpoint (at most 24 h) |
/// | `wait` | 60 s | long enough for a restart or failover to finish (1 ms to 24 h) |
/// | `backoff_multiplier` | 1 (fixed wait) | exponential backoff is opt-in |
/// | `max_wait` | 10 min or `wait`, whichever is larger | caps the backoff, jitter included (at most 24 h) |
/// | `jitter` | 0 | deterministic unless asked; use 0.1–0.3 with many clients |
/// | `half_open_permits` | 2 | one probe is a coin toss; two agreeing probes are evidence |
/// | `success_threshold` | 2 | close only when every probe succeeded |
/// | `max_half_open` | 120 s | probes that never report back cannot wedge the breaker (at most 24 h) |
///
/// Every duration is bounded: at most [`MAX_DURATION`] (24 h), `wait` at least [`MIN_WAIT`]
/// (1 ms), a time window from 1 s to [`MAX_TIME_WINDOW`] (1 h). A value outside its bounds is
/// an error from [`ConfigBuilder::build`] naming the field and the bound, whether it came from
/// code, an attribute, a file or the environment.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use breaker_core::Config;
///
/// let config = Config::builder()
///     .failure_rate(0.25)
///     .count_window(50)
///     .minimum_calls(10)
///     .wait(Duration::from_secs(10))
///     .build()
///     .unwrap();
/// assert_eq!(config.failure_rate(), Some(0.25));
/// assert_eq!(config.consecutive_failures(), Some(5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    consecutive_failures: Option<u32>,
    failure_rate: Option<f64>,
    window: WindowKind,
    minimum_calls: u32,
    slow_calls: Option<SlowCalls>,
    wait: Duration,
    backoff_multiplier: f64,
    max_wait: Duration,
    jitter: f64,
    half_open_permits: u32,
    success_threshold: u32,
    max_half_open: Duration,
    enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        ConfigBuilder::new().build().expect("the defaults are valid")
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    /// A builder holding every field of this configuration, to derive a variant from it.
    pub fn to_builder(&self) -> ConfigBuilder {
        ConfigBuilder {
            consecutive_failures: Some(self.consecutive_failures),
            failure_rate: Some(self.failure_rate),
            window: Some(self.window),
            minimum_calls: Some(self.minimum_calls),
            slow_call: Some(self.slow_calls.map(|s| s.duration)),
            slow_call_rate: self.slow_calls.map(|s| s.rate_threshold),
            wait: Some(self.wait),
            backoff_multiplier: Some(self.backoff_multiplier),
            max_wait: Some(self.max_wait),
            jitter: Some(self.jitter),
            half_open_permits: Some(self.half_open_permits),
            success_threshold: Some(self.success_threshold),
            max_half_open: Some(self.max_half_open),
            enabled: Some(self.enabled),
        }
    }

    /// False when this breaker is switched off by configuration (`enabled = false`): a
    /// registry keeps it in the metrics-only state, admitting and measuring every call.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Consecutive failures that open the breaker, or `None` when this trip is off.
    pub fn consecutive_failures(&self) -> Option<u32> {
        self.consecutive_failures
    }
    /// Failure rate (0 to 1] that opens the breaker, or `None` when this trip is off.
    pub fn failure_rate(&self) -> Option<f64> {
        self.failure_rate
    }
    /// The sliding window the rates are measured over.
    pub fn window(&self) -> WindowKind {
        self.window
    }
    /// Outcomes the window must hold before a rate can open the breaker.
    pub fn minimum_calls(&self) -> u32 {
        self.minimum_calls
    }
    /// Slow-call detection, or `None` when off.
    pub fn slow_calls(&self) -> Option<SlowCalls> {
        self.slow_calls
    }
    /// How long the breaker stays open before the first probe.
    pub fn wait(&self) -> Duration {
        self.wait
    }
    /// Each reopen from half-open multiplies the wait by this (1 = fixed wait).
    pub fn backoff_multiplier(&self) -> f64 {
        self.backoff_multiplier
    }
    /// The longest wait backoff can reach.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }
    /// Random spread applied to each wait, as a fraction (0.2 = ±20%).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }
    /// Probes allowed in flight at once while half-open.
    pub fn half_open_permits(&self) -> u32 {
        self.half_open_permits
    }
    /// Successful probes that close the breaker.
    pub fn success_threshold(&self) -> u32 {
        self.success_threshold
    }
    /// How long the breaker may stay half-open before it reopens.
    pub fn max_half_open(&self) -> Duration {
        self.max_half_open
    }

    /// The open wait after `reopens` consecutive reopens from half-open, before jitter.
    pub fn wait_for(&self, reopens: u32) -> Duration {
        if self.backoff_multiplier <= 1.0 || reopens == 0 {
            return self.wait;
        }
        let exp = i32::try_from(reopens).unwrap_or(i32::MAX);
        let secs = self.wait.as_secs_f64() * self.backoff_multiplier.powi(exp);
        if !secs.is_finite() || secs >= self.max_wait.as_secs_f64() {
            self.max_wait
        } else {
            Duration::from_secs_f64(secs)
        }
    }
}

/// Builds a [`Config`]. Unset fields take the defaults documented on [`Config`].
///
/// Builders can be layered with [`ConfigBuilder::merge`], which is how the runtime combines
/// attribute, code, file and environment configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigBuilder {
    consecutive_failures: Option<Option<u32>>,
    failure_rate: Option<Option<f64>>,
    window: Option<WindowKind>,
    minimum_calls: Option<u32>,
    slow_call: Option<Option<Duration>>,
    slow_call_rate: Option<f64>,
    wait: Option<Duration>,
    backoff_multiplier: Option<f64>,
    max_wait: Option<Duration>,
    jitter: Option<f64>,
    half_open_permits: Option<u32>,
    success_threshold: Option<u32>,
    max_half_open: Option<Duration>,
    enabled: Option<bool>,
}

/// The keys [`ConfigBuilder::set`] accepts, as used in attributes, files and the environment.
pub const KEYS: &[&str] = &[
    "consecutive_failures",
    "failure_rate",
    "window",
    "minimum_calls",
    "slow_call",
    "slow_call_rate",
    "wait",
    "backoff_multiplier",
    "max_wait",
    "jitter",
    "half_open_permits",
    "success_threshold",
    "max_half_open",
    "enabled",
];

impl ConfigBuilder {
    /// An empty builder: every field at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Open after this many consecutive failures (0 turns this trip off).
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = Some((n != 0).then_some(n));
        self
    }
    /// Open when the failure rate over the window reaches `rate`, in (0, 1].
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = Some(Some(rate));
        self
    }
    /// Never open on the failure rate.
    pub fn without_failure_rate(mut self) -> Self {
        self.failure_rate = Some(None);
        self
    }
    /// Measure rates over the last `calls` outcomes.
    pub fn count_window(mut self, calls: u32) -> Self {
        self.window = Some(WindowKind::Count(calls));
        self
    }
    /// Measure rates over the last `span` (whole seconds).
    pub fn time_window(mut self, span: Duration) -> Self {
        self.window = Some(WindowKind::Time(span));
        self
    }
    /// Set the window.
    pub fn window(mut self, window: WindowKind) -> Self {
        self.window = Some(window);
        self
    }
    /// Outcomes the window must hold before a rate can open the breaker.
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = Some(n);
        self
    }
    /// A call taking at least `duration` is slow (the slow-call rate defaults to 1.0).
    pub fn slow_call(mut self, duration: Duration) -> Self {
        self.slow_call = Some(Some(duration));
        self
    }
    /// Open when this share of the calls in the window were slow; needs [`slow_call`](Self::slow_call).
    pub fn slow_call_rate(mut self, rate: f64) -> Self {
        self.slow_call_rate = Some(rate);
        self
    }
    /// Stay open this long before admitting probes.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }
    /// Multiply the wait by `multiplier` on every reopen from half-open, up to `max_wait`.
    pub fn exponential_backoff(mut self, multiplier: f64, max_wait: Duration) -> Self {
        self.backoff_multiplier = Some(multiplier);
        self.max_wait = Some(max_wait);
        self
    }
    /// Spread each wait randomly by up to this fraction, in [0, 1). With exponential backoff,
    /// a jittered wait never exceeds `max_wait`.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = Some(fraction);
        self
    }
    /// Probes allowed in flight at once while half-open.
    pub fn half_open_permits(mut self, n: u32) -> Self {
        self.half_open_permits = Some(n);
        self
    }
    /// Successful probes that close the breaker (at most `half_open_permits`).
    pub fn success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = Some(n);
        self
    }
    /// Reopen a breaker that stayed half-open this long.
    pub fn max_half_open(mut self, d: Duration) -> Self {
        self.max_half_open = Some(d);
        self
    }

    /// Switches this breaker off (`false`: metrics-only, admitting and measuring every call) or
    /// on (`true`, the default).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// True when this builder sets `key` (one of [`KEYS`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use breaker_core::Config;
    ///
    /// let b = Config::builder().wait(Duration::from_secs(5));
    /// assert!(b.is_set("wait"));
    /// assert!(!b.is_set("jitter"));
    /// ```
    pub fn is_set(&self, key: &str) -> bool {
        match key {
            "consecutive_failures" => self.consecutive_failures.is_some(),
            "failure_rate" => self.failure_rate.is_some(),
            "window" => self.window.is_some(),
            "minimum_calls" => self.minimum_calls.is_some(),
            "slow_call" => self.slow_call.is_some(),
            "slow_call_rate" => self.slow_call_rate.is_some(),
            "wait" => self.wait.is_some(),
            "backoff_multiplier" => self.backoff_multiplier.is_some(),
            "max_wait" => self.max_wait.is_some(),
            "jitter" => self.jitter.is_some(),
            "half_open_permits" => self.half_open_permits.is_some(),
            "success_threshold" => self.success_threshold.is_some(),
            "max_half_open" => self.max_half_open.is_some(),
            "enabled" => self.enabled.is_some(),
            _ => false,
        }
    }

    /// Layers `over` on top of `self`: every field `over` sets wins.
    pub fn merge(mut self, over: &ConfigBuilder) -> Self {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(
            consecutive_failures,
            failure_rate,
            window,
            minimum_calls,
            slow_call,
            slow_call_rate,
            wait,
            backoff_multiplier,
            max_wait,
            jitter,
            half_open_permits,
            success_threshold,
            max_half_open,
            enabled
        );
        // Turning a trip off turns off what depends on it: a layer that switches slow-call
        // detection off drops a slow-call rate set by a lower layer.
        if over.slow_call == Some(None) && over.slow_call_rate.is_none() {
            self.slow_call_rate = None;
        }
        self
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == ConfigBuilder::default()
    }

    /// Sets one field from its text form, as files, the environment and attributes spell it.
    ///
    /// Numbers are plain (`5`, `0.5`); durations are human (`"30s"`); the window is
    /// `"100 calls"` or `"60s"`; `off` (or `false`) turns `consecutive_failures`,
    /// `failure_rate` and `slow_call` off. Range checks happen in [`build`](Self::build).
    ///
    /// # Example
    ///
    /// ```
    /// use breaker_core::ConfigBuilder;
    ///
    /// let mut b = ConfigBuilder::new();
    /// b.set("wait", "30s").unwrap();
    /// b.set("window", "50 calls").unwrap();
    /// let err = b.set("wait", "30 sec").unwrap_err();
    /// assert_eq!(err.to_string(), "`wait`: invalid value \"30 sec\"; expected a whole number followed by `ns`, `us`, `ms`, `s`, `m` or `h`, such as \"250ms\", \"30s\" or \"5m\"");
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), FieldError> {
        let v = value.trim();
        let off = matches!(v, "off" | "false" | "none");
        let field = |e: ParseError| FieldError::new(key_name(key), e.to_string());
        let int = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| FieldError::new(key_name(key), format!("invalid value \"{v}\"; expected a whole number")))
        };
        let float = |v: &str| {
            v.parse::<f64>().map_err(|_| {
                FieldError::new(key_name(key), format!("invalid value \"{v}\"; expected a number such as 0.5"))
            })
        };
        match key {
            "consecutive_failures" => {
                self.consecutive_failures = Some(if off { None } else { Some(int(v)?).filter(|n| *n != 0) })
            }
            "failure_rate" => self.failure_rate = Some(if off { None } else { Some(float(v)?) }),
            "window" => self.window = Some(parse_window(v).map_err(field)?),
            "minimum_calls" => self.minimum_calls = Some(int(v)?),
            "slow_call" => self.slow_call = Some(if off { None } else { Some(parse_duration(v).map_err(field)?) }),
            "slow_call_rate" => self.slow_call_rate = Some(float(v)?),
            "wait" => self.wait = Some(parse_duration(v).map_err(field)?),
            "backoff_multiplier" => self.backoff_multiplier = Some(float(v)?),
            "max_wait" => self.max_wait = Some(parse_duration(v).map_err(field)?),
            "jitter" => self.jitter = Some(float(v)?),
            "half_open_permits" => self.half_open_permits = Some(int(v)?),
            "success_threshold" => self.success_threshold = Some(int(v)?),
            "max_half_open" => self.max_half_open = Some(parse_duration(v).map_err(field)?),
            "enabled" => {
                self.enabled = Some(match v.to_ascii_lowercase().as_str() {
                    "true" | "on" | "yes" => true,
                    "false" | "off" | "no" => false,
                    _ => return Err(FieldError::new("enabled", format!("invalid value \"{v}\"; expected `true` or `false`"))),
                })
            }
            _ => {
                return Err(FieldError::new(
                    "",
                    format!(
                        "unknown key `{key}`; expected one of {}",
                        KEYS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ),
                ))
            }
        }
        Ok(())
    }

    /// Validates every field and returns the configuration, or an error naming every invalid
    /// field at once.
    ///
    /// # Example
    ///
    /// ```
    /// use breaker_core::Config;
    ///
    /// let err = Config::builder()
    ///     .half_open_permits(0)
    ///     .failure_rate(f64::NAN)
    ///     .build()
    ///     .unwrap_err();
    /// let fields: Vec<_> = err.fields().collect();
    /// assert_eq!(fields, ["failure_rate", "half_open_permits"]);
    /// ```
    pub fn build(&self) -> Result<Config, ConfigError> {
        let mut errors = Vec::new();
        let mut bad = |field: &'static str, message: String| errors.push(FieldError::new(field, message));

        let consecutive_failures = self.consecutive_failures.unwrap_or(Some(5));
        let failure_rate = self.failure_rate.unwrap_or(Some(0.5));
        if let Some(rate) = failure_rate {
            if !(rate > 0.0 && rate <= 1.0) {
                bad("failure_rate", format!("must be greater than 0 and at most 1, got {rate}"));
            }
        }
        let window = self.window.unwrap_or(WindowKind::Count(100));
        match window {
            WindowKind::Count(n) if n == 0 || n > MAX_COUNT_WINDOW => {
                bad("window", format!("a count window must hold 1 to {MAX_COUNT_WINDOW} calls, got {n}"))
            }
            WindowKind::Time(d) if d.is_zero() || d > MAX_TIME_WINDOW || d.subsec_nanos() != 0 => bad(
                "window",
                format!("a time window must be a whole number of seconds from 1s to 1h, got {}", format_duration(d)),
            ),
            _ => {}
        }
        let minimum_calls = self.minimum_calls.unwrap_or(match window {
            // At least 1, so an empty window is reported once, on `window`, not on this unset field too.
            WindowKind::Count(n) => n.clamp(1, 20),
            WindowKind::Time(_) => 20,
        });
        if minimum_calls == 0 {
            bad("minimum_calls", "must be at least 1".to_owned());
        }
        if let WindowKind::Count(n) = window {
            if minimum_calls > n && n != 0 {
                bad("minimum_calls", format!("{minimum_calls} is more than the count window holds ({n} calls)"));
            }
        }
        let slow_call = self.slow_call.unwrap_or(None);
        let slow_calls = match (slow_call, self.slow_call_rate) {
            (None, Some(_)) => {
                bad("slow_call_rate", "needs `slow_call` (the duration that makes a call slow)".to_owned());
                None
            }
            (None, None) => None,
            (Some(duration), rate) => {
                let rate_threshold = rate.unwrap_or(1.0);
                if duration.is_zero() {
                    bad("slow_call", "must be longer than zero".to_owned());
                } else if duration > MAX_DURATION {
                    bad("slow_call", too_long(duration));
                }
                if !(rate_threshold > 0.0 && rate_threshold <= 1.0) {
                    bad("slow_call_rate", format!("must be greater than 0 and at most 1, got {rate_threshold}"));
                }
                Some(SlowCalls { duration, rate_threshold })
            }
        };
        let wait = self.wait.unwrap_or(Duration::from_secs(60));
        if wait < MIN_WAIT {
            bad("wait", format!("must be at least {}, got {}", format_duration(MIN_WAIT), format_duration(wait)));
        } else if wait > MAX_DURATION {
            bad("wait", too_long(wait));
        }
        let backoff_multiplier = self.backoff_multiplier.unwrap_or(1.0);
        if !(backoff_multiplier.is_finite() && backoff_multiplier >= 1.0) {
            bad("backoff_multiplier", format!("must be a finite number of at least 1, got {backoff_multiplier}"));
        }
        // Unset, it is never the one blamed for a `wait` over the bound.
        let max_wait = self.max_wait.unwrap_or_else(|| wait.max(Duration::from_secs(600)).min(MAX_DURATION));
        if max_wait > MAX_DURATION {
            bad("max_wait", too_long(max_wait));
        } else if max_wait < wait && wait <= MAX_DURATION {
            bad(
                "max_wait",
                format!("{} is shorter than `wait` ({})", format_duration(max_wait), format_duration(wait)),
            );
        }
        let jitter = self.jitter.unwrap_or(0.0);
        if !(0.0..1.0).contains(&jitter) {
            bad("jitter", format!("must be at least 0 and less than 1, got {jitter}"));
        }
        let half_open_permits = self.half_open_permits.unwrap_or(2);
        if half_open_permits == 0 || half_open_permits > MAX_HALF_OPEN_PERMITS {
            bad("half_open_permits", format!("must be from 1 to {MAX_HALF_OPEN_PERMITS}, got {half_open_permits}"));
        }
        let success_threshold = self.success_threshold.unwrap_or_else(|| half_open_permits.clamp(1, 2));
        if success_threshold == 0 {
            bad("success_threshold", "must be at least 1".to_owned());
        } else if success_threshold > half_open_permits && half_open_permits != 0 {
            bad(
                "success_threshold",
                format!("{success_threshold} is more than `half_open_permits` ({half_open_permits})"),
            );
        }
        let max_half_open = self.max_half_open.unwrap_or(Duration::from_secs(120));
        if max_half_open.is_zero() {
            bad("max_half_open", "must be longer than zero".to_owned());
        } else if max_half_open > MAX_DURATION {
            bad("max_half_open", too_long(max_half_open));
        }

        if !errors.is_empty() {
            errors.sort_by_key(|e| KEYS.iter().position(|k| *k == e.field).unwrap_or(usize::MAX));
            return Err(ConfigError { errors });
        }
        Ok(Config {
            consecutive_failures,
            failure_rate,
            window,
            minimum_calls,
            slow_calls,
            wait,
            backoff_multiplier,
            max_wait,
            jitter,
            half_open_permits,
            success_threshold,
            max_half_open,
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

fn key_name(key: &str) -> &'static str {
    KEYS.iter().copied().find(|k| *k == key).unwrap_or("")
}

/// One invalid configuration field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    field: &'static str,
    message: String,
}

impl FieldError {
    fn new(field: &'static str, message: String) -> Self {
        Self { field, message }
    }

    /// The field's key (as in [`KEYS`]), or `""` for an unknown key.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Every invalid field of a configuration, reported at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    errors: Vec<FieldError>,
}

impl ConfigError {
    /// The invalid fields' keys, in [`KEYS`] order.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.errors.iter().map(|e| e.field)
    }

    /// Each invalid field with its message.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid circuit breaker configuration: ")?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::{ConfigBuilder, KEYS};
    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use std::fmt;

    /// A scalar as a file spells it: `5`, `0.5`, `"30s"`, `false`.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Bool(bool),
        Int(i64),
        Float(f64),
        Text(String),
    }

    impl<'de> serde::Deserialize<'de> for ConfigBuilder {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = ConfigBuilder;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a table of circuit breaker settings")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConfigBuilder, A::Error> {
                    let mut b = ConfigBuilder::new();
                    while let Some(key) = map.next_key::<String>()? {
                        if !KEYS.contains(&key.as_str()) {
                            return Err(de::Error::unknown_field(&key, KEYS));
                        }
                        let text = match map.next_value::<Scalar>()? {
                            Scalar::Bool(true) if key == "enabled" => "true".to_owned(),
                            Scalar::Bool(true) => {
                                return Err(de::Error::custom(format!(
                                    "`{key}`: `true` is not a value; give a number or a duration, or `false` to turn it off"
                                )))
                            }
                            Scalar::Bool(false) => "off".to_owned(),
                            Scalar::Int(i) => i.to_string(),
                            Scalar::Float(x) => x.to_string(),
                            Scalar::Text(s) => s,
                        };
                        b.set(&key, &text).map_err(de::Error::custom)?;
                    }
                    Ok(b)
                }
            }
            deserializer.deserialize_map(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_are_the_documented_ones() {
        assert_eq!(MIN_WAIT, Duration::from_millis(1));
        assert_eq!(MAX_DURATION, Duration::from_secs(24 * 3600));
        assert_eq!(format_duration(MAX_DURATION), "24h");
        assert!(check_timeout("timeout", Duration::ZERO).is_err());
        assert!(check_timeout("timeout", MAX_DURATION).is_ok());
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = Config::default();
        assert_eq!(c.consecutive_failures(), Some(5));
        assert_eq!(c.failure_rate(), Some(0.5));
        assert_eq!(c.window(), WindowKind::Count(100));
        assert_eq!(c.minimum_calls(), 20);
        assert_eq!(c.slow_calls(), None);
        assert_eq!(c.wait(), Duration::from_secs(60));
        assert_eq!(c.half_open_permits(), 2);
        assert_eq!(c.success_threshold(), 2);
        assert_eq!(c.max_half_open(), Duration::from_secs(120));
        assert_eq!(c.jitter(), 0.0);
        assert_eq!(c.to_builder().build().unwrap(), c);
    }

    fn fields(b: ConfigBuilder) -> Vec<&'static str> {
        b.build().unwrap_err().fields().collect()
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let b = Config::builder()
            .failure_rate(1.5)
            .count_window(0)
            .minimum_calls(0)
            .slow_call(Duration::ZERO)
            .slow_call_rate(f64::NAN)
            .wait(Duration::ZERO)
            .exponential_backoff(0.5, Duration::ZERO)
            .jitter(1.0)
            .half_open_permits(0)
            .success_threshold(0)
            .max_half_open(Duration::ZERO);
        assert_eq!(
            fields(b),
            [
                "failure_rate",
                "window",
                "minimum_calls",
                "slow_call",
                "slow_call_rate",
                "wait",
                "backoff_multiplier",
                "jitter",
                "half_open_permits",
                "success_threshold",
                "max_half_open"
            ]
        );
    }

    #[test]
    fn each_config_error() {
        assert_eq!(fields(Config::builder().failure_rate(0.0)), ["failure_rate"]);
        assert_eq!(fields(Config::builder().failure_rate(f64::NAN)), ["failure_rate"]);
        assert_eq!(fields(Config::builder().failure_rate(-0.1)), ["failure_rate"]);
        assert_eq!(fields(Config::builder().count_window(MAX_COUNT_WINDOW + 1)), ["window"]);
        assert_eq!(fields(Config::builder().time_window(Duration::from_millis(1500))), ["window"]);
        assert_eq!(fields(Config::builder().time_window(Duration::ZERO)), ["window"]);
        assert_eq!(fields(Config::builder().time_window(Duration::from_secs(7200))), ["window"]);
        assert_eq!(fields(Config::builder().count_window(10).minimum_calls(11)), ["minimum_calls"]);
        assert_eq!(fields(Config::builder().slow_call_rate(0.5)), ["slow_call_rate"]);
        assert_eq!(fields(Config::builder().slow_call(Duration::from_secs(1)).slow_call_rate(2.0)), ["slow_call_rate"]);
        assert_eq!(
            fields(Config::builder().exponential_backoff(f64::INFINITY, Duration::from_secs(600))),
            ["backoff_multiplier"]
        );
        assert_eq!(
            fields(Config::builder().wait(Duration::from_secs(60)).exponential_backoff(2.0, Duration::from_secs(1))),
            ["max_wait"]
        );
        assert_eq!(fields(Config::builder().jitter(-0.1)), ["jitter"]);
        assert_eq!(fields(Config::builder().half_open_permits(MAX_HALF_OPEN_PERMITS + 1)), ["half_open_permits"]);
        assert_eq!(fields(Config::builder().half_open_permits(2).success_threshold(3)), ["success_threshold"]);
        let msg = Config::builder().half_open_permits(0).build().unwrap_err().to_string();
        assert_eq!(msg, "invalid circuit breaker configuration: `half_open_permits`: must be from 1 to 10000, got 0");
    }

    #[test]
    fn minimum_calls_defaults_within_a_small_count_window() {
        let c = Config::builder().count_window(5).build().unwrap();
        assert_eq!(c.minimum_calls(), 5);
        let c = Config::builder().half_open_permits(1).build().unwrap();
        assert_eq!(c.success_threshold(), 1);
    }

    #[test]
    fn an_empty_window_is_not_also_blamed_on_unset_fields() {
        assert_eq!(fields(Config::builder().count_window(0)), ["window"]);
        assert_eq!(fields(Config::builder().half_open_permits(0)), ["half_open_permits"]);
        assert_eq!(fields(Config::builder().count_window(0).minimum_calls(0)), ["window", "minimum_calls"]);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let c = Config::builder()
            .wait(Duration::from_secs(10))
            .exponential_backoff(2.0, Duration::from_secs(35))
            .build()
            .unwrap();
        assert_eq!(c.wait_for(0), Duration::from_secs(10));
        assert_eq!(c.wait_for(1), Duration::from_secs(20));
        assert_eq!(c.wait_for(2), Duration::from_secs(35));
        assert_eq!(c.wait_for(u32::MAX), Duration::from_secs(35));
    }

    #[test]
    fn switching_slow_calls_off_over_a_default_drops_the_rate_that_needs_them() {
        let default = Config::builder().slow_call(Duration::from_secs(2)).slow_call_rate(0.5);
        let mut over = ConfigBuilder::new();
        over.set("slow_call", "false").unwrap();
        let merged = default.merge(&over).build().expect("slow calls off, so no rate is needed");
        assert_eq!(merged.slow_calls(), None);
        // A layer that sets both keeps its own rate, and the check still applies.
        let mut both = ConfigBuilder::new();
        both.set("slow_call", "false").unwrap();
        both.set("slow_call_rate", "0.3").unwrap();
        assert!(Config::builder().merge(&both).build().is_err());
    }

    #[test]
    fn merge_prefers_the_upper_layer() {
        let base = Config::builder().wait(Duration::from_secs(5)).minimum_calls(3);
        let over = Config::builder().wait(Duration::from_secs(9));
        let c = base.merge(&over).build().unwrap();
        assert_eq!(c.wait(), Duration::from_secs(9));
        assert_eq!(c.minimum_calls(), 3);
    }

    #[test]
    fn set_parses_every_key_and_names_bad_ones() {
        let mut b = ConfigBuilder::new();
        for (k, v) in [
            ("consecutive_failures", "off"),
            ("failure_rate", "0.4"),
            ("window", "30s"),
            ("minimum_calls", "7"),
            ("slow_call", "2s"),
            ("slow_call_rate", "0.9"),
            ("wait", "5s"),
            ("backoff_multiplier", "2"),
            ("max_wait", "1m"),
            ("jitter", "0.1"),
            ("half_open_permits", "3"),
            ("success_threshold", "3"),
            ("max_half_open", "10s"),
        ] {
            b.set(k, v).unwrap();
        }
        let c = b.build().unwrap();
        assert_eq!(c.consecutive_failures(), None);
        assert_eq!(c.window(), WindowKind::Time(Duration::from_secs(30)));
        assert_eq!(c.slow_calls(), Some(SlowCalls { duration: Duration::from_secs(2), rate_threshold: 0.9 }));
        assert_eq!(c.max_wait(), Duration::from_secs(60));
        let e = b.set("minimum_calls", "lots").unwrap_err();
        assert_eq!(e.to_string(), "`minimum_calls`: invalid value \"lots\"; expected a whole number");
        let e = b.set("wiat", "5s").unwrap_err();
        assert!(e.to_string().starts_with("unknown key `wiat`; expected one of `consecutive_failures`"), "{e}");
    }
}
