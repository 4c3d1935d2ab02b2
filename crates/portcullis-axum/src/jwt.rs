//! Validating JWT access tokens (RFC 9068) locally, so that an API checks tokens with
//! no call to the authorization server per request.
//!
//! [`JwtValidator`] is a [`TokenValidator`]: it discovers the issuer's metadata (RFC
//! 8414, then OpenID discovery), fetches its `jwks_uri`, keeps the keys for as long as
//! the JWK Set's `Cache-Control: max-age` allows (revalidating with its `ETag`), and
//! refetches them when a token names an unknown `kid` — at most once every few seconds,
//! so a flood of forged `kid`s cannot turn into a flood of fetches. Each token must be a
//! JWS with `typ: at+jwt`, signed by one of those keys with an allowed algorithm, with
//! `iss` the issuer, `aud` naming this API, and `exp` (and `nbf`, `iat`) good at the
//! validator's clock with a small skew (see `portcullis_core::jose`).
//!
//! Fetching goes through one guard ([`check_url`]): https only (http for a loopback
//! host, for development), no credentials in the URL, no redirects, a 5-second timeout
//! and a size bound on every document.
//!
//! A JWT is checked where it is presented; a revoked token stays accepted until it
//! expires. Keep access tokens short-lived, or use
//! [`RemoteIntrospection`](crate::remote::RemoteIntrospection) where revocation must
//! take effect at once.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portcullis_core::jose::{
    self, Algorithm, CryptoProvider, JoseError, JwkSet, KeySet, Validation,
};
use portcullis_core::{Clock, Scope, StoreError, SystemClock, TokenInfo, TokenValidator};

/// The largest metadata document or JWK Set fetched.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// How long keys are kept when the JWK Set says nothing, and at most.
const DEFAULT_MAX_AGE: i64 = 300;
const LONGEST_MAX_AGE: i64 = 24 * 3600;

pub use crate::fetch::check_url;

/// What a fetch brought: a document, or a `304` for the cached one.
enum Fetched {
    /// The document, its `ETag` and its `Cache-Control` max-age.
    Document(serde_json::Value, Option<String>, i64),
    /// `304 Not Modified`, with its own `Cache-Control` max-age.
    NotModified(i64),
}

/// The keys as last fetched.
#[derive(Default)]
struct Keys {
    jwks_uri: Option<String>,
    keys: Arc<KeySet>,
    etag: Option<String>,
    /// When the keys must be revalidated (UTC seconds).
    fresh_until: i64,
    /// When they were last fetched, for the unknown-`kid` throttle.
    fetched_at: Option<i64>,
    /// Why the last fetch failed, while it is not retried.
    failure: Option<String>,
}

/// Validates JWT access tokens against the issuer's published keys.
pub struct JwtValidator {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: u32,
    refetch_interval: i64,
    provider: CryptoProvider,
    /// The client, or why it could not be built (every validation then fails).
    http: Result<reqwest::Client, String>,
    clock: Arc<dyn Clock>,
    keys: Arc<Mutex<Keys>>,
    fetching: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtValidator {
    /// Tokens of `issuer` (e.g. `https://auth.example.com`) meant for one of
    /// `audiences` (this API's identifiers); ES256, EdDSA, RS256 and PS256 allowed;
    /// 30 s of skew; unknown `kid`s refetch the keys at most every 5 s.
    pub fn new<I, S>(issuer: impl Into<String>, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            issuer: issuer.into(),
            audiences: audiences.into_iter().map(Into::into).collect(),
            algorithms: vec![
                Algorithm::Es256,
                Algorithm::EdDsa,
                Algorithm::Rs256,
                Algorithm::Ps256,
            ],
            leeway: 30,
            refetch_interval: 5,
            provider: jose::aws_lc_rs::provider(),
            http: crate::fetch::client(),
            clock: Arc::new(SystemClock),
            keys: Arc::new(Mutex::new(Keys::default())),
            fetching: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Only these algorithms are accepted.
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub fn with_leeway(mut self, seconds: u32) -> Self {
        self.leeway = seconds;
        self
    }

    /// The shortest time between two fetches caused by unknown `kid`s, in seconds (at
    /// least 1). It is also the shortest time the keys are kept, whatever the JWK
    /// Set's `Cache-Control` says (`no-cache`, `max-age=0`), and the time a failed
    /// fetch waits before it is retried.
    pub fn with_refetch_interval(mut self, seconds: i64) -> Self {
        self.refetch_interval = seconds.max(1);
        self
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the crypto provider.
    pub fn with_provider(mut self, provider: CryptoProvider) -> Self {
        self.provider = provider;
        self
    }

    fn error(message: impl Into<String>) -> StoreError {
        StoreError::new(message)
    }

    async fn get_json(&self, url: &str, etag: Option<&str>) -> Result<Fetched, StoreError> {
        let checked = check_url(url).map_err(Self::error)?;
        let http = self.http.as_ref().map_err(|e| Self::error(e.clone()))?;
        let mut request = http.get(checked).header("accept", "application/json");
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Self::error(format!("{url}: {e}")))?;
        let status = response.status();
        let max_age = max_age(response.headers());
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified(max_age));
        }
        if !status.is_success() {
            return Err(Self::error(format!("{url}: HTTP {status}")));
        }
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = crate::fetch::read_body(response, MAX_DOCUMENT_BYTES, url)
            .await
            .map_err(Self::error)?;
        let value = serde_json::from_slice(&body)
            .map_err(|e| Self::error(format!("{url}: not JSON ({e})")))?;
        Ok(Fetched::Document(value, etag, max_age))
    }

