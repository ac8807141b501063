//! An HTTP admin surface for `breaker` circuit breakers, as one axum [`Router`].
//!
//! [`router`] builds the routes from a [`Registry`] and [`AdminOptions`]; the service merges
//! them into its own router and owns the listener (this crate never binds a socket):
//!
//! | route | what |
//! |---|---|
//! | `GET /health/circuit-breakers` | the [`HealthReport`](breaker_runtime::HealthReport) as JSON; 200 when ready, 503 when not, under the configured [`Readiness`] rule |
//! | `GET /circuit-breakers` | every breaker as JSON: state, since when, rates, window counts, `retry_after`, effective configuration |
//! | `GET /circuit-breakers/events` | Server-Sent Events: transitions, manual changes, rejections counted per second, rates each second |
//! | `GET /circuit-breakers/dashboard` | a live page, self-contained, fed by the event stream |
//! | `POST /circuit-breakers/{name}/state` | manual control, only when an admin token is configured |
//!
//! Each read route can be turned off ([`AdminOptions::health`], [`list`](AdminOptions::list),
//! [`events`](AdminOptions::events), [`dashboard`](AdminOptions::dashboard)). Without an
//! [`admin_token`](AdminOptions::admin_token) the control route does not exist (404).
//!
//! # Readiness versus reporting
//!
//! The health body always *reports* every breaker and an overall `status` (healthy, degraded,
//! critical). The HTTP status answers a different question, *readiness*: should traffic stop
//! coming to this instance? By default ([`Readiness::CriticalWithoutFallback`]) only a breaker
//! marked critical that is open with no fallback answering its calls makes it 503; an open
//! breaker whose fallback serves every call, or one not marked critical, does not.
//!
//! # Example
//!
//! ```
//! use axum::Router;
//! use breaker_admin::AdminOptions;
//! use breaker_runtime::Registry;
//!
//! let registry = Registry::new();
//! let app: Router = Router::new()
//!     // .route("/", ...) your own routes
//!     .merge(breaker_admin::router(registry.clone(), AdminOptions::new().admin_token("change-me")));
//! // let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // axum::serve(listener, app).await?;
//! # drop(app);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms, unreachable_pub)]

mod control;
mod dashboard;
mod error;
mod events;
mod health;
mod list;
mod options;
mod time;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use breaker_runtime::Registry;
use tokio::sync::broadcast;

pub use breaker_runtime::Readiness;
pub use error::AdminError;
pub use list::{BreakerView, ConfigView};
pub use options::AdminOptions;

/// The path of the health report.
pub const HEALTH_PATH: &str = "/health/circuit-breakers";
/// The path of the JSON list of breakers.
pub const LIST_PATH: &str = "/circuit-breakers";
/// The path of the event stream.
pub const EVENTS_PATH: &str = "/circuit-breakers/events";
/// The path of the dashboard.
pub const DASHBOARD_PATH: &str = "/circuit-breakers/dashboard";
/// The path of manual control, with `{name}` the breaker's name.
pub const CONTROL_PATH: &str = "/circuit-breakers/{name}/state";

/// What every handler shares.
#[derive(Debug)]
struct Admin {
    registry: Registry,
    options: AdminOptions,
    /// Manual changes made through the control route, for the event stream.
    manual: broadcast::Sender<control::ManualChange>,
}

/// Builds the admin routes for `registry` as configured by `options`.
///
/// Merge the result into the service's router; nothing is bound or spawned here. The routes
/// are listed in the [crate documentation](crate).
///
/// ```
/// use breaker_admin::{AdminOptions, Readiness};
///
/// let registry = breaker_runtime::Registry::new();
/// let options = AdminOptions::new().dashboard(false).readiness(Readiness::CriticalOpen);
/// let admin: axum::Router = breaker_admin::router(registry, options);
/// # drop(admin);
/// ```
pub fn router(registry: Registry, options: AdminOptions) -> Router {
    let control_on = options.has_token();
    let (health_on, list_on, events_on, dashboard_on) =
        (options.health_on(), options.list_on(), options.events_on(), options.dashboard_on());
    let admin = Arc::new(Admin { registry, options, manual: broadcast::channel(256).0 });
    let mut router = Router::new();
    if health_on {
        router = router.route(HEALTH_PATH, get(health::health));
    }
    if list_on {
        router = router.route(LIST_PATH, get(list::list));
    }
    if events_on {
        router = router.route(EVENTS_PATH, get(events::events));
    }
    if dashboard_on {
        router = router.route(DASHBOARD_PATH, get(dashboard::dashboard));
    }
    if control_on {
        router = router.route(CONTROL_PATH, post(control::set_state));
    }
    router.with_state(admin)
}
