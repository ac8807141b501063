//! What the admin surface serves, and how it decides readiness.

use std::fmt;
use std::time::Duration;

use breaker_runtime::Readiness;

/// The options of [`router`](crate::router): the admin token, which read routes are on, the
/// readiness rule.
///
/// [`AdminOptions::new`] (also the `Default`) turns every read route on, configures no token
/// (so no control route) and uses [`Readiness::default`].
///
/// ```
/// use breaker_admin::{AdminOptions, Readiness};
///
/// let options = AdminOptions::new()
///     .admin_token(std::env::var("BREAKER_ADMIN_TOKEN").unwrap_or_default())
///     .events(false)
///     .readiness(Readiness::OpenShare(0.5));
/// assert!(!format!("{options:?}").contains("BREAKER"), "the token never shows in Debug");
/// ```
#[derive(Clone)]
pub struct AdminOptions {
    token: Option<String>,
    health: bool,
    list: bool,
    events: bool,
    dashboard: bool,
    readiness: Readiness,
    tick: Duration,
}

impl fmt::Debug for AdminOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("health", &self.health)
            .field("list", &self.list)
            .field("events", &self.events)
            .field("dashboard", &self.dashboard)
            .field("readiness", &self.readiness)
            .finish()
    }
}

impl Default for AdminOptions {
    fn default() -> Self {
        AdminOptions {
            token: None,
            health: true,
            list: true,
            events: true,
            dashboard: true,
            readiness: Readiness::default(),
            tick: Duration::from_secs(1),
        }
    }
}

impl AdminOptions {
    /// Every read route on, no token, the default readiness rule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enables `POST /circuit-breakers/{name}/state`, guarded by `Authorization: Bearer
    /// <token>`. An empty token is treated as none (the route stays absent).
    #[must_use]
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.token = (!token.is_empty()).then_some(token);
        self
    }

    /// Serves `GET /health/circuit-breakers` (default on).
    #[must_use]
    pub fn health(mut self, on: bool) -> Self {
        self.health = on;
        self
    }

    /// Serves `GET /circuit-breakers` (default on).
    #[must_use]
    pub fn list(mut self, on: bool) -> Self {
        self.list = on;
        self
    }

    /// Serves `GET /circuit-breakers/events` (default on).
    #[must_use]
    pub fn events(mut self, on: bool) -> Self {
        self.events = on;
        self
    }

    /// Serves `GET /circuit-breakers/dashboard` (default on). The page needs the event stream.
    #[must_use]
    pub fn dashboard(mut self, on: bool) -> Self {
        self.dashboard = on;
        self
    }

    /// The rule that makes the health route answer 503; see [`Readiness`].
    #[must_use]
    pub fn readiness(mut self, rule: Readiness) -> Self {
        self.readiness = rule;
        self
    }

    /// How often the event stream sends rejection counts and rates (default one second; at
    /// least 50 ms).
    #[must_use]
    pub fn tick(mut self, every: Duration) -> Self {
        self.tick = every.max(Duration::from_millis(50));
        self
    }

    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
    pub(crate) fn health_on(&self) -> bool {
        self.health
    }
    pub(crate) fn list_on(&self) -> bool {
        self.list
    }
    pub(crate) fn events_on(&self) -> bool {
        self.events
    }
    pub(crate) fn dashboard_on(&self) -> bool {
        self.dashboard
    }
    pub(crate) fn readiness_rule(&self) -> Readiness {
        self.readiness
    }
    pub(crate) fn tick_every(&self) -> Duration {
        self.tick
    }
}
