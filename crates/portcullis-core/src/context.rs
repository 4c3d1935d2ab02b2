//! What grants, endpoints, extensions and client authenticators are handed: one
//! context value per request, instead of the whole [`AuthorizationServer`].
//!
//! [`Environment`] is what the server is configured with — clock, randomness, issuer,
//! token generator, endpoint paths. [`TokenContext`] adds one token request: the HTTP
//! request with its headers, its parameters, the authenticated client and the store.
//! [`EndpointContext`] is the same for the other endpoints (revocation,
//! introspection, metadata), with the client authentication they need.
//!
//! Grants and endpoints depend on this module, and the server on them: none of them
//! depends on the server.
//!
//! [`AuthorizationServer`]: crate::AuthorizationServer

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::client_auth::ClientAuthentication;
use crate::clock::Clock;
use crate::error::OAuthError;
use crate::http::{OAuthRequest, Params};
use crate::model::Client;
use crate::random::RandomSource;
use crate::store::ClientStore;
use crate::subject::{PairwiseSubjects, PAIRWISE, PUBLIC};
use crate::tokens::BearerTokenGenerator;

/// What the server is configured with, shared by every request.
#[derive(Clone)]
pub struct Environment {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) issuer: Option<String>,
    pub(crate) bearer: BearerTokenGenerator,
    pub(crate) endpoint_paths: BTreeMap<String, String>,
    /// Whether the `refresh_token` grant is registered.
    pub(crate) refresh_registered: bool,
    /// The pairwise subject computation, when configured.
    pub(crate) pairwise: Option<PairwiseSubjects>,
    /// How redirect URIs are matched beyond the exact rule.
    pub(crate) redirect_matching: crate::redirect_uri::RedirectUriMatching,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("issuer", &self.issuer)
            .field("bearer", &self.bearer)
            .field("endpoint_paths", &self.endpoint_paths)
            .field("refresh_registered", &self.refresh_registered)
            .field("pairwise_subjects", &self.pairwise.is_some())
            .finish_non_exhaustive()
    }
}

impl Environment {
    /// The current time from the injected clock (UTC seconds).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The injected clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The injected source of random bytes.
    pub fn random(&self) -> &dyn RandomSource {
        &*self.random
    }

    /// The issuer identifier, if configured.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The bearer token generator.
    pub fn bearer(&self) -> &BearerTokenGenerator {
        &self.bearer
    }

    /// The absolute URL of endpoint `name`: the issuer plus its path.
    pub fn endpoint_url(&self, name: &str) -> Option<String> {
        let issuer = self.issuer.as_deref()?;
        let path = self.endpoint_paths.get(name)?;
        Some(format!("{}{path}", issuer.trim_end_matches('/')))
    }

    /// True when a refresh token may be issued to `client`: the `refresh_token` grant
    /// is registered and the client may use it.
    pub fn may_issue_refresh_token(&self, client: &dyn Client) -> bool {
        self.refresh_registered && client.check_grant_type("refresh_token")
    }

    /// How redirect URIs are matched beyond the exact rule (for
    /// [`Client::check_redirect_uri_with`]).
    pub fn redirect_uri_matching(&self) -> crate::redirect_uri::RedirectUriMatching {
        self.redirect_matching
    }

    /// True when pairwise subjects are configured (OpenID Connect Core §8.1).
    pub fn supports_pairwise_subjects(&self) -> bool {
        self.pairwise.is_some()
    }

    /// The `sub` `client` is told for the user whose local subject is `local`
    /// (OpenID Connect Core §8): `local` itself for a public client, the pairwise
    /// subject of the client's sector for one that registered
    /// `subject_type: pairwise`. A pairwise client the server cannot compute a
    /// subject for (no pairwise salt configured, no sector identifier, an unknown
    /// `subject_type`) is refused with `server_error`, logged, rather than told the
    /// local subject.
    pub fn subject_for<'s>(
        &self,
        client: &dyn Client,
        local: &'s str,
    ) -> Result<Cow<'s, str>, OAuthError> {
        match client.metadata().subject_type.as_deref() {
            None | Some(PUBLIC) => Ok(Cow::Borrowed(local)),
            Some(PAIRWISE) => {
                let Some(pairwise) = &self.pairwise else {
                    tracing::error!(client_id = %client.client_id(), "the client registered pairwise subjects but none are configured");
                    return Err(OAuthError::server_error());
                };
                let Some(sector) = client.sector_identifier() else {
                    tracing::error!(client_id = %client.client_id(), "the pairwise client has no sector identifier (redirect URIs on several hosts and no sector_identifier_uri)");
                    return Err(OAuthError::server_error());
                };
                Ok(Cow::Owned(pairwise.subject(&sector, local)))
            }
            Some(other) => {
                tracing::error!(client_id = %client.client_id(), subject_type = %other, "the client registered a subject_type this server does not know");
                Err(OAuthError::server_error())
            }
        }
    }
}

/// One token request, as token handlers and token extensions see it.
pub struct TokenContext<'a, S: ClientStore> {
    pub(crate) request: &'a OAuthRequest,
    pub(crate) params: &'a Params,
    pub(crate) client: Option<&'a S::Client>,
    pub(crate) store: &'a S,
    pub(crate) env: &'a Environment,
}

