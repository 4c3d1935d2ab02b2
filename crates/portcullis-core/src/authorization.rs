//! The authorization request (RFC 6749 §4.1.1, §4.2.1): what the server validated,
//! what a consent page needs, what the request needs next ([`NextStep`]), and the
//! request kept server-side while the user signs in and consents
//! ([`PendingAuthorization`]).
//!
//! An interactive flow validates the request once, at the authorization endpoint,
//! and then continues it by an unguessable id instead of carrying it through the
//! sign-in and consent pages as a query string:
//!
//! 1. [`AuthorizationServer::get_consent_grant`] validates it;
//!    [`ConsentGrant::next_step`] says whether the user must sign in, consent, or
//!    neither.
//! 2. When a page must come first, [`AuthorizationServer::save_pending_request`]
//!    stores it — short-lived, bound to the browser by a value only the browser holds
//!    (a cookie) — and returns its id for the pages' URLs.
//! 3. The pages find it by id ([`AuthorizationServer::find_pending_request`]); the
//!    consent decision takes it, once ([`AuthorizationServer::take_pending_request`]),
//!    and finishes it with [`PendingAuthorization::to_request`].
//!
//! `prompt=login`, `max_age`, pushed and signed request objects and the device
//! verification page plug in here later: they change the next step, or where the
//! stored request comes from.
//!
//! [`AuthorizationServer::get_consent_grant`]: crate::AuthorizationServer::get_consent_grant
//! [`AuthorizationServer::save_pending_request`]: crate::AuthorizationServer::save_pending_request
//! [`AuthorizationServer::find_pending_request`]: crate::AuthorizationServer::find_pending_request
//! [`AuthorizationServer::take_pending_request`]: crate::AuthorizationServer::take_pending_request

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, ErrorRedirect, OAuthError};
use crate::http::{OAuthRequest, Params};
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

    /// What this request needs before it can be answered: [`NextStep::SignIn`] when
    /// nobody is `signed_in`; then [`NextStep::Consent`] when the request says
    /// `prompt=consent` or the user's `remembered` consent for this client does not
    /// cover the scope asked for; otherwise [`NextStep::Ready`].
    pub fn next_step(&self, signed_in: bool, remembered: Option<&Scope>) -> NextStep {
        next_step(
            self.scope(),
            self.request.params().get("prompt"),
            signed_in,
            remembered,
        )
    }
}

/// The one decision of what a request for `scope` with `prompt` needs next.
fn next_step(
    scope: &Scope,
    prompt: Option<&str>,
    signed_in: bool,
    remembered: Option<&Scope>,
) -> NextStep {
    if !signed_in {
        return NextStep::SignIn;
    }
    let prompt_consent = prompt.is_some_and(|p| p.split(' ').any(|v| v == "consent"));
    match remembered {
        Some(granted) if !prompt_consent && scope.is_subset_of(granted) => NextStep::Ready,
        _ => NextStep::Consent,
    }
}

/// What an authorization request needs next ([`ConsentGrant::next_step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextStep {
    /// The user must sign in first.
    SignIn,
    /// The user must be asked to consent.
    Consent,
    /// The request can be answered now.
    Ready,
}

/// An authorization request kept server-side while the user signs in and consents:
/// what [`AuthorizationRequestStore`](crate::store::AuthorizationRequestStore) stores.
///
/// Its id is a random token sent to the browser only; the store holds its
/// [`token_key`](crate::token_key). It is bound to one browser by `binding_hash`, the
/// key of a value that browser holds, and works until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingAuthorization {
    /// [`token_key`](crate::token_key) of the id.
    pub id_hash: String,
    /// The client that sent the request.
    pub client_id: String,
    /// The request's parameters as validated (query and form), in order.
    pub params: Vec<(String, String)>,
    /// The scope the user is asked to grant, as validated.
    pub scope: Scope,
    /// [`token_key`](crate::token_key) of the browser binding value.
    pub binding_hash: String,
    /// When it was stored (UTC seconds).
    pub created_at: i64,
    /// When it stops working (UTC seconds).
    pub expires_at: i64,
}

impl PendingAuthorization {
    /// A pending request of `client_id` with `params`, stored under `id_hash`, bound
    /// by `binding_hash`, from `created_at` to `expires_at`, with no scope yet (set
    /// the field).
    pub fn new(
        id_hash: impl Into<String>,
        client_id: impl Into<String>,
        params: Vec<(String, String)>,
        binding_hash: impl Into<String>,
        created_at: i64,
        expires_at: i64,
    ) -> Self {
        Self {
            id_hash: id_hash.into(),
            client_id: client_id.into(),
            params,
            scope: Scope::empty(),
            binding_hash: binding_hash.into(),
            created_at,
            expires_at,
        }
    }

    /// The authorization request again: a `GET path?…` with the stored parameters,
    /// for [`create_authorization_response`](crate::AuthorizationServer::create_authorization_response).
    pub fn to_request(&self, path: &str) -> OAuthRequest {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.params {
            query.append_pair(name, value);
        }
        let uri = format!("{path}?{}", query.finish());
        http::Request::get(uri)
            .body(Bytes::new())
            .unwrap_or_else(|_| http::Request::new(Bytes::new()))
    }

    /// What the stored request needs next, now that the user may have signed in
    /// (see [`ConsentGrant::next_step`]).
    pub fn next_step(&self, signed_in: bool, remembered: Option<&Scope>) -> NextStep {
        let prompt = self
            .params
            .iter()
            .find(|(name, _)| name == "prompt")
            .map(|(_, value)| value.as_str());
        next_step(&self.scope, prompt, signed_in, remembered)
    }

    /// True when it is still valid at `now` and bound to the browser holding
    /// `binding` (compared in constant time).
    pub fn is_usable(&self, binding: &str, now: i64) -> bool {
        let presented = crate::secret::token_key(binding);
        now < self.expires_at
            && crate::secret::constant_time_eq(presented.as_bytes(), self.binding_hash.as_bytes())
    }
}
