//! Bearer token generation (RFC 6749 §5.1, RFC 6750).
//!
//! A token handler decides *what* to issue — an [`Issuance`]: client, scope, subject,
//! audience, grant, whether a refresh token comes too. The [`BearerTokenGenerator`]
//! mints it: the access token through the [`AccessTokenStrategy`] (opaque by default;
//! JWT plugs in here), the refresh token as an opaque token, and the
//! [`TokenRecord`] the store keeps, which holds only their keys ([`token_key`]). The
//! server then builds the [`TokenResponse`], lets extensions add to it, saves the
//! record, and serializes the response once.
//!
//! Opaque tokens carry 256 bits from the injected CSPRNG behind a public, time-ordered
//! prefix ([`ordered_token`]), so that stores append new tokens to their indexes.
//! Lifetimes are configurable per grant type; a refresh token has an idle lifetime that
//! every rotation starts again, and its grant an absolute one that rotation never
//! extends (RFC 9700 §4.14.2).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::error::OAuthError;
use crate::model::{Client, Extras, GrantExpiresAt, TokenRecord};
use crate::random::{ordered_token, RandomSource};
use crate::response::{json_response, OAuthResponse};
use crate::scope::Scope;
use crate::secret::token_key;

/// What an [`AccessTokenStrategy`] is told when it mints a token.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct StrategyContext<'a> {
    /// The server's issuer identifier, if any.
    pub issuer: Option<&'a str>,
    /// The client the token is for.
    pub client: &'a dyn Client,
    /// The token being issued: grant type, scope, subject, audience, lifetimes (its key
    /// fields are not filled in yet).
    pub record: &'a TokenRecord,
    /// The server's clock.
    pub clock: &'a dyn Clock,
    /// The server's source of random bytes.
    pub random: &'a dyn RandomSource,
    /// The `sub` the client is told for the token's user (OpenID Connect Core §8):
    /// the record's subject, or its pairwise subject for a pairwise client. What a
    /// self-contained token states as its subject.
    pub subject: Option<&'a str>,
}

impl fmt::Debug for StrategyContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrategyContext")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client.client_id())
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// How access tokens are made and recognised. Opaque tokens
/// ([`OpaqueTokens`]) are the default; JWT access tokens (RFC 9068) plug in here.
pub trait AccessTokenStrategy: Send + Sync + 'static {
    /// A new access token for the token described by `context.record`.
    fn mint(&self, context: &StrategyContext<'_>) -> Result<String, OAuthError>;

    /// The key a presented access token is stored under, or `None` when it is not a
    /// token this strategy could have minted (malformed, a bad signature): the
    /// validation half of the strategy. The default is [`token_key`].
    fn key(&self, token: &str) -> Option<String> {
        Some(token_key(token))
    }

    /// A new access token and the key it is stored under. The default mints, then
    /// asks [`key`](Self::key); a strategy that knows the key as it mints (a JWT's
    /// `jti`) overrides it so that it never verifies its own fresh signature.
    fn mint_keyed(&self, context: &StrategyContext<'_>) -> Result<(String, String), OAuthError> {
        let token = self.mint(context)?;
        let key = self.key(&token).ok_or_else(OAuthError::server_error)?;
        Ok((token, key))
    }
}

/// Opaque random access tokens: a public millisecond timestamp and 256 secret bits
/// ([`ordered_token`]).
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct OpaqueTokens;

impl OpaqueTokens {
    /// The strategy.
    pub fn new() -> Self {
        Self
    }
}

impl AccessTokenStrategy for OpaqueTokens {
    fn mint(&self, context: &StrategyContext<'_>) -> Result<String, OAuthError> {
        Ok(ordered_token(context.random, context.clock.now_millis()))
    }
}

/// How an issued token is persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Persist {
    /// A new grant or a new token of one: saved.
    Save,
    /// A refresh: the token holding this refresh key is revoked and the new one saved,
    /// atomically, or nothing happens (another request rotated it first: a reuse).
    Rotate { presented: String },
}

