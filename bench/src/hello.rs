//! The `hello` ceiling: the smallest axum server that answers `POST /token` with a
//! fixed token response, as `portcullis serve` would, but without parsing, client
//! authentication, hashing or a database. Run as a separate process
//! (`portcullis-bench hello --bind ADDR`) so it competes for the CPU exactly like the
//! real server; what the load generator gets from it is the ceiling of the HTTP stack
//! on this machine, and every scenario is reported as a percentage of it.

use std::net::SocketAddr;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;

/// A token response of realistic size: a 43-character opaque token.
const TOKEN_RESPONSE: &str = "{\"access_token\":\"hello0hello0hello0hello0hello0hello0hello0hel\",\
     \"token_type\":\"Bearer\",\"expires_in\":3600}";

/// `POST /token`: reads the body (as a real token endpoint must) and answers.
async fn token(_body: Bytes) -> impl axum::response::IntoResponse {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "no-store"),
            (PRAGMA, "no-cache"),
        ],
        TOKEN_RESPONSE,
    )
}

/// Serves the hello endpoint on `bind` until killed.
pub(crate) fn serve(bind: SocketAddr) -> Result<(), String> {
    if !bind.ip().is_loopback() {
        return Err(format!("hello: {bind} is not a loopback address"));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("hello: cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| format!("hello: cannot listen on {bind}: {e}"))?;
        let app = Router::new().route("/token", post(token));
        axum::serve(listener, app)
            .await
            .map_err(|e| format!("hello: {e}"))
    })
}
