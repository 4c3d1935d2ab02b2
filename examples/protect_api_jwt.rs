//! How do I protect an API on another machine with JWT access tokens, checked locally?
//!
//! Run it with `cargo run --example protect_api_jwt`: an authorization server on
//! `127.0.0.1:5003` issues RFC 9068 JWT access tokens and publishes its keys at
//! `/jwks`; an API on `127.0.0.1:5004` validates each token by itself with
//! [`JwtValidator`] — the issuer's metadata and keys fetched once and cached, no call
//! to the authorization server per request:
//!
//! ```text
//! curl -s -u reporting:reporting-secret-change-me -d grant_type=client_credentials \
//!      -d scope=reports:read http://127.0.0.1:5003/token
//! curl -s -H "Authorization: Bearer ACCESS_TOKEN" http://127.0.0.1:5004/api/reports
//! ```
//!
//! The API accepts only tokens of that issuer, for its own audience, signed by a
//! published key, unexpired, with `typ: at+jwt`; `/api/reports` also needs the scope
//! `reports:read`. When the authorization server rotates its key, the API fetches the
//! new one the first time it meets its `kid`.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use portcullis_axum::jwt::JwtValidator;
use portcullis_axum::{endpoint_route, require_bearer, token_route, Bearer, ResourceGuard};
use portcullis_core::jose::{
    self, Algorithm, JwkSet, JwtAccessTokens, KeySet, Signer, SigningKeys,
};
use portcullis_core::{
    hash_secret, AuthorizationServer, BearerTokenGenerator, ClientCredentialsGrant, ClientRecord,
    JwkSetSource, JwksEndpoint, MemoryStore, MetadataEndpoint, OAuthError, PublishedJwks,
    ResourceProtector, Scope, StoreError,
};

/// The audience of the API: tokens must name it in `aud`.
pub const API_AUDIENCE: &str = "https://reports.example";
/// The secret of the clients below.
pub const SECRET: &str = "reporting-secret-change-me";

/// The authorization server's signing keys, in memory: the newest signs, all are
/// published. (`portcullis serve` keeps them in its database instead.)
#[derive(Debug, Default)]
pub struct Keys {
    signers: RwLock<Vec<Arc<Signer>>>,
}

impl Keys {
    /// Keys with one new ES256 key.
    pub fn new() -> Result<Arc<Keys>, jose::JoseError> {
        let keys = Arc::new(Keys::default());
        keys.rotate()?;
        Ok(keys)
    }

    /// Adds a new key, which signs from now on; the old ones stay published.
    pub fn rotate(&self) -> Result<(), jose::JoseError> {
        let signer = Signer::generate(&jose::aws_lc_rs::provider(), Algorithm::Es256)?;
        if let Ok(mut signers) = self.signers.write() {
            signers.push(Arc::new(signer));
        }
        Ok(())
    }

    fn set(&self) -> JwkSet {
        let signers = self.signers.read().map(|s| s.clone()).unwrap_or_default();
        JwkSet::new(signers.iter().map(|s| s.public_jwk()).collect())
    }
}

impl SigningKeys for Keys {
    fn signer(&self, _now: i64) -> Option<Arc<Signer>> {
        self.signers.read().ok()?.last().cloned()
    }

    fn verification_keys(&self) -> Option<Arc<KeySet>> {
        let provider = jose::aws_lc_rs::provider();
        Some(Arc::new(KeySet::from_jwk_set(
            &provider,
            &self.set(),
            &[Algorithm::Es256],
        )))
    }
}

#[async_trait]
impl JwkSetSource for Keys {
    async fn published(&self) -> Result<PublishedJwks, OAuthError> {
        let body = serde_json::to_vec(&self.set()).map_err(|_| OAuthError::server_error())?;
        let etag = format!(
            "\"{}\"",
            body.len() + self.signers.read().map_or(0, |s| s.len())
        );
        Ok(PublishedJwks::new(Bytes::from(body), etag, 300))
    }
}

/// The authorization server at `issuer`: clients `reporting` (for this API) and
/// `billing` (for another one), both with JWT access tokens.
pub fn authorization_server(
    issuer: &str,
    keys: Arc<Keys>,
) -> Result<AuthorizationServer<MemoryStore>, StoreError> {
    let store = MemoryStore::new();
    for (client_id, audience) in [
        ("reporting", API_AUDIENCE),
        ("billing", "https://billing.example"),
    ] {
        store.insert_client(
            ClientRecord::new(client_id)
                .with_secret_hash(hash_secret(SECRET))
                .with_scope(
                    Scope::parse("reports:read").map_err(|e| StoreError::new(e.description()))?,
                )
                .with_grant_types(["client_credentials"])
                .with_audience([audience]),
        )?;
    }
    let mut server = AuthorizationServer::new(store)
        .with_issuer(issuer)
        .with_bearer_tokens(
            BearerTokenGenerator::default().with_strategy(JwtAccessTokens::new(keys.clone())),
        );
    server
        .register_grant(ClientCredentialsGrant::new())
        .register_endpoint(JwksEndpoint::new(keys))
        .register_endpoint(MetadataEndpoint::new());
    Ok(server)
}

/// The authorization server's routes: `/token`, `/jwks` and its metadata.
pub fn authorization_app(server: AuthorizationServer<MemoryStore>) -> Router {
    let server = Arc::new(server);
    Router::new()
        .route("/token", token_route(server.clone()))
        .route("/jwks", endpoint_route(server.clone(), "jwks"))
        .route(
            "/.well-known/oauth-authorization-server",
            endpoint_route(server, "metadata"),
        )
}

/// The API, validating tokens of `issuer` locally with `validator`.
pub fn api(validator: JwtValidator) -> Router {
    let protector = ResourceProtector::new(Arc::new(validator));
    let readers = ResourceGuard::new(protector.clone()).require_scope("reports:read");
    Router::new()
        .route("/api/reports", get(list_reports))
        .route_layer(from_fn_with_state(readers, require_bearer))
        .with_state(protector)
}

/// `GET /api/reports`.
async fn list_reports(Bearer(token): Bearer) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "reports": ["q1", "q2"], "client_id": token.client_id }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let as_addr: SocketAddr = "127.0.0.1:5003".parse()?;
    let api_addr: SocketAddr = "127.0.0.1:5004".parse()?;
    let issuer = format!("http://{as_addr}");
    let keys = Keys::new()?;
    let as_listener = tokio::net::TcpListener::bind(as_addr).await?;
    let api_listener = tokio::net::TcpListener::bind(api_addr).await?;
    let authorization = authorization_app(authorization_server(&issuer, keys)?);
    tokio::spawn(async move { axum::serve(as_listener, authorization).await });
    println!("Authorization server at {issuer} (clients reporting, billing / {SECRET})");
    println!("API at http://{api_addr}/api/reports");
    axum::serve(api_listener, api(JwtValidator::new(issuer, [API_AUDIENCE]))).await?;
    Ok(())
}