impl<S: ClientStore> fmt::Debug for TokenContext<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenContext")
            .field("method", self.request.method())
            .field("grant_type", &self.params.get("grant_type"))
            .field("client_id", &self.client.map(Client::client_id))
            .finish_non_exhaustive()
    }
}

impl<'a, S: ClientStore> TokenContext<'a, S> {
    /// The HTTP request, with its headers (a `DPoP` proof, say).
    pub fn request(&self) -> &'a OAuthRequest {
        self.request
    }

    /// The form parameters.
    pub fn params(&self) -> &'a Params {
        self.params
    }

    /// The authenticated client. `server_error` when the handler skipped client
    /// authentication ([`TokenGrant::skips_client_authentication`]) and asks anyway.
    ///
    /// [`TokenGrant::skips_client_authentication`]: crate::grants::TokenGrant::skips_client_authentication
    pub fn client(&self) -> Result<&'a S::Client, OAuthError> {
        self.client.ok_or_else(|| {
            tracing::error!(
                "a token handler that skips client authentication asked for the client"
            );
            OAuthError::server_error()
        })
    }

    /// The storage.
    pub fn store(&self) -> &'a S {
        self.store
    }

    /// The server's configuration: clock, randomness, issuer, token generator.
    pub fn env(&self) -> &'a Environment {
        self.env
    }

    /// The current time (UTC seconds).
    pub fn now(&self) -> i64 {
        self.env.now()
    }
}

/// An authorization request, as authorization grants see it: the store and the
/// server's configuration.
pub struct AuthorizationContext<'a, S: ClientStore> {
    pub(crate) store: &'a S,
    pub(crate) env: &'a Environment,
}

impl<S: ClientStore> fmt::Debug for AuthorizationContext<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationContext")
            .field("env", self.env)
            .finish_non_exhaustive()
    }
}

impl<'a, S: ClientStore> AuthorizationContext<'a, S> {
    /// The storage.
    pub fn store(&self) -> &'a S {
        self.store
    }

    /// The server's configuration.
    pub fn env(&self) -> &'a Environment {
        self.env
    }

    /// The current time (UTC seconds).
    pub fn now(&self) -> i64 {
        self.env.now()
    }
}

/// What the metadata document is built from (RFC 8414 §2): implemented by the server.
pub trait MetadataSource: Send + Sync {
    /// The document, from what is registered. Needs an issuer.
    fn metadata(&self) -> Result<Map<String, Value>, OAuthError>;
}

/// One request at a registered endpoint (revocation, introspection, metadata, yours).
pub struct EndpointContext<'a, S: ClientStore> {
    pub(crate) request: &'a OAuthRequest,
    pub(crate) store: &'a S,
    pub(crate) env: &'a Environment,
    pub(crate) authentication: &'a ClientAuthentication<S>,
    pub(crate) metadata: &'a dyn MetadataSource,
}

impl<S: ClientStore> fmt::Debug for EndpointContext<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointContext")
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .finish_non_exhaustive()
    }
}

impl<'a, S: ClientStore> EndpointContext<'a, S> {
    /// The HTTP request.
    pub fn request(&self) -> &'a OAuthRequest {
        self.request
    }

    /// The storage.
    pub fn store(&self) -> &'a S {
        self.store
    }

    /// The server's configuration.
    pub fn env(&self) -> &'a Environment {
        self.env
    }

    /// The current time (UTC seconds).
    pub fn now(&self) -> i64 {
        self.env.now()
    }

    /// Authenticates the client of this request for `endpoint` with the registered
    /// client authenticators.
    pub async fn authenticate_client(
        &self,
        params: &Params,
        endpoint: &str,
    ) -> Result<S::Client, OAuthError> {
        self.authentication
            .authenticate(self.store, self.request, params, endpoint)
            .await
    }

    /// The server's metadata document.
    pub fn metadata(&self) -> Result<Map<String, Value>, OAuthError> {
        self.metadata.metadata()
    }
}

/// What an endpoint or a grant adds its metadata entries with.
#[derive(Clone, Copy)]
pub struct MetadataContext<'a> {
    pub(crate) env: &'a Environment,
    pub(crate) auth_methods: &'a dyn Fn(&str) -> Vec<&'static str>,
    pub(crate) auth_signing_algorithms: &'a dyn Fn(&str) -> Vec<&'static str>,
}

impl fmt::Debug for MetadataContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataContext")
            .field("env", self.env)
            .finish_non_exhaustive()
    }
}

impl MetadataContext<'_> {
    /// The absolute URL of endpoint `name`.
    pub fn endpoint_url(&self, name: &str) -> Option<String> {
        self.env.endpoint_url(name)
    }

    /// The client authentication methods registered for `endpoint` (an
    /// [`EndpointName`](crate::EndpointName)): its `*_auth_methods_supported`.
    pub fn auth_methods(&self, endpoint: &str) -> Vec<&'static str> {
        (self.auth_methods)(endpoint)
    }

    /// The JWS algorithms the client authentication methods registered for `endpoint`
    /// accept (`private_key_jwt`, `client_secret_jwt`): its
    /// `*_auth_signing_alg_values_supported`; empty when none signs.
    pub fn auth_signing_algorithms(&self, endpoint: &str) -> Vec<&'static str> {
        (self.auth_signing_algorithms)(endpoint)
    }
}
