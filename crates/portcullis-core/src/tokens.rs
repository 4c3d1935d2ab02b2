//! Bearer token generation (RFC 6749 §5.1, RFC 6750).
//!
//! The *strategy* that mints an access token ([`AccessTokenFormat`]: opaque by
//! default) is separate from its *storage* (the [`TokenStore`](crate::store::TokenStore)),
//! which only ever sees their keys ([`token_key`]). Opaque tokens carry 256 bits from
//! the injected CSPRNG behind a public, time-ordered prefix
//! ([`ordered_token`](crate::random::ordered_token)), so that stores append new tokens
//! to their indexes.
//! Lifetimes are configurable per grant type; a refresh token is issued only when the
//! grant allows it, the client may use the `refresh_token` grant, and that grant is
//! registered.

use std::collections::HashMap;

use http::StatusCode;
use serde::Serialize;

use crate::clock::Clock;
use crate::http::{json_response, OAuthResponse};
use crate::model::TokenRecord;
use crate::random::{ordered_token, RandomSource};
use crate::scope::Scope;
use crate::secret::token_key;

/// Mints the access token string. Opaque tokens are the default; other formats (JWT)
/// plug in here.
pub trait AccessTokenFormat: Send + Sync + 'static {
    /// A new access token for the token described by `record` (whose key fields are
    /// not filled in yet), issued at `clock`'s current time.
    fn mint(&self, random: &dyn RandomSource, clock: &dyn Clock, record: &TokenRecord) -> String;
}

/// Opaque random access tokens: a public millisecond timestamp and 256 secret bits
/// ([`ordered_token`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct OpaqueTokens;

impl AccessTokenFormat for OpaqueTokens {
    fn mint(&self, random: &dyn RandomSource, clock: &dyn Clock, _record: &TokenRecord) -> String {
        ordered_token(random, clock.now_millis())
    }
}

/// What a grant asks the generator for.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    /// The client the token is for.
    pub client_id: &'a str,
    /// The grant type issuing it.
    pub grant_type: &'a str,
    /// The scope granted.
    pub scope: Scope,
    /// The user, if any.
    pub subject: Option<&'a str>,
    /// The grant family id.
    pub grant_id: String,
    /// True when a refresh token should be issued too.
    pub include_refresh_token: bool,
    /// The token's audiences (`aud`).
    pub audience: Vec<String>,
    /// When the grant ends for good: `None` for a new grant (it gets the generator's
    /// maximum grant lifetime), the presented token's value on a refresh.
    pub grant_expires_at: Option<i64>,
}

/// A freshly issued token: the plain values for the client, the record for the store.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The access token, sent to the client only.
    pub access_token: String,
    /// The refresh token, if issued, sent to the client only.
    pub refresh_token: Option<String>,
    /// What is stored: hashes and metadata.
    pub record: TokenRecord,
}

impl IssuedToken {
    /// The RFC 6749 §5.1 JSON token response, with `Cache-Control: no-store`.
    pub fn to_response(&self) -> OAuthResponse {
        let scope = &self.record.scope;
        let body = TokenResponseBody {
            access_token: &self.access_token,
            token_type: "Bearer",
            expires_in: self.record.expires_in,
            refresh_token: self.refresh_token.as_deref(),
            scope: (!scope.is_empty()).then(|| scope.to_string()),
        };
        json_response(StatusCode::OK, &body)
    }
}

/// The RFC 6749 §5.1 body, serialized straight from this struct.
#[derive(Serialize)]
struct TokenResponseBody<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// Issues bearer tokens with configurable lifetimes.
///
/// A refresh token has two limits (RFC 9700 §4.14.2): an *idle* lifetime
/// ([`with_refresh_token_lifetime`](Self::with_refresh_token_lifetime), 30 days), which
/// every rotation starts again, and the *grant's* lifetime
/// ([`with_max_grant_lifetime`](Self::with_max_grant_lifetime), 30 days), counted from
/// the grant's first refresh token and never extended by a rotation.
pub struct BearerTokenGenerator {
    access_token_lifetime: i64,
    lifetimes_by_grant: HashMap<String, i64>,
    refresh_token_lifetime: Option<i64>,
    max_grant_lifetime: Option<i64>,
    format: Box<dyn AccessTokenFormat>,
}

