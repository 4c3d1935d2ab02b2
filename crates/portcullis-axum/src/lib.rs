//! # portcullis-axum
//!
//! The axum integration of Portcullis:
//!
//! * [`OAuth`] extracts an axum request as the core's [`OAuthRequest`] (body read
//!   under the core's size limit), and [`into_response`] turns the core's
//!   [`OAuthResponse`] back into an axum response;
//! * [`token_endpoint`] / [`token_route`] are a ready token endpoint, and
//!   [`endpoint_route`] mounts a registered endpoint (revocation, introspection,
//!   metadata);
//! * [`Bearer`], [`ResourceGuard`] and [`require_bearer`] protect an API with bearer
//!   tokens (RFC 6750), validated locally, or — with the `remote-introspection`
//!   feature — at another Portcullis through its introspection endpoint (`remote`), or
//!   — with the `jwt-validation` feature — as JWT access tokens (RFC 9068) against the
//!   issuer's published keys (`jwt`);
//! * [`ProtectedResourceMetadata`] serves a resource's RFC 9728 metadata at its
//!   well-known location, and makes the guard name it in its challenges and check
//!   the token's audience (`resource_metadata`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use portcullis_axum::{token_route, Bearer};
//! use portcullis_core::{AuthorizationServer, ClientCredentialsGrant, MemoryStore, ResourceProtector};
//!
//! # async fn run() {
//! let mut server = AuthorizationServer::new(MemoryStore::new());
//! server.register_grant(ClientCredentialsGrant::new());
//! let server = Arc::new(server);
//! let protector: ResourceProtector = server.resource_protector();
//!
//! async fn me(Bearer(token): Bearer) -> String {
//!     format!("hello, {}", token.client_id)
//! }
//!
//! let app = Router::new()
//!     .route("/api/me", get(me))
//!     .with_state(protector)
//!     .route("/oauth/token", token_route(server));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

#[cfg(feature = "fetch")]
pub mod fetch;
mod guard;
#[cfg(feature = "jwt-validation")]
pub mod jwt;
#[cfg(feature = "remote-introspection")]
pub mod remote;
pub mod resource_metadata;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, MethodRouter};
use http::StatusCode;
use portcullis_core::http::MAX_BODY_BYTES;
use portcullis_core::{
    AuthorizationServer, ClientStore, OAuthError, OAuthRequest, OAuthResponse, TokenStore,
};

pub use guard::{require_bearer, Bearer, BearerRejection, ResourceGuard};
pub use resource_metadata::ProtectedResourceMetadata;

/// The core's view of an axum request: [`OAuthRequest`] with the whole body read.
///
/// A body over [`MAX_BODY_BYTES`] is refused with `413` and an `invalid_request` body.
#[derive(Debug)]
#[allow(clippy::exhaustive_structs)] // a newtype to destructure: `OAuth(request)`
pub struct OAuth(pub OAuthRequest);

impl<S: Send + Sync> FromRequest<S> for OAuth {
    type Rejection = Response;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        into_oauth_request(request).await.map(OAuth)
    }
}

/// Reads an axum request into the core's request type. A body over
/// [`MAX_BODY_BYTES`] is `413`; one *announced* over it by `Content-Length` is refused
/// before any of it is read, so a client that sent `Expect: 100-continue` is never
/// told to go on.
pub async fn into_oauth_request(request: Request) -> Result<OAuthRequest, Response> {
    if announces_too_large_body(request.headers()) {
        return Err(body_too_large());
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| body_too_large())?;
    Ok(http::Request::from_parts(parts, bytes))
}

/// `413` with an `invalid_request` body: the answer to a body over [`MAX_BODY_BYTES`].
pub fn body_too_large() -> Response {
    into_response(
        OAuthError::invalid_request("the request body is too large")
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
            .into_response(),
    )
}

/// True when a request's `Content-Length` announces more than [`MAX_BODY_BYTES`]:
/// check it before reading the body, and answer [`body_too_large`].
pub fn announces_too_large_body(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
}

/// Turns the core's response into an axum response.
pub fn into_response(response: OAuthResponse) -> Response {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body))
}

/// A ready token endpoint handler (RFC 6749 §3.2) for a server shared in an `Arc`.
/// Mount it for every method: the core answers anything but `POST` with `405`.
pub async fn token_endpoint<S: ClientStore + TokenStore>(
    State(server): State<Arc<AuthorizationServer<S>>>,
    OAuth(request): OAuth,
) -> Response {
    into_response(server.create_token_response(&request).await)
}

/// A route for the token endpoint, bound to `server`: `.route("/token", token_route(server))`.
pub fn token_route<S: ClientStore + TokenStore, St: Clone + Send + Sync + 'static>(
    server: Arc<AuthorizationServer<S>>,
) -> MethodRouter<St> {
    any(token_endpoint::<S>).with_state(server)
}

/// A ready handler for a registered endpoint (`revocation`, `introspection`,
/// `metadata`, or your own), for a server shared in an `Arc`.
pub async fn endpoint(
    server: Arc<AuthorizationServer<impl ClientStore>>,
    name: &str,
    request: OAuthRequest,
) -> Response {
    into_response(server.create_endpoint_response(name, &request).await)
}

/// A route for registered endpoint `name`, bound to `server`, answering every method
/// (the endpoint itself refuses the wrong ones):
/// `.route("/revoke", endpoint_route(server.clone(), "revocation"))`.
pub fn endpoint_route<S: ClientStore, St: Clone + Send + Sync + 'static>(
    server: Arc<AuthorizationServer<S>>,
    name: &'static str,
) -> MethodRouter<St> {
    any(move |OAuth(request): OAuth| {
        let server = server.clone();
        async move { endpoint(server, name, request).await }
    })
}

/// Lets handlers return a core response directly.
#[derive(Debug)]
#[allow(clippy::exhaustive_structs)] // a newtype: `CoreResponse(response)`
pub struct CoreResponse(pub OAuthResponse);

impl IntoResponse for CoreResponse {
    fn into_response(self) -> Response {
        into_response(self.0)
    }
}
