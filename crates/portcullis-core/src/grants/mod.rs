//! Grant types, one file each (RFC 6749 §4, §6).
//!
//! A grant is a value that answers the requests that are its own: an
//! [`AuthorizationGrant`] handles a `response_type` at the authorization endpoint, a
//! [`TokenGrant`] a `grant_type` at the token endpoint, and a grant such as
//! `authorization_code` is both. [`Grant::register`] puts a grant in the server's
//! registry, so a new grant never touches the dispatcher.
//!
//! | grant | registered by | default |
//! |---|---|---|
//! | [`AuthorizationCodeGrant`] (§4.1, with PKCE) | the application | — |
//! | [`ClientCredentialsGrant`] (§4.4) | the application | — |
//! | [`RefreshTokenGrant`] (§6, rotation and reuse detection) | the application | — |
//! | [`PasswordGrant`] (§4.3) | only if the application asks | insecure legacy |
//! | [`ImplicitGrant`] (§4.2) | only if the application asks | insecure legacy |

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::OAuthError;
use crate::http::{OAuthResponse, Params};
use crate::model::User;
use crate::response_mode::ResponseMode;
use crate::server::{AuthorizationRequest, AuthorizationServer};
use crate::store::ClientStore;

mod authorization_code;
mod client_credentials;
mod implicit;
mod password;
mod refresh_token;

pub use authorization_code::AuthorizationCodeGrant;
pub use client_credentials::ClientCredentialsGrant;
pub use implicit::ImplicitGrant;
pub use password::PasswordGrant;
pub use refresh_token::RefreshTokenGrant;

/// A grant handling a `grant_type` at the token endpoint (RFC 6749 §4.x.3).
#[async_trait]
pub trait TokenGrant<S: ClientStore>: Send + Sync + 'static {
    /// The `grant_type` value this grant answers.
    fn grant_type(&self) -> &str;

    /// Adds this grant's entries to the metadata document (RFC 8414 §2).
    fn metadata(&self, document: &mut serde_json::Map<String, serde_json::Value>) {
        let _ = document;
    }

    /// Handles a token request from an already authenticated client that may use this
    /// grant type. Answers the token response or an error.
    async fn create_token_response(
        &self,
        server: &AuthorizationServer<S>,
        client: &S::Client,
        params: &Params,
    ) -> Result<OAuthResponse, OAuthError>;
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
        server: &AuthorizationServer<S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        end_user: Option<&dyn User>,
    ) -> Result<(), OAuthError>;

    /// Issues what the user granted; returns the response parameters (`code`, or
    /// `access_token`...). The server adds `state` and `iss`.
    async fn create_authorization_response(
        &self,
        server: &AuthorizationServer<S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        user: &dyn User,
    ) -> Result<Vec<(&'static str, String)>, OAuthError>;
}

/// Something that can be registered on an [`AuthorizationServer`].
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
}
