//! `POST /circuit-breakers/{name}/state`: manual control behind the admin token.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use breaker_runtime::ManualOp;
use serde::{Deserialize, Serialize};

use crate::error::AdminError;
use crate::time::rfc3339;
use crate::Admin;

/// The route, named as the origin of the changes it makes.
pub(crate) const ORIGIN: &str = "POST /circuit-breakers/{name}/state";

/// The states an operator may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum Wanted {
    ForcedOpen,
    Closed,
    Disabled,
    MetricsOnly,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetState {
    state: Wanted,
}

/// A manual change, as the event stream reports it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ManualChange {
    pub(crate) name: String,
    pub(crate) from: &'static str,
    pub(crate) to: &'static str,
    pub(crate) origin: &'static str,
    pub(crate) at: String,
}

/// The answer to a successful change.
#[derive(Debug, Serialize)]
pub(crate) struct Changed {
    name: String,
    from: &'static str,
    state: &'static str,
    origin: &'static str,
}

/// Checks the bearer token, then the breaker, then the body; applies the state, logs it and
/// announces it on the event stream.
pub(crate) async fn set_state(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Changed>, AdminError> {
    authorize(admin.options.token(), &headers)?;
    let breaker = admin.registry.get(&name).ok_or_else(|| AdminError::UnknownBreaker(name.clone()))?;
    let wanted: SetState = serde_json::from_slice(&body).map_err(|e| AdminError::BadBody(e.to_string()))?;
    let from = breaker.state();
    let op = match wanted.state {
        Wanted::ForcedOpen => ManualOp::ForceOpen,
        Wanted::Closed => ManualOp::Reset,
        Wanted::Disabled => ManualOp::Disable,
        Wanted::MetricsOnly => ManualOp::MetricsOnly,
    };
    // Through the registry, so `on_event` callbacks and subscribers hear the origin too.
    admin.registry.manual_change(breaker.name(), op, ORIGIN);
    let to = breaker.state();
    tracing::info!(
        breaker = %name,
        from_state = from.as_str(),
        to_state = to.as_str(),
        origin = ORIGIN,
        "circuit breaker state set manually through the admin route"
    );
    let change = ManualChange {
        name: name.clone(),
        from: from.as_str(),
        to: to.as_str(),
        origin: ORIGIN,
        at: rfc3339(SystemTime::now()),
    };
    let _ = admin.manual.send(change); // no stream listening is fine
    Ok(Json(Changed { name, from: from.as_str(), state: to.as_str(), origin: ORIGIN }))
}

/// 401 without a bearer token, 403 with a wrong one.
fn authorize(expected: Option<&str>, headers: &HeaderMap) -> Result<(), AdminError> {
    let Some(expected) = expected else { return Err(AdminError::WrongToken) }; // the route is absent then
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AdminError::MissingToken)?;
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(AdminError::WrongToken)
    }
}

/// Compares in time that depends only on the length of `given` (which its sender knows),
/// never on where the first difference is nor on the expected token's content or length.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    if expected.is_empty() {
        return false;
    }
    let mut diff = u8::from(given.len() != expected.len());
    for (i, g) in given.iter().enumerate() {
        diff |= g ^ expected[i % expected.len()];
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_whole_tokens() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secreT", b"secret"));
        assert!(!constant_time_eq(b"secretsecret", b"secret"), "a repetition is not the token");
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
        assert!(!constant_time_eq(b"", b""));
    }
}
