//! The [`AuthorizationCode`] trait (Authlib's `AuthorizationCodeMixin`) and
//! [`AuthorizationCodeRecord`] (RFC 6749 §4.1.2, RFC 7636 §4.4).

use serde::{Deserialize, Serialize};

use super::extras::Extras;
use crate::scope::Scope;

/// An authorization code, as stored between the authorization and token requests.
pub trait AuthorizationCode: Send + Sync {
    /// The client the code was issued to.
    fn client_id(&self) -> &str;

    /// The redirect URI named in the authorization request, if it named one; the token
    /// request must then repeat it exactly (RFC 6749 §4.1.3).
    fn redirect_uri(&self) -> Option<&str>;

    /// The scope the user granted.
    fn scope(&self) -> Scope;

    /// The user who granted it.
    fn subject(&self) -> &str;

    /// The OpenID Connect `nonce` of the request, if any.
    fn nonce(&self) -> Option<&str>;

    /// When the user authenticated (UTC seconds), if known.
    fn auth_time(&self) -> Option<i64>;

    /// The PKCE `code_challenge` (RFC 7636 §4.2), if one was sent.
    fn code_challenge(&self) -> Option<&str>;

    /// The PKCE `code_challenge_method` (`S256` or `plain`), if a challenge was sent.
    fn code_challenge_method(&self) -> Option<&str>;

    /// When the code expires (UTC seconds).
    fn expires_at(&self) -> i64;

    /// The grant id the tokens issued from this code will share.
    fn grant_id(&self) -> &str;

    /// Everything else the core recorded in the code (see [`Extras`]). Required, so
    /// that a model that drops what it was given to keep does so in writing.
    fn extras(&self) -> &Extras;
}

/// A ready [`AuthorizationCode`] implementation, and what the core gives
/// [`AuthorizationCodeStore::save_authorization_code`](crate::store::AuthorizationCodeStore::save_authorization_code)
/// to persist. It holds the code's hash, never the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationCodeRecord {
    /// `hash_secret(code)`.
    pub code_hash: String,
    /// The client the code was issued to.
    pub client_id: String,
    /// The redirect URI named in the request, if any.
    pub redirect_uri: Option<String>,
    /// The scope granted.
    pub scope: Scope,
    /// The user who granted it.
    pub subject: String,
    /// The OpenID Connect nonce, if any.
    pub nonce: Option<String>,
    /// When the user authenticated, if known.
    pub auth_time: Option<i64>,
    /// The PKCE challenge, if any.
    pub code_challenge: Option<String>,
    /// The PKCE method, if a challenge was sent.
    pub code_challenge_method: Option<String>,
    /// When the code was issued (UTC seconds).
    pub issued_at: i64,
    /// When the code expires (UTC seconds).
    pub expires_at: i64,
    /// The grant id of the tokens it will issue.
    pub grant_id: String,
    /// Everything else extensions recorded (see [`Extras`]).
    #[serde(default)]
    pub extras: Extras,
}

impl AuthorizationCodeRecord {
    /// A code of `client_id` for `subject`, issued at `issued_at` and valid until
    /// `expires_at`, in grant `grant_id`, with no redirect URI, scope, nonce or PKCE
    /// challenge yet (set the fields), and no hash yet.
    pub fn new(
        client_id: impl Into<String>,
        subject: impl Into<String>,
        grant_id: impl Into<String>,
        issued_at: i64,
        expires_at: i64,
    ) -> Self {
        Self {
            code_hash: String::new(),
            client_id: client_id.into(),
            redirect_uri: None,
            scope: Scope::empty(),
            subject: subject.into(),
            nonce: None,
            auth_time: None,
            code_challenge: None,
            code_challenge_method: None,
            issued_at,
            expires_at,
            grant_id: grant_id.into(),
            extras: Extras::new(),
        }
    }
}

impl AuthorizationCode for AuthorizationCodeRecord {
    fn client_id(&self) -> &str {
        &self.client_id
    }

    fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    fn scope(&self) -> Scope {
        self.scope.clone()
    }

    fn subject(&self) -> &str {
        &self.subject
    }

    fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    fn auth_time(&self) -> Option<i64> {
        self.auth_time
    }

    fn code_challenge(&self) -> Option<&str> {
        self.code_challenge.as_deref()
    }

    fn code_challenge_method(&self) -> Option<&str> {
        self.code_challenge_method.as_deref()
    }

    fn expires_at(&self) -> i64 {
        self.expires_at
    }

    fn grant_id(&self) -> &str {
        &self.grant_id
    }

    fn extras(&self) -> &Extras {
        &self.extras
    }
}
