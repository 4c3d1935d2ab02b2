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
//! `prompt` and `max_age` (OpenID Connect Core §3.1.2.1) change the next step; pushed
//! and signed request objects and the device verification page plug in here later:
//! they change where the stored request comes from.
//!
//! [`AuthorizationServer::get_consent_grant`]: crate::AuthorizationServer::get_consent_grant
//! [`AuthorizationServer::save_pending_request`]: crate::AuthorizationServer::save_pending_request
//! [`AuthorizationServer::find_pending_request`]: crate::AuthorizationServer::find_pending_request
//! [`AuthorizationServer::take_pending_request`]: crate::AuthorizationServer::take_pending_request

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, ErrorRedirect, OAuthError};
use crate::http::{OAuthRequest, Params};
use crate::model::Extras;
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
    /// What server-level extensions recorded while validating it (the RFC 8707
    /// resources, say); the authorization code grant copies it into the code.
    pub(crate) extras: Extras,
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

    /// What server-level extensions recorded while validating the request (see
    /// [`TokenExtension::validate_authorization_request`]); the authorization code
    /// grant keeps it in the code's extras, so it travels on into the tokens.
    ///
    /// [`TokenExtension::validate_authorization_request`]: crate::extensions::TokenExtension::validate_authorization_request
    pub fn extras(&self) -> &Extras {
        &self.extras
    }

    /// The extras, for an extension to record into.
    pub fn extras_mut(&mut self) -> &mut Extras {
        &mut self.extras
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

    /// What this request needs before it can be answered, for the user signed in
    /// (`session`, `None` when nobody is), whose `remembered` consent for this client
    /// covers that scope, at `now` (see [`NextStep`] for the rules of `prompt` and
    /// `max_age`).
    pub fn next_step(
        &self,
        session: Option<SignedIn>,
        remembered: Option<&Scope>,
        now: i64,
    ) -> NextStep {
        next_step(
            self.scope(),
            self.request.params().get("prompt"),
            self.request.params().get("max_age"),
            session,
            remembered,
            now,
            None,
        )
    }
}

/// Who is signed in, as far as the next step is concerned: when they authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedIn {
    /// When the user authenticated (UTC seconds), if known. A session of unknown age
    /// satisfies neither `prompt=login` nor `max_age`.
    pub auth_time: Option<i64>,
}

impl SignedIn {
    /// A user who authenticated at `auth_time`.
    pub fn at(auth_time: Option<i64>) -> Self {
        Self { auth_time }
    }
}

/// The `prompt` values of OpenID Connect Core §3.1.2.1 a request may carry.
const PROMPT_VALUES: [&str; 4] = ["none", "login", "consent", "select_account"];

/// Checks the `prompt` and `max_age` parameters of an authorization request: known
/// `prompt` values only, `none` alone, and `max_age` a number of seconds.
pub(crate) fn check_prompt_and_max_age(params: &Params) -> Result<(), OAuthError> {
    if let Some(prompt) = params.get("prompt") {
        let values: Vec<&str> = prompt.split(' ').filter(|v| !v.is_empty()).collect();
        if let Some(unknown) = values.iter().find(|v| !PROMPT_VALUES.contains(v)) {
            return Err(OAuthError::invalid_request(format!(
                "the prompt value '{}' is not supported; use none, login, consent or select_account",
                crate::error::quoted_input(unknown)
            )));
        }
        if values.contains(&"none") && values.len() > 1 {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with another prompt value",
            ));
        }
    }
    if let Some(max_age) = params.get("max_age") {
        if parse_max_age(max_age).is_none() {
            return Err(OAuthError::invalid_request(
                "max_age must be a non-negative whole number of seconds",
            ));
        }
    }
    Ok(())
}

