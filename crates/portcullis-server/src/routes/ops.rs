//! Operations: `/healthz` (the database answers), `/version`, the pages' stylesheet
//! and logo, and an empty favicon.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header;
use http::StatusCode;

use crate::state::AppState;

/// `/healthz`, `/version`, `/static/portcullis.css`, `/static/logo`, `/favicon.ico`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/version", get(version))
        .route("/static/portcullis.css", get(stylesheet))
        .route(crate::templates::LOGO_PATH, get(logo))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

/// `200 {"status":"ok"}` when the database answers a query, `503` otherwise.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "database unavailable"})),
            )
                .into_response()
        }
    }
}

/// `{"name": "portcullis", "version": "0.1.0"}`: what is running.
async fn version() -> Response {
    axum::Json(serde_json::json!({
        "name": "portcullis",
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

async fn stylesheet(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        state.templates().css().to_owned(),
    )
        .into_response()
}

/// The policy of the logo: an SVG opened on its own runs no script and loads nothing.
const LOGO_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// The configured logo (`logo`), or 404 when there is none.
async fn logo(State(state): State<AppState>) -> Response {
    match state.templates().logo() {
        Some(logo) => (
            [
                (header::CONTENT_TYPE, logo.content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
                (header::CONTENT_SECURITY_POLICY, LOGO_POLICY),
            ],
            logo.bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
