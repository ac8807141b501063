//! What a breaker reports: snapshots, transitions, and threshold crossings in metrics-only mode.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::state::State;

/// A breaker's name. Static names (the common case) are copied for free; owned names share
/// one allocation. Compares, orders and hashes exactly like the `str` it holds, so maps keyed
/// by `Name` can be queried with a `&str`.
#[derive(Clone)]
pub struct Name(NameRepr);

#[derive(Clone)]
enum NameRepr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            NameRepr::Static(s) => s,
            NameRepr::Shared(s) => s,
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Name {
    fn from(s: &'static str) -> Self {
        Name(NameRepr::Static(s))
    }
}

impl From<String> for Name {
    fn from(s: String) -> Self {
        Name(NameRepr::Shared(s.into()))
    }
}

impl From<Arc<str>> for Name {
    fn from(s: Arc<str>) -> Self {
        Name(NameRepr::Shared(s))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A point-in-time view of a breaker.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Snapshot {
    /// The current state.
    pub state: State,
    /// Failed share of the calls in the window (0 when the window is empty).
    pub failure_rate: f64,
    /// Slow share of the calls in the window (0 when the window is empty).
    pub slow_call_rate: f64,
    /// Outcomes in the window.
    pub calls_in_window: u32,
    /// Failed outcomes in the window.
    pub failed_calls: u32,
    /// Slow outcomes in the window.
    pub slow_calls: u32,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Half-open probes in flight.
    pub permits_in_use: u32,
    /// While open: how long until a probe is admitted.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser_opt_duration"))]
    pub retry_after: Option<Duration>,
}

#[cfg(feature = "serde")]
fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// Which manual operation caused a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualOp {
    /// [`force_open`](crate::CircuitBreaker::force_open).
    ForceOpen,
    /// [`disable`](crate::CircuitBreaker::disable).
    Disable,
    /// [`metrics_only`](crate::CircuitBreaker::metrics_only).
    MetricsOnly,
    /// [`reset`](crate::CircuitBreaker::reset).
    Reset,
}

/// Why a breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason {
    /// `consecutive_failures` was reached.
    ConsecutiveFailures {
        /// Failures in a row.
        count: u32,
        /// The configured threshold.
        threshold: u32,
    },
    /// The failure rate over the window reached the threshold.
    FailureRate {
        /// The measured rate.
        rate: f64,
        /// The configured threshold.
        threshold: f64,
    },
    /// The slow-call rate over the window reached the threshold.
    SlowCallRate {
        /// The measured rate.
        rate: f64,
        /// The configured threshold.
        threshold: f64,
    },
    /// The open wait passed; probes may run.
    WaitElapsed,
    /// A half-open probe failed (or was slow).
    ProbeFailed,
    /// Enough probes succeeded.
    ProbesSucceeded {
        /// Successful probes.
        successes: u32,
    },
    /// The breaker stayed half-open longer than `max_half_open`.
    HalfOpenTimeout,
    /// A manual operation.
    Manual(ManualOp),
    /// Another replica of the fleet decided (see `breaker-redis`): the change was applied from
    /// outside through [`adopt_open`](crate::CircuitBreaker::adopt_open),
    /// [`adopt_close`](crate::CircuitBreaker::adopt_close) or a
    /// [`sensitise`](crate::CircuitBreaker::sensitise)d breaker's first failure.
    Fleet {
        /// What the fleet decided.
        cause: FleetCause,
        /// The replica whose judgement it was.
        instance: InstanceId,
    },
}