/// What a token handler decided to issue, before any token exists: the description
/// the server's one issuance sequence (extensions, minting, saving, the response)
/// works from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Issuance {
    /// The grant type issuing it (`authorization_code`, `refresh_token`, ...).
    pub grant_type: String,
    /// The client the token is for.
    pub client_id: String,
    /// The scope granted.
    pub scope: Scope,
    /// The user, if any.
    pub subject: Option<String>,
    /// The grant family id (see [`Token::grant_id`](crate::Token::grant_id)).
    pub grant_id: String,
    /// The token's audiences (`aud`).
    pub audience: Vec<String>,
    /// Issue a refresh token too.
    pub refresh_token: bool,
    /// When the grant ends for good: `None` for a new grant (it gets the generator's
    /// maximum grant lifetime), the presented token's value on a refresh.
    pub grant_expires_at: Option<i64>,
    /// Extras to record in the token (extensions may add to them).
    pub extras: Extras,
    pub(crate) persist: Persist,
}

impl Issuance {
    /// A token of `client_id` by `grant_type` in grant `grant_id` with `scope`: no
    /// subject, no audience, no refresh token (set the fields).
    pub fn new(
        grant_type: impl Into<String>,
        client_id: impl Into<String>,
        scope: Scope,
        grant_id: impl Into<String>,
    ) -> Self {
        Self {
            grant_type: grant_type.into(),
            client_id: client_id.into(),
            scope,
            subject: None,
            grant_id: grant_id.into(),
            audience: Vec::new(),
            refresh_token: false,
            grant_expires_at: None,
            extras: Extras::new(),
            persist: Persist::Save,
        }
    }

    /// Issued for the user `subject`.
    pub fn with_subject(mut self, subject: Option<impl Into<String>>) -> Self {
        self.subject = subject.map(Into::into);
        self
    }

    /// With these audiences.
    pub fn with_audience(mut self, audience: Vec<String>) -> Self {
        self.audience = audience;
        self
    }

    /// With a refresh token when `refresh` is true.
    pub fn with_refresh_token(mut self, refresh: bool) -> Self {
        self.refresh_token = refresh;
        self
    }

    /// A rotation of the refresh token whose key is `presented`: saved only if that
    /// token is not revoked, atomically revoking it.
    pub fn rotating(mut self, presented: impl Into<String>) -> Self {
        self.persist = Persist::Rotate {
            presented: presented.into(),
        };
        self
    }

    /// True for a refresh-token rotation.
    pub fn is_rotation(&self) -> bool {
        matches!(self.persist, Persist::Rotate { .. })
    }
}

/// A freshly issued token: the plain values for the client, the record for the store.
#[derive(Clone)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The access token, sent to the client only.
    pub access_token: String,
    /// The refresh token, if issued, sent to the client only.
    pub refresh_token: Option<String>,
    /// What is stored: hashes and metadata.
    pub record: TokenRecord,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("record", &self.record)
            .finish()
    }
}