/// `max_age` as seconds: ASCII digits only, at most 10 of them.
fn parse_max_age(value: &str) -> Option<i64> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The one decision of what a request for `scope` with `prompt` and `max_age` needs
/// next. `asked_at` is when a stored request was made: a sign-in since then satisfies
/// `prompt=login` and any `max_age`.
fn next_step(
    scope: &Scope,
    prompt: Option<&str>,
    max_age: Option<&str>,
    session: Option<SignedIn>,
    remembered: Option<&Scope>,
    now: i64,
    asked_at: Option<i64>,
) -> NextStep {
    let has = |value: &str| prompt.is_some_and(|p| p.split(' ').any(|v| v == value));
    let max_age = max_age.and_then(parse_max_age);
    // max_age=0 asks for a fresh sign-in, as prompt=login does (OpenID Connect Core
    // §3.1.2.1).
    let login = has("login") || max_age == Some(0);
    let fresh = match session {
        None => false,
        Some(SignedIn { auth_time }) => {
            let since_asked = matches!((auth_time, asked_at), (Some(t), Some(a)) if t >= a);
            if since_asked {
                true
            } else if login {
                false
            } else {
                match (max_age, auth_time) {
                    (None, _) => true,
                    (Some(max), Some(t)) => now.saturating_sub(t) <= max,
                    (Some(_), None) => false,
                }
            }
        }
    };
    let none = has("none");
    if !fresh {
        return if none {
            NextStep::Refused(ErrorCode::LoginRequired)
        } else {
            NextStep::SignIn
        };
    }
    let ask = has("consent") || has("select_account");
    match remembered {
        Some(granted) if !ask && scope.is_subset_of(granted) => NextStep::Ready,
        _ if none => NextStep::Refused(ErrorCode::ConsentRequired),
        _ => NextStep::Consent,
    }
}

/// What an authorization request needs next ([`ConsentGrant::next_step`]).
///
/// Nobody signed in: [`SignIn`](Self::SignIn). `prompt=login` or `max_age=0`: a
/// sign-in after the request was made. `max_age=N`: a sign-in at most `N` seconds
/// old. Then [`Consent`](Self::Consent) when `prompt` says `consent` or
/// `select_account` (the consent page shows who is signed in, with a way to switch),
/// or when no remembered consent covers the scope; otherwise [`Ready`](Self::Ready).
/// With `prompt=none`, a step that needs a page is [`Refused`](Self::Refused)
/// instead, with `login_required` or `consent_required`, for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextStep {
    /// The user must sign in first.
    SignIn,
    /// The user must be asked to consent.
    Consent,
    /// The request can be answered now.
    Ready,
    /// `prompt=none`, and the request needs a page: the client gets this error.
    Refused(ErrorCode),
}

impl NextStep {
    /// The error a [`Refused`](Self::Refused) step sends the client (attach the
    /// redirect with [`AuthorizationRequest::redirect_error`]); `None` otherwise.
    pub fn error(self) -> Option<OAuthError> {
        let NextStep::Refused(code) = self else {
            return None;
        };
        let description = match code {
            ErrorCode::LoginRequired => {
                "prompt=none was asked, and the user must sign in (again) first"
            }
            ErrorCode::ConsentRequired => {
                "prompt=none was asked, and the user has not consented to this scope"
            }
            _ => "prompt=none was asked, and the request needs the user's interaction",
        };
        Some(OAuthError::new(code, description))
    }
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

    /// The value of the stored request's parameter `name` (the first, for a repeated
    /// one), if it has one.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// What the stored request needs next, now that the user may have signed in
    /// (see [`ConsentGrant::next_step`]); a sign-in since the request was stored
    /// satisfies `prompt=login` and `max_age`.
    pub fn next_step(
        &self,
        session: Option<SignedIn>,
        remembered: Option<&Scope>,
        now: i64,
    ) -> NextStep {
        next_step(
            &self.scope,
            self.param("prompt"),
            self.param("max_age"),
            session,
            remembered,
            now,
            Some(self.created_at),
        )
    }

    /// True when it is still valid at `now` and bound to the browser holding
    /// `binding` (compared in constant time).
    pub fn is_usable(&self, binding: &str, now: i64) -> bool {
        let presented = crate::secret::token_key(binding);
        now < self.expires_at
            && crate::secret::constant_time_eq(presented.as_bytes(), self.binding_hash.as_bytes())
    }
}