    /// The issuer's `jwks_uri`, from its RFC 8414 metadata or its OpenID discovery
    /// document; the document's `issuer` must be the issuer (RFC 8414 §3.3).
    async fn discover(&self) -> Result<String, StoreError> {
        let issuer = self.issuer.trim_end_matches('/');
        let parsed = check_url(issuer).map_err(Self::error)?;
        // RFC 8414 §3.1: the well-known suffix goes between the host and the path.
        let path = parsed.path().trim_end_matches('/');
        let origin = parsed.origin().ascii_serialization();
        let candidates = [
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{issuer}/.well-known/openid-configuration"),
        ];
        let mut last = None;
        for url in candidates {
            match self.get_json(&url, None).await {
                Ok(Fetched::Document(document, _, _)) => {
                    if document["issuer"].as_str() != Some(self.issuer.as_str()) {
                        return Err(Self::error(format!(
                            "{url}: the metadata is for issuer {}, not {}",
                            document["issuer"], self.issuer
                        )));
                    }
                    return document["jwks_uri"]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| Self::error(format!("{url}: no jwks_uri")));
                }
                Ok(Fetched::NotModified(_)) => {
                    last = Some(Self::error(format!("{url}: unexpected 304")))
                }
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| Self::error("no metadata")))
    }

    /// The cached keys, when no fetch is due: not forced and still fresh, or forced
    /// (an unknown `kid`) but fetched within the refetch interval. A failed fetch with
    /// no keys to fall back on stays an error until it is retried.
    fn cached(&self, force: bool, now: i64) -> Result<Option<Arc<KeySet>>, StoreError> {
        let keys = self.keys.lock().map_err(|_| Self::error("poisoned"))?;
        let Some(fetched_at) = keys.fetched_at else {
            return Ok(None);
        };
        let due = if force {
            now.saturating_sub(fetched_at) >= self.refetch_interval
        } else {
            now >= keys.fresh_until
        };
        if due {
            return Ok(None);
        }
        match &keys.failure {
            Some(failure) if keys.keys.is_empty() => Err(Self::error(failure.clone())),
            _ => Ok(Some(keys.keys.clone())),
        }
    }

    /// Fetches (or revalidates) the keys when [`cached`](Self::cached) says a fetch is
    /// due; one fetch at a time, and a caller that waited for another's fetch uses its
    /// result — so any number of concurrent forged `kid`s cause one fetch per interval.
    async fn refresh(&self, force: bool) -> Result<Arc<KeySet>, StoreError> {
        if let Some(keys) = self.cached(force, self.clock.now())? {
            return Ok(keys);
        }
        let _one_at_a_time = self.fetching.lock().await;
        let now = self.clock.now();
        if let Some(keys) = self.cached(force, now)? {
            return Ok(keys);
        }
        let (jwks_uri, etag) = {
            let keys = self.keys.lock().map_err(|_| Self::error("poisoned"))?;
            (keys.jwks_uri.clone(), keys.etag.clone())
        };
        let fetched = match jwks_uri {
            Some(uri) => Ok(uri),
            None => self.discover().await,
        };
        // A body that is no JWK Set fails like an unreachable issuer.
        let fetched = match fetched {
            Ok(uri) => match self.get_json(&uri, etag.as_deref()).await {
                Ok(Fetched::Document(document, etag, max_age)) => {
                    serde_json::from_value::<JwkSet>(document)
                        .map(|set| (uri.clone(), Some((set, etag)), max_age))
                        .map_err(|e| Self::error(format!("{uri}: not a JWK Set ({e})")))
                }
                Ok(Fetched::NotModified(max_age)) => Ok((uri, None, max_age)),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        let mut keys = self.keys.lock().map_err(|_| Self::error("poisoned"))?;
        keys.fetched_at = Some(now);
        let (jwks_uri, fetched, max_age) = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                // The issuer is unreachable or answers nonsense: keep the keys there
                // are, and do not ask again before the refetch interval, so that an
                // outage is not multiplied by the request rate.
                keys.fresh_until = now.saturating_add(self.refetch_interval);
                keys.failure = Some(error.to_string());
                // The issuer may have moved its keys: the next attempt reads its
                // metadata again.
                keys.jwks_uri = None;
                keys.etag = None;
                if keys.keys.is_empty() {
                    return Err(error);
                }
                tracing::warn!(%error, "refreshing the issuer's keys failed; the cached keys stay in use");
                return Ok(keys.keys.clone());
            }
        };
        keys.jwks_uri = Some(jwks_uri);
        keys.failure = None;
        if let Some((set, etag)) = fetched {
            keys.keys = Arc::new(KeySet::from_jwk_set(&self.provider, &set, &self.algorithms));
            keys.etag = etag;
        }
        // `no-cache`, `no-store` or `max-age=0` would make every request a fetch: the
        // keys are kept at least for the refetch interval.
        keys.fresh_until = now.saturating_add(max_age.max(self.refetch_interval).max(1));
        Ok(keys.keys.clone())
    }

    fn validation(&self) -> Validation {
        Validation::new(self.clock.now())
            .with_typ(jose::AT_JWT)
            .with_issuer(self.issuer.clone())
            .with_audience(self.audiences.clone())
            .with_algorithms(self.algorithms.clone())
            .with_leeway(self.leeway)
    }
}

