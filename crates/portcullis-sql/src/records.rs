//! The records the SQL store keeps beyond the core's own ([`ClientRecord`],
//! [`TokenRecord`], [`AuthorizationCodeRecord`]): users, browser sessions, login
//! throttling state and signing keys.
//!
//! [`ClientRecord`]: portcullis_core::ClientRecord
//! [`TokenRecord`]: portcullis_core::TokenRecord
//! [`AuthorizationCodeRecord`]: portcullis_core::AuthorizationCodeRecord

use std::fmt;

use serde::{Deserialize, Serialize};

/// A resource owner. The password hash stays inside the store and is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserRecord {
    /// Stable, unique, random identifier (128 bits, base64url): the `sub` of tokens.
    pub subject: String,
    /// The login name, unique.
    pub username: String,
    /// Email address, if known.
    pub email: Option<String>,
    /// Display name, if known.
    pub name: Option<String>,
    /// When the user was created (UTC seconds).
    pub created_at: i64,
    /// A disabled user cannot sign in (see
    /// [`SqlStore::set_user_disabled`](crate::SqlStore::set_user_disabled)).
    #[serde(default)]
    pub disabled: bool,
    /// The user's other OpenID Connect claims (`given_name`, `email_verified`,
    /// `phone_number`, custom ones...), released by scope at the UserInfo endpoint.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl UserRecord {
    /// A user `username` with subject `subject`, created at `created_at`: no email or
    /// name, not disabled.
    pub fn new(subject: impl Into<String>, username: impl Into<String>, created_at: i64) -> Self {
        Self {
            subject: subject.into(),
            username: username.into(),
            email: None,
            name: None,
            created_at,
            disabled: false,
            claims: serde_json::Map::new(),
        }
    }
}

impl portcullis_core::User for UserRecord {
    fn subject(&self) -> &str {
        &self.subject
    }
}