/// The token response being built (RFC 6749 §5.1): the members every grant sends,
/// `token_type` (`Bearer` unless an extension changes it), any member an extension
/// adds (`id_token`, `issued_token_type`), and headers. The server serializes it once.
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct TokenResponse {
    access_token: String,
    token_type: Cow<'static, str>,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(flatten)]
    members: Map<String, Value>,
    #[serde(skip)]
    headers: HeaderMap,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("members", &self.members.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// The response for `issued`: its tokens, `token_type: Bearer`, `expires_in` and
    /// the scope.
    pub fn for_token(issued: &IssuedToken) -> Self {
        let scope = &issued.record.scope;
        Self {
            access_token: issued.access_token.clone(),
            token_type: Cow::Borrowed("Bearer"),
            expires_in: issued.record.expires_in,
            refresh_token: issued.refresh_token.clone(),
            scope: (!scope.is_empty()).then(|| scope.to_string()),
            members: Map::new(),
            headers: HeaderMap::new(),
        }
    }

    /// Changes `token_type` (DPoP binds a token: `DPoP`).
    pub fn set_token_type(&mut self, token_type: impl Into<Cow<'static, str>>) {
        self.token_type = token_type.into();
    }

    /// The `token_type`.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// Adds a member (`id_token`, `issued_token_type`, ...). The standard members
    /// cannot be replaced this way.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let name = name.into();
        if matches!(
            name.as_str(),
            "access_token" | "token_type" | "expires_in" | "refresh_token" | "scope"
        ) {
            tracing::warn!(member = %name, "an extension tried to replace a standard token response member");
            return;
        }
        self.members.insert(name, value.into());
    }

    /// A member added by [`insert`](Self::insert).
    pub fn member(&self, name: &str) -> Option<&Value> {
        self.members.get(name)
    }

    /// Adds a response header.
    pub fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.insert(name, value);
    }

    /// The JSON response, with `Cache-Control: no-store` and the added headers.
    pub fn into_response(self) -> OAuthResponse {
        let mut response = json_response(StatusCode::OK, &self);
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
    }

    /// The members as authorization response parameters (the implicit grant puts
    /// them in the redirect URI's fragment).
    pub fn into_params(self) -> Vec<(String, String)> {
        let mut params = vec![
            ("access_token".to_owned(), self.access_token),
            ("token_type".to_owned(), self.token_type.into_owned()),
            ("expires_in".to_owned(), self.expires_in.to_string()),
        ];
        if let Some(scope) = self.scope {
            params.push(("scope".to_owned(), scope));
        }
        for (name, value) in self.members {
            let value = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            params.push((name, value));
        }
        params
    }
}

/// Issues bearer tokens with configurable lifetimes.
///
/// A refresh token has two limits (RFC 9700 §4.14.2): an *idle* lifetime
/// ([`with_refresh_token_lifetime`](Self::with_refresh_token_lifetime), 30 days), which
/// every rotation starts again, and the *grant's* lifetime
/// ([`with_max_grant_lifetime`](Self::with_max_grant_lifetime), 30 days), counted from
/// the grant's first refresh token and never extended by a rotation.
#[derive(Clone)]
pub struct BearerTokenGenerator {
    access_token_lifetime: i64,
    lifetimes_by_grant: HashMap<String, i64>,
    refresh_token_lifetime: Option<i64>,
    max_grant_lifetime: Option<i64>,
    strategy: Arc<dyn AccessTokenStrategy>,
}

impl fmt::Debug for BearerTokenGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerTokenGenerator")
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field("lifetimes_by_grant", &self.lifetimes_by_grant)
            .field("refresh_token_lifetime", &self.refresh_token_lifetime)
            .field("max_grant_lifetime", &self.max_grant_lifetime)
            .finish_non_exhaustive()
    }
}

impl Default for BearerTokenGenerator {
    fn default() -> Self {
        Self {
            access_token_lifetime: 3600,
            lifetimes_by_grant: HashMap::new(),
            refresh_token_lifetime: Some(30 * 24 * 3600),
            max_grant_lifetime: Some(30 * 24 * 3600),
            strategy: Arc::new(OpaqueTokens),
        }
    }
}

impl BearerTokenGenerator {
    /// Sets the default access token lifetime in seconds (3600 unless set).
    pub fn with_access_token_lifetime(mut self, seconds: i64) -> Self {
        self.access_token_lifetime = seconds;
        self
    }

    /// Sets the access token lifetime for tokens issued by `grant_type`.
    pub fn with_grant_lifetime(mut self, grant_type: impl Into<String>, seconds: i64) -> Self {
        self.lifetimes_by_grant.insert(grant_type.into(), seconds);
        self
    }

