//! `GET /health/circuit-breakers`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::Admin;

/// The health report, judged by the configured readiness rule: 200 when ready, 503 when not.
pub(crate) async fn health(State(admin): State<Arc<Admin>>) -> Response {
    let report = admin.registry.health().with_readiness(admin.options.readiness_rule());
    let status = if report.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(report)).into_response()
}