impl Reason {
    /// A short snake_case label for metrics: `consecutive_failures`, `failure_rate`, ...
    pub const fn as_str(&self) -> &'static str {
        match self {
            Reason::ConsecutiveFailures { .. } => "consecutive_failures",
            Reason::FailureRate { .. } => "failure_rate",
            Reason::SlowCallRate { .. } => "slow_call_rate",
            Reason::WaitElapsed => "wait_elapsed",
            Reason::ProbeFailed => "probe_failed",
            Reason::ProbesSucceeded { .. } => "probes_succeeded",
            Reason::HalfOpenTimeout => "half_open_timeout",
            Reason::Manual(ManualOp::ForceOpen) => "force_open",
            Reason::Manual(ManualOp::Disable) => "disable",
            Reason::Manual(ManualOp::MetricsOnly) => "metrics_only",
            Reason::Manual(ManualOp::Reset) => "reset",
            Reason::Fleet { cause, .. } => cause.as_str(),
        }
    }

    /// The measured value and threshold, for the trips that have them.
    pub fn measurement(&self) -> Option<(f64, f64)> {
        match *self {
            Reason::ConsecutiveFailures { count, threshold } => Some((f64::from(count), f64::from(threshold))),
            Reason::FailureRate { rate, threshold } | Reason::SlowCallRate { rate, threshold } => {
                Some((rate, threshold))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ConsecutiveFailures { count, threshold } => {
                write!(f, "{count} consecutive failures (threshold {threshold})")
            }
            Reason::FailureRate { rate, threshold } => {
                write!(f, "failure rate {:.1}% (threshold {:.1}%)", rate * 100.0, threshold * 100.0)
            }
            Reason::SlowCallRate { rate, threshold } => {
                write!(f, "slow-call rate {:.1}% (threshold {:.1}%)", rate * 100.0, threshold * 100.0)
            }
            Reason::Fleet { cause, instance } => match cause {
                FleetCause::Opened => write!(f, "opened by fleet instance `{instance}`"),
                FleetCause::Sensitised => {
                    write!(f, "first failure while fleet instance `{instance}` reports the breaker open")
                }
                FleetCause::ProbesSucceeded => write!(f, "probes on fleet instance `{instance}` succeeded"),
                FleetCause::ProbeFailed => write!(f, "a probe on fleet instance `{instance}` failed"),
            },
            other => f.write_str(other.as_str()),
        }
    }
}

/// What another replica of the fleet decided, in a [`Reason::Fleet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FleetCause {
    /// Another replica opened; this one adopted the open with the remaining wait.
    Opened,
    /// This replica was sensitised by another's open, and its first failure opened it.
    Sensitised,
    /// The fleet's probe (on another replica) succeeded: closed fleet-wide.
    ProbesSucceeded,
    /// The fleet's probe (on another replica) failed: reopened fleet-wide with the shared backoff.
    ProbeFailed,
}

impl FleetCause {
    /// A short snake_case label for metrics: `fleet_opened`, `fleet_sensitised`,
    /// `fleet_probes_succeeded`, `fleet_probe_failed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FleetCause::Opened => "fleet_opened",
            FleetCause::Sensitised => "fleet_sensitised",
            FleetCause::ProbesSucceeded => "fleet_probes_succeeded",
            FleetCause::ProbeFailed => "fleet_probe_failed",
        }
    }
}

/// The id of one replica in a fleet, as carried in [`Reason::Fleet`]: a short string stored
/// inline so that [`Reason`] stays `Copy`. Longer ids are cut at a character boundary to
/// [`InstanceId::MAX_LEN`] bytes.
///
/// ```
/// use breaker_core::InstanceId;
///
/// let id = InstanceId::new("checkout-7f9c-2");
/// assert_eq!(id.as_str(), "checkout-7f9c-2");
/// assert_eq!(InstanceId::new(&"é".repeat(40)).as_str().len(), 46, "cut at a char boundary");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceId {
    len: u8,
    bytes: [u8; InstanceId::MAX_LEN],
}

impl InstanceId {
    /// The longest id kept, in bytes.
    pub const MAX_LEN: usize = 47;

    /// The id `id`, cut to [`MAX_LEN`](Self::MAX_LEN) bytes at a character boundary.
    pub fn new(id: &str) -> Self {
        let mut end = id.len().min(Self::MAX_LEN);
        while !id.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; Self::MAX_LEN];
        bytes[..end].copy_from_slice(&id.as_bytes()[..end]);
        #[allow(clippy::cast_possible_truncation)] // at most MAX_LEN
        InstanceId { len: end as u8, bytes }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        // Built from a `&str` cut at a character boundary, so always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// One state change, reported exactly once to the breaker's [`Listener`].
#[derive(Debug, Clone)]
pub struct Transition {
    /// The breaker's name.
    pub name: Name,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why.
    pub reason: Reason,
    /// The breaker right after the change.
    pub snapshot: Snapshot,
}

/// In metrics-only mode: a threshold was crossed that would have opened the breaker.
#[derive(Debug, Clone)]
pub struct ThresholdExceeded {
    /// The breaker's name.
    pub name: Name,
    /// Which threshold, with the measured value.
    pub reason: Reason,
    /// The breaker at that moment.
    pub snapshot: Snapshot,
}

/// Receives a breaker's notifications. Called outside any lock; a panic inside is caught and
/// cannot harm the breaker.
///
/// # Example
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use breaker_core::{CircuitBreaker, Config, Listener, State, Transition};
///
/// #[derive(Default)]
/// struct Log(Mutex<Vec<(State, State)>>);
///
/// impl Listener for Log {
///     fn on_transition(&self, t: &Transition) {
///         self.0.lock().unwrap().push((t.from, t.to));
///     }
/// }
///
/// let log = Arc::new(Log::default());
/// let breaker = CircuitBreaker::new("db", Config::default()).with_listener(log.clone());
/// breaker.force_open();
/// assert_eq!(*log.0.lock().unwrap(), [(State::Closed, State::ForcedOpen)]);
/// ```
pub trait Listener: Send + Sync + 'static {
    /// A state change.
    fn on_transition(&self, transition: &Transition);