    /// Sets the refresh token's idle lifetime: how long a refresh token stays usable
    /// after it was issued, started again by each rotation (30 days unless set; `None`:
    /// no idle limit).
    pub fn with_refresh_token_lifetime(mut self, seconds: Option<i64>) -> Self {
        self.refresh_token_lifetime = seconds;
        self
    }

    /// Sets the grant's absolute lifetime: no refresh token of a grant works longer than
    /// this after the grant's first one, however often it is rotated (30 days unless
    /// set; `None`: no absolute limit).
    pub fn with_max_grant_lifetime(mut self, seconds: Option<i64>) -> Self {
        self.max_grant_lifetime = seconds;
        self
    }

    /// Replaces the access token strategy.
    pub fn with_strategy(mut self, strategy: impl AccessTokenStrategy) -> Self {
        self.strategy = Arc::new(strategy);
        self
    }

    /// The access token strategy.
    pub fn strategy(&self) -> &Arc<dyn AccessTokenStrategy> {
        &self.strategy
    }

    /// The access token lifetime for `grant_type`.
    pub fn lifetime(&self, grant_type: &str) -> i64 {
        self.lifetimes_by_grant
            .get(grant_type)
            .copied()
            .unwrap_or(self.access_token_lifetime)
    }

    /// Mints what `issuance` describes for `client`, at `clock`'s current time.
    pub fn issue(
        &self,
        random: &dyn RandomSource,
        clock: &dyn Clock,
        issuer: Option<&str>,
        client: &dyn Client,
        issuance: &Issuance,
    ) -> Result<IssuedToken, OAuthError> {
        self.issue_as(
            random,
            clock,
            issuer,
            client,
            issuance,
            issuance.subject.as_deref(),
        )
    }

