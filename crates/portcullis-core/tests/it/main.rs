//! End-to-end tests of `AuthorizationServer`: `http::Request<Bytes>` in, `http::Response`
//! out, over `MemoryStore`, a `ManualClock` and the OS CSPRNG.
#![allow(clippy::unwrap_used)]
// The helpers outside #[test] functions may expect too: a panic is how a test fails.
#![allow(clippy::expect_used)]
// A test is a composition root: it may use the OS CSPRNG directly.
#![allow(clippy::disallowed_types)]

mod support;

mod authorization_code;
mod authorize_errors;
mod client_auth;
mod client_credentials;
mod form_post;
mod implicit;
mod introspection;
mod issuer;
mod jose;
mod jwks;
mod jwt_access_tokens;
mod memory_concurrency;
mod metadata;
mod openid;
mod password;
mod pending;
mod pkce;
mod properties;
mod redirect_uri;
mod refresh_token;
mod resource;
mod resource_indicators;
mod revocation;
mod token_endpoint_errors;
