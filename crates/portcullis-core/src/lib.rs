//! # portcullis-core
//!
//! The framework-agnostic OAuth 2.0 engine of Portcullis: grants (RFC 6749), PKCE
//! (RFC 7636), bearer tokens (RFC 6750) and client authentication, speaking
//! `http::Request` / `http::Response`. No web framework, no database, no runtime.
//!
//! How the pieces fit:
//!
//! 1. Your models implement [`Client`], [`Token`], [`AuthorizationCode`] and [`User`]
//!    (or use the ready [`ClientRecord`], [`TokenRecord`], [`AuthorizationCodeRecord`]).
//! 2. Your storage implements the narrow traits of [`store`] that your grants need
//!    (or use [`MemoryStore`]).
//! 3. An [`AuthorizationServer`] over that storage gets the grants you want with
//!    [`register_grant`](AuthorizationServer::register_grant).
//! 4. Your handlers call [`get_consent_grant`](AuthorizationServer::get_consent_grant),
//!    [`create_authorization_response`](AuthorizationServer::create_authorization_response)
//!    and [`create_token_response`](AuthorizationServer::create_token_response).
//! 5. Register the endpoints you want: [`RevocationEndpoint`] (RFC 7009),
//!    [`IntrospectionEndpoint`] (RFC 7662), [`MetadataEndpoint`] (RFC 8414), and answer
//!    them with [`create_endpoint_response`](AuthorizationServer::create_endpoint_response).
//! 6. Your API validates bearer tokens with a [`ResourceProtector`].
//!
//! ```
//! use bytes::Bytes;
//! use portcullis_core::{
//!     hash_secret, AuthorizationServer, ClientCredentialsGrant, ClientRecord, MemoryStore, Scope,
//! };
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! store.insert_client(
//!     ClientRecord::new("reporting")
//!         .with_secret_hash(hash_secret("s3cret-from-the-vault"))
//!         .with_name("Reporting job")
//!         .with_scope(Scope::parse("reports:read").unwrap())
//!         .with_grant_types(["client_credentials"])
//!         .with_auth_method("client_secret_post"),
//! ).unwrap();
//!
//! let mut server = AuthorizationServer::new(store);
//! server.register_grant(ClientCredentialsGrant::new());
//!
//! let request = http::Request::post("/token")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(Bytes::from_static(
//!         b"grant_type=client_credentials&scope=reports:read\
//!           &client_id=reporting&client_secret=s3cret-from-the-vault",
//!     ))
//!     .unwrap();
//! let response = server.create_token_response(&request).await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["cache-control"], "no-store");
//!
//! let token: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
//! let access_token = token["access_token"].as_str().unwrap();
//! let info = server
//!     .resource_protector()
//!     .validate_token(access_token, &Scope::parse("reports:read").unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(info.client_id, "reporting");
//! # });
//! ```

#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub mod authorization;
pub mod claims;
pub mod client_auth;
pub mod clock;
pub mod context;
pub mod endpoints;
pub mod error;
pub mod extensions;
pub mod grants;
pub mod http;
pub mod jose;
pub mod memory;
pub mod model;
pub mod random;
pub mod redirect_uri;
pub mod resource;
pub mod response;
pub mod response_mode;
pub mod response_type;
pub mod scope;
pub mod secret;
pub mod server;
pub mod store;
pub mod subject;
pub mod tokens;

pub use authorization::{
    AuthorizationRequest, ConsentGrant, NextStep, PendingAuthorization, SignedIn,
};
pub use client_auth::{
    ClientAuthentication, ClientAuthenticator, ClientSecretJwt, ClientSecretSource, JwksFetcher,
    JwtClientAuthConfig, PrivateKeyJwt,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use context::{AuthorizationContext, EndpointContext, Environment, TokenContext};
pub use endpoints::{
    Endpoint, IntrospectionEndpoint, JwkSetSource, JwksEndpoint, MetadataEndpoint, PublishedJwks,
    RevocationEndpoint, UserInfoEndpoint, UsernameResolver, INTROSPECTION_JWT, JWKS_ENDPOINT,
    USERINFO_ENDPOINT,
};
pub use error::{ErrorCode, OAuthError, StoreError, StoreErrorKind};
pub use extensions::{
    AuthorizationCodeExtension, OpenIdConnect, Pkce, ResourceIndicators, TokenExtension,
};
pub use grants::{
    AuthorizationCodeGrant, ClientCredentialsGrant, Grant, HybridGrant, ImplicitGrant,
    OpenIdImplicitAndHybrid, PasswordGrant, RefreshTokenGrant,
};
pub use http::{OAuthRequest, OAuthResponse, Params};
pub use memory::MemoryStore;
pub use model::{
    AuthMethod, AuthorizationCode, AuthorizationCodeRecord, Client, ClientMetadata, ClientRecord,
    EndpointName, Extra, Extras, Token, TokenRecord, User, SEALED_CLIENT_SECRET,
    STRICT_AUTH_METHOD,
};
// Re-exported for composition roots (a `main`, tests, benches); libraries take a
// `RandomSource` instead.
#[allow(clippy::disallowed_types)]
pub use random::OsRandom;
pub use random::RandomSource;
pub use resource::{BearerError, ResourceProtector, TokenInfo, TokenValidator};
pub use response_mode::ResponseMode;
pub use scope::Scope;
pub use secret::{hash_secret, token_key, verify_secret};
pub use server::AuthorizationServer;
pub use store::{
    AssertionReplayStore, AuthorizationCodeStore, AuthorizationRequestStore, ClientStore,
    CodeRedemption, ResourceServerStore, TokenStore, UserStore,
};
pub use tokens::{AccessTokenStrategy, BearerTokenGenerator, Issuance, TokenResponse};
