//! How do I protect my API with bearer tokens, checking their scope and audience?
//!
//! Run it with `cargo run --example protect_api` (it listens on `127.0.0.1:5002`, or on
//! `EXAMPLE_ADDR`), get a token and call the API:
//!
//! ```text
//! curl -s -u reporting:reporting-secret-change-me -d grant_type=client_credentials \
//!      -d scope=reports:read http://127.0.0.1:5002/oauth/token
//! curl -s -H "Authorization: Bearer ACCESS_TOKEN" http://127.0.0.1:5002/api/reports
//! ```
//!
//! The resource guard of `portcullis-axum` comes in two forms, both shown here:
//!
//! * the [`require_bearer`] middleware with a [`ResourceGuard`] protects a group of
//!   routes and checks the scope they require (`/api/reports` needs `reports:read`);
//! * the [`Bearer`] extractor validates the token of one handler, which checks the
//!   scope itself with [`Bearer::require_scope`] (`/api/reports/archive` needs
//!   `reports:write`).
//!
//! Failures are RFC 6750 §3 answers: `401` without a token (a bare challenge) or with
//! an invalid one (`invalid_token`), `403 insufficient_scope` when the scope is
//! missing. The audience (`aud`, from the client's registration) is checked in the
//! handler: a token meant for another API is `401 invalid_token` here, even with the
//! right scope.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_axum::{into_response, require_bearer, token_route, Bearer, ResourceGuard};
use portcullis_core::{
    hash_secret, AuthorizationServer, BearerError, ClientCredentialsGrant, ClientRecord,
    MemoryStore, ResourceProtector, Scope, StoreError, TokenInfo,
};

/// The audience this API answers to: tokens must carry it in `aud`.
pub const API_AUDIENCE: &str = "https://reports.example";
/// The secret of every client below (only its hash is stored).
pub const SECRET: &str = "reporting-secret-change-me";

/// The authorization server, with three clients: `reporting` (`reports:read`) and
/// `archiver` (`reports:read reports:write`), whose tokens are for this API, and
/// `billing`, whose tokens are for another API although it may ask for `reports:read`.
pub fn authorization_server() -> Result<AuthorizationServer<MemoryStore>, StoreError> {
    let store = MemoryStore::new();
    for (client_id, scope, audience) in [
        ("reporting", "reports:read", API_AUDIENCE),
        ("archiver", "reports:read reports:write", API_AUDIENCE),
        ("billing", "reports:read", "https://billing.example"),
    ] {
        store.insert_client(
            ClientRecord::new(client_id)
                .with_secret_hash(hash_secret(SECRET))
                .with_scope(Scope::from_tokens(scope.split(' ')))
                .with_grant_types(["client_credentials"])
                .with_audience([audience]),
        )?;
    }
    let mut server = AuthorizationServer::new(store);
    server.register_grant(ClientCredentialsGrant::new());
    Ok(server)
}

/// The application: the token endpoint and the protected API.
pub fn app(server: AuthorizationServer<MemoryStore>) -> Router {
    let protector: ResourceProtector = server.resource_protector();
    let readers = ResourceGuard::new(protector.clone()).require_scope("reports:read");
    Router::new()
        // Every route above the layer needs a valid token with `reports:read`.
        .route("/api/reports", get(list_reports))
        .route_layer(from_fn_with_state(readers, require_bearer))
        // This one validates the token in its handler, through the `Bearer` extractor.
        .route("/api/reports/archive", post(archive_reports))
        .with_state(protector)
        .route("/oauth/token", token_route(Arc::new(server)))
}

/// True when the token is meant for this API (RFC 9068 §4: otherwise it is refused).
fn is_for_this_api(token: &TokenInfo) -> bool {
    token.audience.iter().any(|aud| aud == API_AUDIENCE)
}

/// `401 invalid_token`, with the RFC 6750 challenge.
fn invalid_token() -> Response {
    into_response(BearerError::InvalidToken.into_response("portcullis"))
}

/// `GET /api/reports`: the middleware checked the token and its scope already; the
/// extractor hands over what it found.
async fn list_reports(Bearer(token): Bearer) -> Response {
    if !is_for_this_api(&token) {
        return invalid_token();
    }
    Json(serde_json::json!({ "reports": ["q1", "q2"], "client_id": token.client_id }))
        .into_response()
}

/// `POST /api/reports/archive`: validates the token here, then requires `reports:write`.
async fn archive_reports(token: Bearer) -> Response {
    if let Err(refused) = token.require_scope("reports:write") {
        return refused.into_response();
    }
    if !is_for_this_api(&token.0) {
        return invalid_token();
    }
    Json(serde_json::json!({ "archived": 2 })).into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::var("EXAMPLE_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:5002".into())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("Listening on http://{addr}: clients reporting, archiver, billing / {SECRET}");
    axum::serve(listener, app(authorization_server()?)).await?;
    Ok(())
}
