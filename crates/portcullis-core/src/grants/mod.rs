//! Grant types, one file each (RFC 6749 §4, §6).
//!
//! A grant is a value that answers the requests that are its own: an
//! [`AuthorizationGrant`] handles a `response_type` at the authorization endpoint, a
//! [`TokenGrant`] a `grant_type` at the token endpoint, and a grant such as
//! `authorization_code` is both. [`Grant::register`] puts a grant in the server's
//! registry, so a new grant never touches the dispatcher. Grants see a context value
//! ([`TokenContext`], [`AuthorizationContext`]), never the server itself.
//!
//! | grant | registered by | default |
//! |---|---|---|
//! | [`AuthorizationCodeGrant`] (§4.1, with PKCE) | the application | — |
//! | [`ClientCredentialsGrant`] (§4.4) | the application | — |
//! | [`RefreshTokenGrant`] (§6, rotation and reuse detection) | the application | — |
//! | [`PasswordGrant`] (§4.3) | only if the application asks | insecure legacy |
//! | [`ImplicitGrant`] (§4.2) | only if the application asks | insecure legacy |
//! | [`OpenIdImplicitAndHybrid`] (OpenID Connect Core §3.2, §3.3) | only if the application asks | insecure legacy |

use std::sync::Arc;

use async_trait::async_trait;

use crate::authorization::AuthorizationRequest;
use crate::context::{AuthorizationContext, TokenContext};
use crate::error::OAuthError;
use crate::http::Params;
use crate::model::User;
use crate::response_mode::ResponseMode;
use crate::store::ClientStore;
use crate::tokens::Issuance;

mod authorization_code;
mod client_credentials;
mod hybrid;
mod implicit;
mod password;
mod refresh_token;

pub use authorization_code::{allows_refresh, AuthorizationCodeGrant, OFFLINE_ACCESS};
pub use client_credentials::ClientCredentialsGrant;
pub use hybrid::{canonical_response_type, HybridGrant, OpenIdImplicitAndHybrid};
pub use implicit::ImplicitGrant;
pub use password::PasswordGrant;
pub use refresh_token::RefreshTokenGrant;
pub(crate) use refresh_token::REUSED;

/// A token-endpoint handler (RFC 6749 §4.x.3), in fosite's shape: asked whether it
/// handles a request, it validates it and says what to issue — an [`Issuance`]. The
/// server then runs the one issuance sequence for every grant: server-level
/// [`TokenExtension`](crate::extensions::TokenExtension)s, minting, saving (or
/// rotating), and the response.
#[async_trait]
pub trait TokenGrant<S: ClientStore>: Send + Sync + 'static {
    /// The `grant_type` value this grant answers (for metadata and the client's
    /// `check_grant_type`).
    fn grant_type(&self) -> &str;

    /// True when this handler takes the request: by default, when its `grant_type`
    /// is the request's.
    fn can_handle(&self, params: &Params) -> bool {
        params.get("grant_type") == Some(self.grant_type())
    }

    /// True when the request needs no client authentication (where a spec says so;
    /// the handler then gets no client from [`TokenContext::client`]).
    fn skips_client_authentication(&self, params: &Params) -> bool {
        let _ = params;
        false
    }

    /// Parameters this grant lets repeat (RFC 8693 `audience`, say).
    fn repeatable_parameters(&self) -> &[&'static str] {
        &[]
    }

    /// Adds this grant's entries to the metadata document (RFC 8414 §2).
    fn metadata(&self, document: &mut serde_json::Map<String, serde_json::Value>) {
        let _ = document;
    }

    /// Validates a request of a client that may use this grant type and says what to
    /// issue.
    async fn handle(&self, context: &TokenContext<'_, S>) -> Result<Issuance, OAuthError>;
}

/// What an authorization grant answers: the response parameters it made (`code`),
/// and tokens for the server to issue into the response (the implicit grant's).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct AuthorizationOutcome {
    /// Parameters for the redirect (`code`, ...). The server adds `state` and `iss`.
    pub params: Vec<(String, String)>,
    /// Tokens to issue and deliver in the redirect (`access_token`, ...).
    pub tokens: Option<Issuance>,
}

