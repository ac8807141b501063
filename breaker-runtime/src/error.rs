//! The errors a protected call can end with.

use std::fmt;
use std::time::Duration;

use breaker_core::{Name, Rejected};

/// A protected call ran longer than its timeout and was dropped. Recorded as a failure.
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use breaker_runtime::{CallError, Policy, Registry};
///
/// let registry = Registry::new();
/// let breaker = registry.breaker("slow-service");
/// let policy = Policy::new().timeout(Duration::from_secs(10));
/// let result = breaker
///     .call_with(&policy, async {
///         tokio::time::sleep(Duration::from_secs(60)).await;
///         Ok::<_, std::io::Error>(())
///     })
///     .await;
/// let Err(CallError::Timeout(timeout)) = result else { panic!() };
/// assert_eq!(timeout.to_string(), "call through circuit breaker `slow-service` timed out after 10.000s");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut {
    pub(crate) name: Name,
    pub(crate) after: Duration,
}

impl TimedOut {
    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The timeout that was exceeded.
    pub fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call through circuit breaker `{}` timed out after {:.3}s", self.name, self.after.as_secs_f64())
    }
}

impl std::error::Error for TimedOut {}

/// How a protected call failed: rejected by the breaker, timed out, or failed with the
/// call's own error.
///
/// Converts into your error type with `?` when it implements `From<CallError<E>>`, or match on
/// it. With thiserror:
///
/// ```
/// use breaker_runtime::{CallError, Rejected, TimedOut};
///
/// #[derive(Debug, thiserror::Error)]
/// enum ClientError {
///     #[error("http: {0}")]
///     Http(String),
///     #[error(transparent)]
///     Rejected(#[from] Rejected),
///     #[error(transparent)]
///     TimedOut(#[from] TimedOut),
/// }
///
/// impl From<CallError<ClientError>> for ClientError {
///     fn from(e: CallError<ClientError>) -> Self {
///         e.into_error()
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The breaker did not admit the call.
    Rejected(Rejected),
    /// The call exceeded its timeout.
    Timeout(TimedOut),
    /// The call ran and returned this error.
    Failed(E),
}

impl<E> CallError<E> {
    /// True when the breaker rejected the call.
    pub fn is_rejected(&self) -> bool {
        matches!(self, CallError::Rejected(_))
    }
    /// True when the call timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, CallError::Timeout(_))
    }
    /// The call's own error, if it ran and failed.
    pub fn into_failed(self) -> Option<E> {
        match self {
            CallError::Failed(e) => Some(e),
            _ => None,
        }
    }
    /// A short label for metrics and logs: `rejected`, `timeout` or `failure`.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Rejected(_) => "rejected",
            CallError::Timeout(_) => "timeout",
            CallError::Failed(_) => "failure",
        }
    }
    /// Applies `f` to the call's own error.
    pub fn map<F, G: FnOnce(E) -> F>(self, f: G) -> CallError<F> {
        match self {
            CallError::Rejected(r) => CallError::Rejected(r),
            CallError::Timeout(t) => CallError::Timeout(t),
            CallError::Failed(e) => CallError::Failed(f(e)),
        }
    }
    /// Folds the rejection and timeout into `E`.
    pub fn into_error(self) -> E
    where
        E: From<Rejected> + From<TimedOut>,
    {
        match self {
            CallError::Rejected(r) => E::from(r),
            CallError::Timeout(t) => E::from(t),
            CallError::Failed(e) => e,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(r) => fmt::Display::fmt(r, f),
            CallError::Timeout(t) => fmt::Display::fmt(t, f),
            CallError::Failed(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// Transparent, like thiserror's `#[error(transparent)]`: the message is the inner error's and
/// so is the source. Returning the inner error itself as the source would print every message
/// twice in a reported chain ("connection reset: connection reset").
impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Rejected(r) => std::error::Error::source(r),
            CallError::Timeout(t) => std::error::Error::source(t),
            CallError::Failed(e) => e.source(),
        }
    }
}

impl<E> From<Rejected> for CallError<E> {
    fn from(r: Rejected) -> Self {
        CallError::Rejected(r)
    }
}

impl<E> From<TimedOut> for CallError<E> {
    fn from(t: TimedOut) -> Self {
        CallError::Timeout(t)
    }
}