    /// Metrics-only mode crossed a threshold (reported once per crossing).
    fn on_threshold_exceeded(&self, event: &ThresholdExceeded) {
        let _ = event;
    }
}

// ---- Display: one readable log line per event ------------------------------------------

/// One log line: ``circuit breaker `payments`: closed -> open (5 consecutive failures
/// (threshold 5)); next probe in 30.000s``.
///
/// ```
/// use breaker_core::{CircuitBreaker, Config, Listener, State, Transition};
/// use std::sync::{Arc, Mutex};
///
/// #[derive(Default)]
/// struct Lines(Mutex<Vec<String>>);
/// impl Listener for Lines {
///     fn on_transition(&self, t: &Transition) {
///         self.0.lock().unwrap().push(t.to_string());
///     }
/// }
///
/// let lines = Arc::new(Lines::default());
/// let breaker = CircuitBreaker::new("payments", Config::default()).with_listener(lines.clone());
/// breaker.force_open();
/// assert_eq!(lines.0.lock().unwrap()[0], "circuit breaker `payments`: closed -> forced_open (force_open)");
/// ```
impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker `{}`: {} -> {} ({})", self.name, self.from, self.to, self.reason)?;
        if let (State::Open, Some(after)) = (self.to, self.snapshot.retry_after) {
            write!(f, "; next probe in {:.3}s", after.as_secs_f64())?;
        }
        Ok(())
    }
}

/// One log line: ``circuit breaker `payments` (metrics only): failure rate 60.0% (threshold
/// 50.0%) would have opened it``.
impl fmt::Display for ThresholdExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker `{}` (metrics only): {} would have opened it", self.name, self.reason)
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    fn snapshot(state: State, retry_after: Option<Duration>) -> Snapshot {
        Snapshot {
            state,
            failure_rate: 0.6,
            slow_call_rate: 0.0,
            calls_in_window: 10,
            failed_calls: 6,
            slow_calls: 0,
            consecutive_failures: 5,
            permits_in_use: 0,
            retry_after,
        }
    }

    #[test]
    fn a_transition_is_one_readable_line() {
        let open = Transition {
            name: Name::from("payments"),
            from: State::Closed,
            to: State::Open,
            reason: Reason::ConsecutiveFailures { count: 5, threshold: 5 },
            snapshot: snapshot(State::Open, Some(Duration::from_secs(30))),
        };
        assert_eq!(
            open.to_string(),
            "circuit breaker `payments`: closed -> open (5 consecutive failures (threshold 5)); next probe in 30.000s"
        );
        let half_open = Transition {
            from: State::Open,
            to: State::HalfOpen,
            reason: Reason::WaitElapsed,
            snapshot: snapshot(State::HalfOpen, None),
            ..open
        };
        assert_eq!(half_open.to_string(), "circuit breaker `payments`: open -> half_open (wait_elapsed)");
    }

    #[test]
    fn a_threshold_crossing_is_one_readable_line() {
        let event = ThresholdExceeded {
            name: Name::from("payments"),
            reason: Reason::FailureRate { rate: 0.6, threshold: 0.5 },
            snapshot: snapshot(State::MetricsOnly, None),
        };
        assert_eq!(
            event.to_string(),
            "circuit breaker `payments` (metrics only): failure rate 60.0% (threshold 50.0%) would have opened it"
        );
    }
}