    /// [`issue`](Self::issue), with `subject` the `sub` the client is told for the
    /// token's user ([`StrategyContext::subject`]).
    pub fn issue_as(
        &self,
        random: &dyn RandomSource,
        clock: &dyn Clock,
        issuer: Option<&str>,
        client: &dyn Client,
        issuance: &Issuance,
        subject: Option<&str>,
    ) -> Result<IssuedToken, OAuthError> {
        let now = clock.now();
        let mut record = TokenRecord::new(
            String::new(),
            issuance.client_id.clone(),
            issuance.grant_type.clone(),
            issuance.grant_id.clone(),
            now,
            self.lifetime(&issuance.grant_type),
        );
        record.scope = issuance.scope.clone();
        record.subject = issuance.subject.clone();
        record.audience = issuance.audience.clone();
        record.extras = issuance.extras.clone();
        let refresh_token = issuance
            .refresh_token
            .then(|| ordered_token(random, clock.now_millis()));
        if let Some(refresh) = &refresh_token {
            record.refresh_token_hash = Some(token_key(refresh));
            let grant_end = issuance
                .grant_expires_at
                .or_else(|| self.max_grant_lifetime.map(|l| now.saturating_add(l)));
            let idle_end = self.refresh_token_lifetime.map(|l| now.saturating_add(l));
            if let Some(end) = grant_end {
                record.extras.insert::<GrantExpiresAt>(end);
            }
            record.refresh_token_expires_at = match (idle_end, grant_end) {
                (Some(idle), Some(grant)) => Some(idle.min(grant)),
                (idle, grant) => idle.or(grant),
            };
        }
        let (access_token, key) = self.strategy.mint_keyed(&StrategyContext {
            issuer,
            client,
            record: &record,
            clock,
            random,
            subject,
        })?;
        record.access_token_hash = key;
        Ok(IssuedToken {
            access_token,
            refresh_token,
            record,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::model::ClientRecord;
    #[allow(clippy::disallowed_types)] // a test is a composition root
    use crate::random::OsRandom;

    fn request(grant_type: &str, refresh: bool) -> Issuance {
        Issuance::new(grant_type, "c", Scope::parse("read").unwrap(), "g")
            .with_refresh_token(refresh)
    }

    fn issue(
        generator: &BearerTokenGenerator,
        clock: &ManualClock,
        issuance: &Issuance,
    ) -> IssuedToken {
        generator
            .issue(&OsRandom, clock, None, &ClientRecord::new("c"), issuance)
            .unwrap()
    }

    #[test]
    fn per_grant_lifetime_and_hashes() {
        let generator =
            BearerTokenGenerator::default().with_grant_lifetime("client_credentials", 60);
        let clock = ManualClock::new(1000);
        let issued = issue(&generator, &clock, &request("client_credentials", false));
        assert_eq!(issued.record.expires_in, 60);
        assert_eq!(issued.record.issued_at, 1000);
        assert!(issued.access_token.starts_with("0000000f4240."));
        assert_eq!(
            issued.record.access_token_hash,
            token_key(&issued.access_token)
        );
        assert!(issued.refresh_token.is_none());
        let issued = issue(&generator, &clock, &request("authorization_code", true));
        assert_eq!(issued.record.expires_in, 3600);
        let refresh = issued.refresh_token.clone().unwrap();
        assert_eq!(issued.record.refresh_token_hash, Some(token_key(&refresh)));
        assert_eq!(
            issued.record.refresh_token_expires_at,
            Some(1000 + 30 * 24 * 3600)
        );
    }

    #[test]
    fn rotation_restarts_the_idle_lifetime_but_never_passes_the_grant_lifetime() {
        let generator = BearerTokenGenerator::default()
            .with_refresh_token_lifetime(Some(100))
            .with_max_grant_lifetime(Some(250));
        let clock = ManualClock::new(1000);
        let first = issue(&generator, &clock, &request("authorization_code", true));
        assert_eq!(first.record.refresh_token_expires_at, Some(1100));
        assert_eq!(first.record.grant_expires_at(), Some(1250));
        clock.set(1090);
        let mut rotation = request("refresh_token", true);
        rotation.grant_expires_at = first.record.grant_expires_at();
        let second = issue(&generator, &clock, &rotation);
        assert_eq!(
            second.record.refresh_token_expires_at,
            Some(1190),
            "idle restarts"
        );
        assert_eq!(second.record.grant_expires_at(), Some(1250), "carried over");
        clock.set(1180);
        let third = issue(&generator, &clock, &rotation);
        assert_eq!(
            third.record.refresh_token_expires_at,
            Some(1250),
            "capped at the grant's end"
        );
        let cc = issue(&generator, &clock, &request("client_credentials", false));
        assert_eq!(cc.record.grant_expires_at(), None);
        assert!(cc.record.extras.is_empty());
    }

    #[test]
    fn response_is_no_store_json() {
        let clock = ManualClock::new(0);
        let issued = issue(
            &BearerTokenGenerator::default(),
            &clock,
            &request("x", true),
        );
        let response = TokenResponse::for_token(&issued).into_response();
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["pragma"], "no-cache");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "read");
        assert!(body["refresh_token"].is_string());
    }

    #[test]
    fn extensions_add_members_and_headers_but_never_replace_the_standard_ones() {
        let clock = ManualClock::new(0);
        let issued = issue(
            &BearerTokenGenerator::default(),
            &clock,
            &request("x", false),
        );
        let mut response = TokenResponse::for_token(&issued);
        response.insert("id_token", "eyJ...");
        response.insert("access_token", "forged");
        response.set_token_type("DPoP");
        response.insert_header(
            HeaderName::from_static("dpop-nonce"),
            HeaderValue::from_static("n-1"),
        );
        let response = response.into_response();
        assert_eq!(response.headers()["dpop-nonce"], "n-1");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["id_token"], "eyJ...");
        assert_eq!(body["access_token"], issued.access_token);
        assert_eq!(body["token_type"], "DPoP");
    }
}