impl Default for BearerTokenGenerator {
    fn default() -> Self {
        Self {
            access_token_lifetime: 3600,
            lifetimes_by_grant: HashMap::new(),
            refresh_token_lifetime: Some(30 * 24 * 3600),
            max_grant_lifetime: Some(30 * 24 * 3600),
            format: Box::new(OpaqueTokens),
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

    /// Replaces the access token format.
    pub fn with_format(mut self, format: impl AccessTokenFormat) -> Self {
        self.format = Box::new(format);
        self
    }

    /// The access token lifetime for `grant_type`.
    pub fn lifetime(&self, grant_type: &str) -> i64 {
        self.lifetimes_by_grant
            .get(grant_type)
            .copied()
            .unwrap_or(self.access_token_lifetime)
    }

    /// Mints a token at `clock`'s current time.
    pub fn issue(
        &self,
        random: &dyn RandomSource,
        clock: &dyn Clock,
        request: TokenRequest<'_>,
    ) -> IssuedToken {
        let now = clock.now();
        let mut record = TokenRecord {
            access_token_hash: String::new(),
            refresh_token_hash: None,
            client_id: request.client_id.to_owned(),
            scope: request.scope,
            subject: request.subject.map(str::to_owned),
            grant_type: request.grant_type.to_owned(),
            grant_id: request.grant_id,
            issued_at: now,
            expires_in: self.lifetime(request.grant_type),
            refresh_token_expires_at: None,
            grant_expires_at: None,
            revoked: false,
            audience: request.audience,
        };
        let access_token = self.format.mint(random, clock, &record);
        record.access_token_hash = token_key(&access_token);
        let refresh_token = request
            .include_refresh_token
            .then(|| ordered_token(random, clock.now_millis()));
        if let Some(refresh) = &refresh_token {
            record.refresh_token_hash = Some(token_key(refresh));
            let grant_end = request
                .grant_expires_at
                .or_else(|| self.max_grant_lifetime.map(|l| now.saturating_add(l)));
            let idle_end = self.refresh_token_lifetime.map(|l| now.saturating_add(l));
            record.grant_expires_at = grant_end;
            record.refresh_token_expires_at = match (idle_end, grant_end) {
                (Some(idle), Some(grant)) => Some(idle.min(grant)),
                (idle, grant) => idle.or(grant),
            };
        }
        IssuedToken {
            access_token,
            refresh_token,
            record,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::random::OsRandom;

    fn request(grant_type: &str, refresh: bool) -> TokenRequest<'_> {
        TokenRequest {
            client_id: "c",
            grant_type,
            scope: Scope::parse("read").unwrap(),
            subject: None,
            grant_id: "g".into(),
            include_refresh_token: refresh,
            audience: vec![],
            grant_expires_at: None,
        }
    }

    #[test]
    fn per_grant_lifetime_and_hashes() {
        let generator =
            BearerTokenGenerator::default().with_grant_lifetime("client_credentials", 60);
        let clock = ManualClock::new(1000);
        let issued = generator.issue(&OsRandom, &clock, request("client_credentials", false));
        assert_eq!(issued.record.expires_in, 60);
        assert_eq!(issued.record.issued_at, 1000);
        assert!(issued.access_token.starts_with("0000000f4240."));
        assert_eq!(
            issued.record.access_token_hash,
            token_key(&issued.access_token)
        );
        assert!(issued.refresh_token.is_none());
        let issued = generator.issue(&OsRandom, &clock, request("authorization_code", true));
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
        let first = generator.issue(&OsRandom, &clock, request("authorization_code", true));
        assert_eq!(first.record.refresh_token_expires_at, Some(1100));
        assert_eq!(first.record.grant_expires_at, Some(1250));
        clock.set(1090);
        let mut rotation = request("refresh_token", true);
        rotation.grant_expires_at = first.record.grant_expires_at;
        let second = generator.issue(&OsRandom, &clock, rotation.clone());
        assert_eq!(
            second.record.refresh_token_expires_at,
            Some(1190),
            "idle restarts"
        );
        assert_eq!(second.record.grant_expires_at, Some(1250), "carried over");
        clock.set(1180);
        let third = generator.issue(&OsRandom, &clock, rotation);
        assert_eq!(
            third.record.refresh_token_expires_at,
            Some(1250),
            "capped at the grant's end"
        );
        let cc = generator.issue(&OsRandom, &clock, request("client_credentials", false));
        assert_eq!(cc.record.grant_expires_at, None);
    }

    #[test]
    fn response_is_no_store_json() {
        let clock = ManualClock::new(0);
        let issued = BearerTokenGenerator::default().issue(&OsRandom, &clock, request("x", true));
        let response = issued.to_response();
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["pragma"], "no-cache");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "read");
        assert!(body["refresh_token"].is_string());
    }
}