impl AuthorizationOutcome {
    /// An outcome of these parameters.
    pub fn params(params: Vec<(String, String)>) -> Self {
        Self {
            params,
            tokens: None,
        }
    }

    /// An outcome of tokens, issued into the response.
    pub fn tokens(issuance: Issuance) -> Self {
        Self {
            params: Vec::new(),
            tokens: Some(issuance),
        }
    }
}

/// A grant handling a `response_type` at the authorization endpoint (RFC 6749 §4.x.1).
#[async_trait]
pub trait AuthorizationGrant<S: ClientStore>: Send + Sync + 'static {
    /// The `response_type` value this grant answers.
    fn response_type(&self) -> &str;

    /// The response mode used when the request names none.
    fn default_response_mode(&self) -> ResponseMode;

    /// True when the client may ask for `mode` with this response type.
    fn allows_response_mode(&self, mode: ResponseMode) -> bool;

    /// Adds this grant's entries to the metadata document (RFC 8414 §2).
    fn metadata(&self, document: &mut serde_json::Map<String, serde_json::Value>) {
        let _ = document;
    }

    /// Grant-specific validation after the common checks (client, redirect URI,
    /// response type, scope) passed. Errors are redirected to the client.
    fn validate_authorization_request(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        end_user: Option<&dyn User>,
    ) -> Result<(), OAuthError>;

    /// Issues what the user granted. The server adds `state` and `iss`.
    async fn create_authorization_response(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        user: &dyn User,
    ) -> Result<AuthorizationOutcome, OAuthError>;
}

/// Something that can be registered on an [`AuthorizationServer`](crate::AuthorizationServer).
pub trait Grant<S: ClientStore> {
    /// Adds the grant's handlers to the registry.
    fn register(self, registry: &mut GrantRegistry<S>);
}

/// The grants a server knows, by response type and by grant type.
pub struct GrantRegistry<S: ClientStore> {
    pub(crate) authorization: Vec<Arc<dyn AuthorizationGrant<S>>>,
    pub(crate) token: Vec<Arc<dyn TokenGrant<S>>>,
}

impl<S: ClientStore> Default for GrantRegistry<S> {
    fn default() -> Self {
        Self {
            authorization: Vec::new(),
            token: Vec::new(),
        }
    }
}

impl<S: ClientStore> GrantRegistry<S> {
    /// Adds an authorization-endpoint handler, replacing one for the same response type.
    pub fn add_authorization_grant(&mut self, grant: Arc<dyn AuthorizationGrant<S>>) {
        self.authorization
            .retain(|g| g.response_type() != grant.response_type());
        self.authorization.push(grant);
    }

    /// Adds a token-endpoint handler, replacing one for the same grant type.
    pub fn add_token_grant(&mut self, grant: Arc<dyn TokenGrant<S>>) {
        self.token.retain(|g| g.grant_type() != grant.grant_type());
        self.token.push(grant);
    }

    pub(crate) fn authorization_grant(
        &self,
        response_type: &str,
    ) -> Option<Arc<dyn AuthorizationGrant<S>>> {
        self.authorization
            .iter()
            .find(|g| g.response_type() == response_type)
            .cloned()
    }

    pub(crate) fn token_grant(&self, grant_type: &str) -> Option<Arc<dyn TokenGrant<S>>> {
        self.token
            .iter()
            .find(|g| g.grant_type() == grant_type)
            .cloned()
    }

    /// The first token handler that takes a request with these parameters.
    pub(crate) fn token_handler(&self, params: &Params) -> Option<&Arc<dyn TokenGrant<S>>> {
        self.token.iter().find(|g| g.can_handle(params))
    }
}

impl<S: ClientStore> std::fmt::Debug for GrantRegistry<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantRegistry")
            .field(
                "response_types",
                &self
                    .authorization
                    .iter()
                    .map(|g| g.response_type())
                    .collect::<Vec<_>>(),
            )
            .field(
                "grant_types",
                &self
                    .token
                    .iter()
                    .map(|g| g.grant_type())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