/// What [`SqlStore::create_user`](crate::SqlStore::create_user) needs. `Debug` hides
/// the password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewUser {
    /// The login name; must not be taken.
    pub username: String,
    /// Email address, if known.
    pub email: Option<String>,
    /// Display name, if known.
    pub name: Option<String>,
    /// The password in clear; stored as an Argon2id hash.
    pub password: String,
    /// Other OpenID Connect claims (see [`UserRecord::claims`]).
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl NewUser {
    /// A user `username` with `password`, no email or name.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            email: None,
            name: None,
            password: password.into(),
            claims: serde_json::Map::new(),
        }
    }

    /// With an email address.
    pub fn with_email(mut self, email: Option<String>) -> Self {
        self.email = email;
        self
    }

    /// With other OpenID Connect claims (see [`UserRecord::claims`]).
    pub fn with_claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Self {
        self.claims = claims;
        self
    }

    /// With a display name.
    pub fn with_name(mut self, name: Option<String>) -> Self {
        self.name = name;
        self
    }
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A remembered consent: the scope `subject` allowed `client_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConsentRecord {
    /// The user.
    pub subject: String,
    /// The client.
    pub client_id: String,
    /// What the user allowed (the union of every consent given).
    pub scope: portcullis_core::Scope,
    /// When the user first consented (UTC seconds).
    pub created_at: i64,
    /// When the consent last grew (UTC seconds).
    pub updated_at: i64,
}

/// A browser session of the server's HTML pages. `Debug` hides the CSRF token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRecord {
    /// SHA-256 of the session cookie value: the cookie itself is never stored.
    pub id_hash: String,
    /// The signed-in user, if any.
    pub subject: Option<String>,
    /// The CSRF token of the session's forms.
    pub csrf_token: String,
    /// When the user authenticated (UTC seconds), if signed in.
    pub auth_time: Option<i64>,
    /// When the session was created (UTC seconds).
    pub created_at: i64,
    /// When the session expires (UTC seconds). The store returns expired sessions
    /// until they are purged; the caller compares with its clock.
    pub expires_at: i64,
    /// The session's OpenID Connect `sid`, public (it goes into ID and logout
    /// tokens): never derived from the cookie. `None` for sessions stored before it
    /// existed.
    pub sid: Option<String>,
}

/// A client a provider session signed into, for Back-Channel Logout when the session
/// ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionClient {
    /// The session's `sid`.
    pub sid: String,
    /// The client.
    pub client_id: String,
    /// The user signed in.
    pub subject: String,
}

impl SessionRecord {
    /// A session stored under `id_hash` with `csrf_token`, created at `created_at`
    /// and expiring at `expires_at`: nobody signed in yet (set `subject` and
    /// `auth_time`).
    pub fn new(
        id_hash: impl Into<String>,
        csrf_token: impl Into<String>,
        created_at: i64,
        expires_at: i64,
    ) -> Self {
        Self {
            id_hash: id_hash.into(),
            subject: None,
            csrf_token: csrf_token.into(),
            auth_time: None,
            created_at,
            expires_at,
            sid: None,
        }
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id_hash", &self.id_hash)
            .field("subject", &self.subject)
            .field("csrf_token", &"<redacted>")
            .field("auth_time", &self.auth_time)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("sid", &self.sid)
            .finish()
    }
}

/// The sign-in attempts counted under one throttle key, shared by every instance on
/// one database (see [`SqlStore::begin_login_attempt`](crate::SqlStore::begin_login_attempt)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoginThrottle {
    /// Failed attempts counted in the current window.
    pub failures: u32,
    /// Attempts being checked right now, this one included.
    pub pending: u32,
    /// When the current window began (UTC seconds).
    pub window_start: i64,
    /// When the last failure happened (UTC seconds); 0 when there was none.
    pub last_failure_at: i64,
}

impl LoginThrottle {
    /// A key's state.
    pub fn new(failures: u32, pending: u32, window_start: i64, last_failure_at: i64) -> Self {
        Self {
            failures,
            pending,
            window_start,
            last_failure_at,
        }
    }
}

/// When the failures under a throttle key are forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThrottleReset {
    /// After `window` seconds without a failure (escalating delays per account).
    AfterQuiet,
    /// `window` seconds after the window began, whatever happened in it (a budget of
    /// failures per address per window).
    FixedWindow,
}

/// How a counted sign-in attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The password was checked and wrong: one more failure.
    Failed,
    /// The password was right; with `clear`, the key's failures are forgotten.
    Succeeded {
        /// Forget the failures counted so far (the account's own keys), or keep them
        /// (the address's budget, which one valid account must not reset).
        clear: bool,
    },
    /// The attempt was refused before its password was checked: it counts for
    /// nothing.
    Refused,
}

/// A JWS signing key as stored: its public JWK, its private key sealed by the caller
/// (the store never sees it in clear), and the times that make up its life — *next*
/// before `activates_at`, *current* until `retires_at`, *retired* (still published)
/// until `expires_at`. `Debug` hides the sealed key, and nothing serializes it (no
/// `Serialize`: the record holds a private key, sealed or not).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SigningKeyRecord {
    /// Key id (`kid`).
    pub kid: String,
    /// JWS algorithm (`ES256`, `RS256`, …).
    pub alg: String,
    /// 1 for the first key of `alg`, then one more per rotation; unique per `alg`.
    pub generation: i64,
    /// The public key, a JWK as JSON.
    pub public_jwk: String,
    /// The private key, sealed by the caller.
    pub private_key: String,
    /// When the key was created (UTC seconds).
    pub created_at: i64,
    /// When it starts signing.
    pub activates_at: i64,
    /// When it stops signing, if decided.
    pub retires_at: Option<i64>,
    /// When it leaves the JWK Set and is deleted, if decided.
    pub expires_at: Option<i64>,
}

impl SigningKeyRecord {
    /// A key of `alg` (generation `generation`) that starts signing at `activates_at`,
    /// with no retirement decided yet.
    pub fn new(
        kid: impl Into<String>,
        alg: impl Into<String>,
        generation: i64,
        public_jwk: impl Into<String>,
        private_key: impl Into<String>,
        created_at: i64,
        activates_at: i64,
    ) -> Self {
        Self {
            kid: kid.into(),
            alg: alg.into(),
            generation,
            public_jwk: public_jwk.into(),
            private_key: private_key.into(),
            created_at,
            activates_at,
            retires_at: None,
            expires_at: None,
        }
    }
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("generation", &self.generation)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An initial access token (RFC 7591 §3) that allows registering clients, by its
/// hash: the token itself is shown once, when it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrationToken {
    /// [`hash_secret`](portcullis_core::hash_secret) of the token.
    pub token_hash: String,
    /// When it was made (UTC seconds).
    pub created_at: i64,
    /// When it stops working; `None`: never.
    pub expires_at: Option<i64>,
    /// How many registrations it allows; `None`: any number.
    pub max_uses: Option<i64>,
    /// How many registrations it has allowed so far.
    pub uses: i64,
}

impl RegistrationToken {
    /// A new token stored under `token_hash`, made at `created_at`, never used.
    pub fn new(
        token_hash: impl Into<String>,
        created_at: i64,
        expires_at: Option<i64>,
        max_uses: Option<i64>,
    ) -> Self {
        RegistrationToken {
            token_hash: token_hash.into(),
            created_at,
            expires_at,
            max_uses,
            uses: 0,
        }
    }
}
