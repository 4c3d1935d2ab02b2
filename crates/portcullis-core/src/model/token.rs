//! The [`Token`] trait (Authlib's `TokenMixin`) and [`TokenRecord`].

use serde::{Deserialize, Serialize};

use super::extras::{Extras, GrantExpiresAt};
use crate::scope::Scope;

/// An issued token: an access token and, where the client may refresh, a refresh token.
///
/// One token record is one issuance. Rotating its refresh token or revoking it revokes
/// the whole record: the access token and the refresh token stop working together.
pub trait Token: Send + Sync {
    /// The client the token was issued to.
    fn client_id(&self) -> &str;

    /// The scope granted.
    fn scope(&self) -> Scope;

    /// When the token was issued (UTC seconds).
    fn issued_at(&self) -> i64;

    /// The access token's lifetime in seconds.
    fn expires_in(&self) -> i64;

    /// When the access token expires (UTC seconds).
    fn expires_at(&self) -> i64 {
        self.issued_at().saturating_add(self.expires_in())
    }

    /// True when the access token has expired at `now`.
    fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at()
    }

    /// When the refresh token expires (UTC seconds); `None` if it never does (or
    /// there is none).
    fn refresh_token_expires_at(&self) -> Option<i64>;

    /// When the grant this token belongs to ends for good (UTC seconds): no refresh
    /// token of the grant works after it, however often it was rotated. `None`: no
    /// absolute limit. Read from [`extras`](Self::extras).
    fn grant_expires_at(&self) -> Option<i64> {
        self.extras().get::<GrantExpiresAt>()
    }

    /// True once the token was revoked, or its refresh token rotated.
    fn is_revoked(&self) -> bool;

    /// The user the token was issued for; `None` for client_credentials tokens.
    fn subject(&self) -> Option<&str>;

    /// The audiences the token is meant for (`aud`), as the core issued them.
    fn audience(&self) -> Vec<String>;

    /// Everything else the core recorded in the token (see [`Extras`]). Required, like
    /// [`audience`](Self::audience) and
    /// [`refresh_token_expires_at`](Self::refresh_token_expires_at): a custom model
    /// that does not keep what [`TokenStore::save_token`] handed it must say so in
    /// code, instead of losing it by default.
    ///
    /// [`TokenStore::save_token`]: crate::store::TokenStore::save_token
    fn extras(&self) -> &Extras;

    /// The grant this token descends from. Every token issued from one authorization
    /// code (and every refresh of it) shares one grant id, so that a replayed code or
    /// a reused refresh token can revoke them all.
    fn grant_id(&self) -> &str;
}

/// A ready [`Token`] implementation, and what the core gives
/// [`TokenStore::save_token`](crate::store::TokenStore::save_token) to persist.
///
/// It holds hashes only: the plain tokens go to the client and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenRecord {
    /// [`token_key(access_token)`](crate::token_key): a public time-ordered prefix and
    /// the token's SHA-256, never the token. For a JWT access token, the key of its
    /// `jti` as the JWT strategy derives it (`JwtAccessTokens`).
    pub access_token_hash: String,
    /// [`token_key(refresh_token)`](crate::token_key), when a refresh token was issued.
    pub refresh_token_hash: Option<String>,
    /// The client the token was issued to.
    pub client_id: String,
    /// The scope granted.
    pub scope: Scope,
    /// The user, if any.
    pub subject: Option<String>,
    /// The grant type that issued it (`authorization_code`, `refresh_token`, ...).
    pub grant_type: String,
    /// The grant family id (see [`Token::grant_id`]).
    pub grant_id: String,
    /// When it was issued (UTC seconds).
    pub issued_at: i64,
    /// The access token's lifetime in seconds.
    pub expires_in: i64,
    /// When the refresh token expires (UTC seconds), if it does: the idle lifetime
    /// from this issuance, capped at the grant's end ([`GrantExpiresAt`]).
    pub refresh_token_expires_at: Option<i64>,
    /// True once revoked or rotated.
    pub revoked: bool,
    /// The audiences the token is meant for (`aud`).
    #[serde(default)]
    pub audience: Vec<String>,
    /// Everything else: the grant's absolute end ([`GrantExpiresAt`]), and what
    /// extensions record (see [`Extras`]).
    #[serde(default)]
    pub extras: Extras,
}

impl TokenRecord {
    /// A token of `client_id`, issued by `grant_type` in grant `grant_id` at
    /// `issued_at` for `expires_in` seconds, stored under `access_token_hash`
    /// ([`token_key`](crate::token_key)): no refresh token, scope, subject or audience
    /// yet (set the fields), not revoked.
    pub fn new(
        access_token_hash: impl Into<String>,
        client_id: impl Into<String>,
        grant_type: impl Into<String>,
        grant_id: impl Into<String>,
        issued_at: i64,
        expires_in: i64,
    ) -> Self {
        Self {
            access_token_hash: access_token_hash.into(),
            refresh_token_hash: None,
            client_id: client_id.into(),
            scope: Scope::empty(),
            subject: None,
            grant_type: grant_type.into(),
            grant_id: grant_id.into(),
            issued_at,
            expires_in,
            refresh_token_expires_at: None,
            revoked: false,
            audience: Vec::new(),
            extras: Extras::new(),
        }
    }

    /// When the grant ends for good ([`GrantExpiresAt`]).
    pub fn grant_expires_at(&self) -> Option<i64> {
        self.extras.get::<GrantExpiresAt>()
    }
}

impl Token for TokenRecord {
    fn client_id(&self) -> &str {
        &self.client_id
    }

    fn scope(&self) -> Scope {
        self.scope.clone()
    }

    fn issued_at(&self) -> i64 {
        self.issued_at
    }

    fn expires_in(&self) -> i64 {
        self.expires_in
    }

    fn refresh_token_expires_at(&self) -> Option<i64> {
        self.refresh_token_expires_at
    }

    fn is_revoked(&self) -> bool {
        self.revoked
    }

    fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    fn grant_id(&self) -> &str {
        &self.grant_id
    }

    fn audience(&self) -> Vec<String> {
        self.audience.clone()
    }

    fn extras(&self) -> &Extras {
        &self.extras
    }
}