/// `max-age` of a `Cache-Control` header, bounded; `no-store`/`no-cache` mean 0.
fn max_age(headers: &reqwest::header::HeaderMap) -> i64 {
    let Some(value) = headers.get("cache-control").and_then(|v| v.to_str().ok()) else {
        return DEFAULT_MAX_AGE;
    };
    let mut age = DEFAULT_MAX_AGE;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return 0;
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            age = seconds.trim_matches('"').parse().unwrap_or(DEFAULT_MAX_AGE);
        }
    }
    age.clamp(0, LONGEST_MAX_AGE)
}

#[async_trait]
impl TokenValidator for JwtValidator {
    async fn validate(&self, access_token: &str) -> Result<Option<TokenInfo>, StoreError> {
        if access_token.bytes().filter(|b| *b == b'.').count() != 2 {
            return Ok(None);
        }
        let keys = self.refresh(false).await?;
        let validation = self.validation();
        let verified = match jose::verify(access_token, &keys, &validation) {
            Err(JoseError::UnknownKey) => {
                // A key published since the last fetch, or a forged kid: refetch, at
                // most once per refetch interval (see `refresh`).
                let keys = self.refresh(true).await?;
                jose::verify(access_token, &keys, &validation)
            }
            other => other,
        };
        let claims = match verified {
            Ok(verified) => verified.claims,
            Err(error) => {
                tracing::debug!(%error, "JWT access token refused");
                return Ok(None);
            }
        };
        let Some(client_id) = claims.get("client_id").and_then(|v| v.as_str()) else {
            return Ok(None);
        };
        let Some(expires_at) = claims.get("exp").and_then(serde_json::Value::as_i64) else {
            return Ok(None);
        };
        let scope = match claims.get("scope").and_then(|v| v.as_str()) {
            Some(scope) => match Scope::parse(scope) {
                Ok(scope) => scope,
                Err(_) => return Ok(None),
            },
            None => Scope::empty(),
        };
        let mut info = TokenInfo::new(client_id, scope, expires_at);
        // RFC 9068 §2.2: a client_credentials token's `sub` is the client itself.
        info.subject = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .filter(|sub| *sub != client_id)
            .map(str::to_owned);
        info.audience = match claims.get("aud") {
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            Some(serde_json::Value::Array(many)) => many
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Some(info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_decides_how_long_keys_are_kept() {
        let headers = |value: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("cache-control", value.parse().unwrap());
            h
        };
        assert_eq!(max_age(&headers("public, max-age=600")), 600);
        assert_eq!(max_age(&headers("no-store")), 0);
        assert_eq!(max_age(&headers("max-age=99999999")), LONGEST_MAX_AGE);
        assert_eq!(max_age(&headers("max-age=nonsense")), DEFAULT_MAX_AGE);
        assert_eq!(max_age(&reqwest::header::HeaderMap::new()), DEFAULT_MAX_AGE);
    }
}
