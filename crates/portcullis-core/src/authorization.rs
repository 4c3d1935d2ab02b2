//! The authorization request (RFC 6749 §4.1.1, §4.2.1): what the server validated,
//! and what a consent page needs.

use crate::error::{ErrorCode, ErrorRedirect, OAuthError};
use crate::http::Params;
use crate::response_mode::ResponseMode;
use crate::scope::Scope;

/// A validated authorization request (RFC 6749 §4.1.1, §4.2.1).
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) redirect_uri_given: bool,
    pub(crate) response_type: String,
    pub(crate) response_mode: ResponseMode,
    pub(crate) scope: Scope,
    pub(crate) state: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) params: Params,
}

impl AuthorizationRequest {
    /// The client's identifier.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The verified redirect URI the response goes to.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// True when the request named the redirect URI (rather than using the client's
    /// only registered one); the token request must then repeat it.
    pub fn redirect_uri_given(&self) -> bool {
        self.redirect_uri_given
    }

    /// The response type (`code`, `token`).
    pub fn response_type(&self) -> &str {
        &self.response_type
    }

    /// How the response parameters are delivered.
    pub fn response_mode(&self) -> ResponseMode {
        self.response_mode
    }

    /// The scope requested, every token of which the client may have.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The `state` to echo.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// All request parameters (for extensions: `code_challenge`, `nonce`, `prompt`...).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Attaches this request's verified redirect target (with `state` and `iss`) to an
    /// error, so that it is sent back to the client.
    pub fn redirect_error(&self, error: OAuthError) -> OAuthError {
        // A client that turned out not to exist (deleted meanwhile) no longer vouches
        // for its redirect URI: show the error, never redirect it.
        if error.is_redirect() || error.code() == ErrorCode::InvalidClient {
            return error;
        }
        error.with_redirect(
            ErrorRedirect::new(self.redirect_uri.clone(), self.response_mode)
                .with_state(self.state.clone())
                .with_issuer(self.issuer.clone()),
        )
    }
}

/// What a consent page needs: the client, the scope asked for, and the request itself.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsentGrant<C> {
    /// The client asking for access.
    pub client: C,
    /// The validated request.
    pub request: AuthorizationRequest,
}

impl<C> ConsentGrant<C> {
    /// The scope the user is asked to grant.
    pub fn scope(&self) -> &Scope {
        self.request.scope()
    }

    /// The verified redirect URI.
    pub fn redirect_uri(&self) -> &str {
        self.request.redirect_uri()
    }

    /// The `state` the client sent.
    pub fn state(&self) -> Option<&str> {
        self.request.state()
    }
}
