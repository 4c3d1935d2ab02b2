//! Storage traits: narrow, async, one per concern.
//!
//! A grant asks only for the traits it uses: `client_credentials` needs
//! [`ClientStore`] and [`TokenStore`]; `authorization_code` adds
//! [`AuthorizationCodeStore`]; `password` adds [`UserStore`]. Everything that must
//! happen once — redeeming a code, rotating a refresh token — is a single method that
//! the implementation makes atomic (a transaction, a conditional `UPDATE`, a lock), so
//! that two racing requests can never both win.
//!
//! Lookups go by hash ([`hash_secret`](crate::secret::hash_secret)): a store never
//! sees a plain token, code or client secret.

use async_trait::async_trait;

use crate::authorization::PendingAuthorization;
use crate::error::StoreError;
use crate::model::{AuthorizationCode, AuthorizationCodeRecord, Client, Token, TokenRecord, User};

/// Finds registered clients.
#[async_trait]
pub trait ClientStore: Send + Sync + 'static {
    /// The application's client model.
    type Client: Client + Clone + 'static;

    /// The client registered under `client_id`, if any.
    async fn find_client(&self, client_id: &str) -> Result<Option<Self::Client>, StoreError>;
}

/// Saves, finds, rotates and revokes tokens.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// The application's token model.
    type Token: Token + 'static;

    /// Persists a newly issued token. It must be durable before this returns: the
    /// client receives the token right after.
    async fn save_token(&self, token: TokenRecord) -> Result<(), StoreError>;

    /// The token whose access token hashes to `access_token_hash`, revoked or not.
    async fn find_access_token(
        &self,
        access_token_hash: &str,
    ) -> Result<Option<Self::Token>, StoreError>;

    /// The token whose refresh token hashes to `refresh_token_hash`, revoked or not.
    async fn find_refresh_token(
        &self,
        refresh_token_hash: &str,
    ) -> Result<Option<Self::Token>, StoreError>;

    /// Atomically: when the token holding `old_refresh_token_hash` is not revoked,
    /// mark it revoked, save `new` and return `true`; otherwise change nothing and
    /// return `false` (another request rotated it first: a reuse).
    async fn rotate_refresh_token(
        &self,
        old_refresh_token_hash: &str,
        new: TokenRecord,
    ) -> Result<bool, StoreError>;

    /// Revokes the one token (issuance) whose access token hashes to
    /// `access_token_hash` — its refresh token too (RFC 7009 §2.1 allows it).
    async fn revoke_token(&self, access_token_hash: &str) -> Result<(), StoreError>;

    /// Revokes every token of the grant `grant_id`, including any saved for that grant
    /// afterwards: a replayed code can be detected after the first redemption took the
    /// code but before its token was saved, and that token must not outlive the replay.
    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError>;
}

/// What [`AuthorizationCodeStore::redeem_authorization_code`] found.
// Exhaustive on purpose: it is the storage contract, built and matched by every store;
// a new outcome would change what stores must do, a breaking change either way.
#[allow(clippy::exhaustive_enums)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption<C> {
    /// The code was unused; it is now marked used and this request owns it.
    Redeemed(C),
    /// The code had been redeemed before, by the same client: a replay.
    AlreadyUsed(C),
    /// No such code, or one issued to another client (which is left unchanged).
    NotFound,
}

/// Saves and redeems authorization codes.
#[async_trait]
pub trait AuthorizationCodeStore: Send + Sync + 'static {
    /// The application's authorization code model.
    type Code: AuthorizationCode + 'static;

    /// Persists a newly issued code.
    async fn save_authorization_code(
        &self,
        code: AuthorizationCodeRecord,
    ) -> Result<(), StoreError>;

    /// Atomically marks the code with hash `code_hash` as used, when it was issued to
    /// `client_id`, and tells what it was. Of two concurrent calls for one code,
    /// exactly one gets [`CodeRedemption::Redeemed`]. Keep used codes at least until
    /// they expire so a replay is recognised.
    ///
    /// A code issued to another client must be answered [`CodeRedemption::NotFound`]
    /// and left as it is: a client presenting someone else's code must neither use
    /// it up nor, by replaying it, revoke what it issued (make the client part of the
    /// condition of the update, not a check after it).
    async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        client_id: &str,
    ) -> Result<CodeRedemption<Self::Code>, StoreError>;
}

/// Authenticates resource owners for the password grant (RFC 6749 §4.3).
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// The application's user model.
    type User: User + 'static;

    /// The user with this username and password; `None` when either is wrong. An
    /// unknown user and a wrong password must be indistinguishable, also in timing.
    async fn authenticate_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Self::User>, StoreError>;
}

/// Keeps authorization requests while the user signs in and consents (see
/// [`crate::authorization`]).
#[async_trait]
pub trait AuthorizationRequestStore: Send + Sync + 'static {
    /// Stores a pending request under its `id_hash`.
    async fn save_authorization_request(
        &self,
        request: PendingAuthorization,
    ) -> Result<(), StoreError>;

    /// The pending request stored under `id_hash`, expired or not.
    async fn find_authorization_request(
        &self,
        id_hash: &str,
    ) -> Result<Option<PendingAuthorization>, StoreError>;

    /// Removes the pending request stored under `id_hash` and returns it, atomically:
    /// of two callers, one gets it.
    async fn take_authorization_request(
        &self,
        id_hash: &str,
    ) -> Result<Option<PendingAuthorization>, StoreError>;
}

/// Tells which resource servers are registered, for resource indicators (RFC 8707):
/// a client may ask for a token whose audience is one of them.
#[async_trait]
pub trait ResourceServerStore: Send + Sync + 'static {
    /// The audiences (resource indicators) the registered resource servers serve, as
    /// registered ([`ClientRecord::resource_server_audience`] of every client that
    /// has one, say).
    ///
    /// [`ClientRecord::resource_server_audience`]: crate::model::ClientRecord::resource_server_audience
    async fn resource_server_audiences(&self) -> Result<Vec<String>, StoreError>;
}

/// Remembers the JWT client assertions used (RFC 7523 §3 item 7, OpenID Connect Core
/// §9), so that each is accepted once: a captured assertion replayed before it expires
/// is refused (the class of fosite's CVE-2020-15222).
#[async_trait]
pub trait AssertionReplayStore: Send + Sync + 'static {
    /// Atomically records that `client_id` used the assertion `jti`, kept until
    /// `expires_at` (UTC seconds): `true` the first time, `false` when the pair is
    /// already recorded and not yet expired at `now` (a replay). Of two concurrent
    /// calls for one pair, exactly one gets `true` — across every instance sharing the
    /// store. A recorded pair whose `expires_at` is past at `now` counts as absent.
    async fn record_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
}
