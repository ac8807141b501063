//! `GET /circuit-breakers/dashboard`: one self-contained page, fed by the event stream.

use axum::http::header;
use axum::response::IntoResponse;

/// The page: inline CSS and JavaScript, no external asset.
const PAGE: &str = include_str!("dashboard.html");

/// Serves the page.
pub(crate) async fn dashboard() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
            ),
        ],
        PAGE,
    )
}
