//! The admin surface's errors, each a status code and a JSON body.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// Why an admin request was refused. The response is the status code and
/// `{"error": "<code>", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// 401 `missing_token`: no `Authorization: Bearer` header.
    MissingToken,
    /// 403 `wrong_token`: a bearer token that does not match.
    WrongToken,
    /// 404 `unknown_breaker`: no breaker by that name.
    UnknownBreaker(String),
    /// 400 `bad_body`: the body is not `{"state": ...}` with a known state.
    BadBody(String),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    message: &'a str,
}

impl AdminError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::MissingToken => StatusCode::UNAUTHORIZED,
            AdminError::WrongToken => StatusCode::FORBIDDEN,
            AdminError::UnknownBreaker(_) => StatusCode::NOT_FOUND,
            AdminError::BadBody(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The `error` code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::MissingToken => "missing_token",
            AdminError::WrongToken => "wrong_token",
            AdminError::UnknownBreaker(_) => "unknown_breaker",
            AdminError::BadBody(_) => "bad_body",
        }
    }

    fn message(&self) -> String {
        match self {
            AdminError::MissingToken => "send the admin token as `Authorization: Bearer <token>`".to_owned(),
            AdminError::WrongToken => "the bearer token does not match the admin token".to_owned(),
            AdminError::UnknownBreaker(name) => format!("no circuit breaker named `{name}`"),
            AdminError::BadBody(why) => format!(
                "expected a JSON body {{\"state\": \"forced_open\" | \"closed\" | \"disabled\" | \"metrics_only\"}}: {why}"
            ),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let message = self.message();
        let mut response = (self.status(), Json(Body { error: self.code(), message: &message })).into_response();
        if self == AdminError::MissingToken {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
