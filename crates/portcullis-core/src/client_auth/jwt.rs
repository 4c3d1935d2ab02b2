//! JWT client authentication: `private_key_jwt` and `client_secret_jwt` (RFC 7523
//! §2.2 and §3, RFC 7521 §4.2, OpenID Connect Core §9).
//!
//! The client sends `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//! and `client_assertion`, a JWT it signed (with its private key) or MACed (with its
//! secret), and optionally its `client_id`. The assertion is accepted when:
//!
//! - `iss` and `sub` are both the client_id (and the `client_id` parameter, if sent);
//! - `aud` (a string or an array) names the issuer or the URL of the endpoint it is
//!   presented at ([`JwtClientAuthConfig::with_endpoint_url`]);
//! - `exp` is present and not past (with [`JwtClientAuthConfig::with_leeway`] of
//!   skew), `nbf` is not ahead, `iat` not in the future; and its lifetime — `exp - iat`,
//!   or `exp - now` without `iat` — is at most
//!   [`JwtClientAuthConfig::with_max_lifetime`] (5 minutes by default): a long-lived
//!   assertion is as good as a password sent in the clear;
//! - `jti` is present and was not used by this client before
//!   ([`AssertionReplayStore`], kept until `exp`);
//! - the algorithm is never `none`; asymmetric (RS256, PS256, ES256, EdDSA) for
//!   `private_key_jwt`, HMAC (HS256, HS384, HS512) for `client_secret_jwt`; and, when
//!   the client registered `token_endpoint_auth_signing_alg`, that one only;
//! - the signature verifies with a key of the client's `jwks` or `jwks_uri`
//!   (`private_key_jwt`; fetched through a [`JwksFetcher`], cached, fetched again once
//!   on an unknown `kid` — not more often than every few seconds, nor after a failed
//!   fetch, which is never cached as keys), or the MAC with its secret
//!   ([`ClientSecretSource`]).
//!
//! Anything else is `invalid_client`; a request missing a parameter or naming another
//! assertion type is `invalid_request`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::{failed, ClientAuthenticator};
use crate::clock::Clock;
use crate::error::OAuthError;
use crate::http::{OAuthRequest, Params};
use crate::jose::{
    self, Algorithm, CryptoProvider, HmacAlgorithm, JoseError, JwkSet, KeySet, Validation,
};
use crate::model::{AuthMethod, Client};
use crate::store::{AssertionReplayStore, ClientStore};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What both JWT authenticators check assertions against: who the server is, where
/// its endpoints are, its clock, and the time bounds.
#[derive(Clone)]
pub struct JwtClientAuthConfig {
    issuer: String,
    endpoint_urls: BTreeMap<String, String>,
    clock: Arc<dyn Clock>,
    leeway: i64,
    max_lifetime: i64,
}

impl fmt::Debug for JwtClientAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtClientAuthConfig")
            .field("issuer", &self.issuer)
            .field("endpoint_urls", &self.endpoint_urls)
            .field("leeway", &self.leeway)
            .field("max_lifetime", &self.max_lifetime)
            .finish_non_exhaustive()
    }
}

impl JwtClientAuthConfig {
    /// Default bound on an assertion's lifetime, in seconds: 5 minutes.
    pub const DEFAULT_MAX_LIFETIME: i64 = 300;
    /// Default clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub const DEFAULT_LEEWAY: i64 = 30;

    /// Assertions for `issuer` (which `aud` may name everywhere), checked with
    /// `clock`'s time. Add the endpoint URLs with
    /// [`with_endpoint_url`](Self::with_endpoint_url) (see
    /// [`AuthorizationServer::endpoint_url`](crate::AuthorizationServer::endpoint_url)).
    pub fn new(issuer: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            issuer: issuer.into(),
            endpoint_urls: BTreeMap::new(),
            clock,
            leeway: Self::DEFAULT_LEEWAY,
            max_lifetime: Self::DEFAULT_MAX_LIFETIME,
        }
    }

    /// `aud` may also name `url` at endpoint `endpoint` (an
    /// [`EndpointName`](crate::EndpointName): `token`, `revocation`, `introspection`).
    pub fn with_endpoint_url(mut self, endpoint: &str, url: impl Into<String>) -> Self {
        self.endpoint_urls.insert(endpoint.to_owned(), url.into());
        self
    }

    /// The clock skew allowed on `exp`, `nbf` and `iat`, in seconds (at least 0).
    pub fn with_leeway(mut self, seconds: i64) -> Self {
        self.leeway = seconds.max(0);
        self
    }

    /// The longest lifetime accepted, in seconds (at least 1): `exp - iat`, or
    /// `exp - now` for an assertion without `iat`.
    pub fn with_max_lifetime(mut self, seconds: i64) -> Self {
        self.max_lifetime = seconds.max(1);
        self
    }

    /// What `aud` may name at `endpoint`: the issuer and the endpoint's URL.
    fn audiences(&self, endpoint: &str) -> Vec<String> {
        let mut audiences = vec![self.issuer.clone()];
        if let Some(url) = self.endpoint_urls.get(endpoint) {
            audiences.push(url.clone());
        }
        audiences
    }

    fn validation(&self, now: i64, endpoint: &str) -> Validation {
        Validation::new(now)
            .with_leeway(u32::try_from(self.leeway).unwrap_or(u32::MAX))
            .with_audience(self.audiences(endpoint))
    }
}

/// Fetches the JWK Set a client registered as its `jwks_uri`. The core fetches
/// nothing itself: `portcullis serve` implements it with its SSRF-guarded HTTP client
/// (public addresses only, a size cap, a timeout). [`PrivateKeyJwt`] caches what it
/// returns.
#[async_trait]
pub trait JwksFetcher: Send + Sync + 'static {
    /// The body of the document at `url` (a JWK Set, RFC 7517 §5), or why it could not
    /// be fetched (in words for a log, never shown to the client).
    async fn fetch_jwks(&self, url: &str) -> Result<Vec<u8>, String>;
}

/// Gives the secret of a `client_secret_jwt` client, the HMAC key of its assertions:
/// the octets of its UTF-8 `client_secret` (OpenID Connect Core §9). A hash cannot
/// give it back, so the server keeps it in a recoverable form — `portcullis serve`
/// sealed with its key-encryption key under
/// [`SEALED_CLIENT_SECRET`](crate::SEALED_CLIENT_SECRET).
pub trait ClientSecretSource: Send + Sync + 'static {
    /// The secret of `client`; `Ok(None)` when it has none that can be recovered.
    fn client_secret(&self, client: &dyn Client) -> Result<Option<Vec<u8>>, OAuthError>;
}

fn invalid(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_client(description)
}

/// What the request presents, before any check of the signature.
struct Presented<'a> {
    assertion: &'a str,
    header: Map<String, Value>,
    client_id: String,
}

/// The header `alg` of the assertion in `params`, when it has one that decodes.
fn assertion_alg(params: &Params) -> Option<String> {
    // Only the header is decoded: both authenticators ask this of every assertion,
    // and `authenticate` decodes the whole of it once.
    let header = params.get("client_assertion")?.split('.').next()?;
    if header.len() > MAX_ASSERTION_HEADER_BYTES {
        return None;
    }
    let header = URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: Map<String, Value> = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// The longest encoded JOSE header [`assertion_alg`] reads.
const MAX_ASSERTION_HEADER_BYTES: usize = 4096;

fn presented<'a>(params: &'a Params) -> Result<Presented<'a>, OAuthError> {
    match params.get("client_assertion_type") {
        None => {
            return Err(OAuthError::invalid_request(
                "client_assertion_type is required with a client_assertion",
            ))
        }
        Some(JWT_BEARER_ASSERTION_TYPE) => {}
        Some(_) => {
            return Err(OAuthError::invalid_request(format!(
                "unsupported client_assertion_type: use {JWT_BEARER_ASSERTION_TYPE}"
            )))
        }
    }
    let Some(assertion) = params.get("client_assertion").filter(|a| !a.is_empty()) else {
        return Err(OAuthError::invalid_request(
            "client_assertion is required with a client_assertion_type",
        ));
    };
    let (header, claims) = jose::unverified_parts(assertion, &Validation::new(0))
        .map_err(|_| invalid("the client assertion is not a well-formed signed JWT"))?;
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    let (Some(iss), Some(sub)) = (iss, sub) else {
        return Err(invalid(
            "the client assertion must have iss and sub, both the client_id",
        ));
    };
    if iss != sub {
        return Err(invalid(
            "the client assertion's iss and sub must both be the client_id",
        ));
    }
    if let Some(client_id) = params.get("client_id") {
        if client_id != iss {
            return Err(invalid(
                "the client_id parameter differs from the client assertion's iss and sub",
            ));
        }
    }
    Ok(Presented {
        assertion,
        header,
        client_id: iss.to_owned(),
    })
}

/// Finds the client and checks it may use `method` at `endpoint`.
async fn client_for<S: ClientStore>(
    store: &S,
    client_id: &str,
    method: &'static str,
    endpoint: &str,
) -> Result<S::Client, OAuthError> {
    let Some(client) = store.find_client(client_id).await? else {
        tracing::debug!(method, "client authentication failed: unknown client");
        return Err(failed());
    };
    if !client.check_endpoint_auth_method(method, endpoint) {
        tracing::debug!(client_id = %client.client_id(), method, "client authentication failed: method not allowed");
        return Err(failed());
    }
    Ok(client)
}

/// The `alg` of `header`, refused when `none`, not a string, or not the one the
/// client registered.
fn header_alg<'h>(
    header: &'h Map<String, Value>,
    client: &dyn Client,
) -> Result<&'h str, OAuthError> {
    let Some(alg) = header.get("alg").and_then(Value::as_str) else {
        return Err(invalid("the client assertion's header has no alg"));
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(invalid(
            "unsigned client assertions (alg none) are not accepted",
        ));
    }
    if let Some(registered) = client.metadata().token_endpoint_auth_signing_alg.as_deref() {
        if alg != registered {
            return Err(invalid(format!(
                "the client assertion is signed with {alg}, but this client registered \
                 token_endpoint_auth_signing_alg {registered}"
            )));
        }
    }
    Ok(alg)
}

fn describe(error: &JoseError) -> OAuthError {
    invalid(match error {
        JoseError::AlgNone => "unsigned client assertions (alg none) are not accepted".into(),
        JoseError::AlgorithmNotAllowed(alg) => {
            format!("the client assertion's algorithm {alg} is not accepted for this method")
        }
        JoseError::UnknownKey => {
            "no key of the client matches the client assertion's kid and algorithm".into()
        }
        JoseError::BadSignature => "the client assertion's signature is invalid".into(),
        JoseError::Expired => "the client assertion has expired (exp)".into(),
        JoseError::NotYetValid => "the client assertion is not valid yet (nbf)".into(),
        JoseError::IssuedInFuture => "the client assertion is issued in the future (iat)".into(),
        JoseError::InvalidClaim { claim: "aud", .. } => {
            "the client assertion's aud must name this server's issuer or the URL of this endpoint"
                .into()
        }
        JoseError::InvalidClaim { claim, reason } => {
            format!("the client assertion's {claim} is invalid: {reason}")
        }
        other => format!("the client assertion is invalid: {other}"),
    })
}

/// The checks after the signature: `jti` present, the lifetime bounded, and the `jti`
/// never used before by this client (recorded until `exp` and the leeway pass).
async fn check_claims_and_replay<S: AssertionReplayStore>(
    store: &S,
    config: &JwtClientAuthConfig,
    client_id: &str,
    claims: &Map<String, Value>,
    now: i64,
) -> Result<(), OAuthError> {
    let Some(jti) = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty())
    else {
        return Err(invalid("the client assertion must have a jti"));
    };
    if jti.len() > 256 {
        return Err(invalid("the client assertion's jti is too long"));
    }
    // `verify` made sure `exp` is a number and not past.
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or_else(|| invalid("the client assertion must have an exp"))?;
    let exp = exp.floor() as i64;
    let lifetime = match claims.get("iat").and_then(Value::as_f64) {
        Some(iat) => exp.saturating_sub(iat.floor() as i64),
        // Without iat: what is left of it, the skew forgiven.
        None => exp.saturating_sub(now).saturating_sub(config.leeway),
    };
    if lifetime > config.max_lifetime {
        return Err(invalid(format!(
            "the client assertion lives too long: at most {} seconds from iat to exp",
            config.max_lifetime
        )));
    }
    let keep_until = exp.saturating_add(config.leeway);
    if !store
        .record_assertion(client_id, jti, keep_until, now)
        .await?
    {
        tracing::warn!(client_id, "client assertion replayed (jti used before)");
        return Err(invalid(
            "this client assertion was used before: send a new one, with a new jti, each time",
        ));
    }
    Ok(())
}

/// A JWK Set fetched from a `jwks_uri`, and when.
struct CachedKeys {
    keys: Arc<JwkSet>,
    fetched_at: i64,
}

/// The key sets fetched from clients' `jwks_uri`s, by (client_id, URL): bounded in
/// size and lifetime; failures are never kept.
struct JwksCache {
    entries: Mutex<HashMap<(String, String), CachedKeys>>,
    /// When a fetch last failed, by (client_id, URL): no new attempt before
    /// `min_refetch_interval` has passed, so a broken or slow `jwks_uri` is not
    /// fetched on every request. Never keys.
    failures: Mutex<HashMap<(String, String), i64>>,
    max_entries: usize,
    lifetime: i64,
    min_refetch_interval: i64,
}

impl JwksCache {
    fn get(&self, key: &(String, String), now: i64) -> Option<(Arc<JwkSet>, i64)> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|cached| now - cached.fetched_at < self.lifetime)
            .map(|cached| (cached.keys.clone(), cached.fetched_at))
    }

    /// True when a fetch of `key` failed less than the refetch interval ago.
    fn failed_recently(&self, key: &(String, String), now: i64) -> bool {
        self.failures.lock().is_ok_and(|failures| {
            failures
                .get(key)
                .is_some_and(|at| now - at < self.min_refetch_interval)
        })
    }

    fn record_failure(&self, key: (String, String), now: i64) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.retain(|_, at| now - *at < self.min_refetch_interval);
            if failures.len() < self.max_entries {
                failures.insert(key, now);
            }
        }
    }

    fn put(&self, key: (String, String), keys: Arc<JwkSet>, now: i64) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&key);
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        entries.retain(|_, cached| now - cached.fetched_at < self.lifetime);
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, cached)| cached.fetched_at)
                .map(|(key, _)| key.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            CachedKeys {
                keys,
                fetched_at: now,
            },
        );
    }
}

/// `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): an assertion signed with
/// the client's private key, verified with the public keys it registered — inline
/// (`jwks`) or at its `jwks_uri` (through the [`JwksFetcher`], cached for
/// [`with_cache_lifetime`](Self::with_cache_lifetime), fetched again on an unknown
/// `kid` at most once every [`with_min_refetch_interval`](Self::with_min_refetch_interval)).
/// Asymmetric algorithms only. See [the module](self) for every check.
pub struct PrivateKeyJwt {
    config: JwtClientAuthConfig,
    provider: CryptoProvider,
    fetcher: Option<Arc<dyn JwksFetcher>>,
    cache: Arc<JwksCache>,
}

impl fmt::Debug for PrivateKeyJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKeyJwt")
            .field("config", &self.config)
            .field("fetches_jwks_uri", &self.fetcher.is_some())
            .finish_non_exhaustive()
    }
}

impl PrivateKeyJwt {
    /// Default lifetime of a fetched key set, in seconds.
    pub const DEFAULT_CACHE_LIFETIME: i64 = 300;
    /// Default shortest interval between two fetches of one client's `jwks_uri`
    /// prompted by an unknown `kid`, in seconds.
    pub const DEFAULT_MIN_REFETCH_INTERVAL: i64 = 5;
    /// Default bound on the number of cached key sets.
    pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

    /// Checks assertions under `config` with the algorithms of `provider`. Only
    /// clients with inline `jwks` can authenticate until a
    /// [`with_fetcher`](Self::with_fetcher) is given.
    pub fn new(config: JwtClientAuthConfig, provider: CryptoProvider) -> Self {
        Self {
            config,
            provider,
            fetcher: None,
            cache: Arc::new(JwksCache {
                entries: Mutex::new(HashMap::new()),
                failures: Mutex::new(HashMap::new()),
                max_entries: Self::DEFAULT_CACHE_ENTRIES,
                lifetime: Self::DEFAULT_CACHE_LIFETIME,
                min_refetch_interval: Self::DEFAULT_MIN_REFETCH_INTERVAL,
            }),
        }
    }

    /// Fetches `jwks_uri` documents with `fetcher`.
    pub fn with_fetcher(mut self, fetcher: Arc<dyn JwksFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    fn cache_mut(&mut self) -> &mut JwksCache {
        // Only while building: nothing else holds the cache yet.
        if Arc::get_mut(&mut self.cache).is_none() {
            self.cache = Arc::new(JwksCache {
                entries: Mutex::new(HashMap::new()),
                failures: Mutex::new(HashMap::new()),
                max_entries: self.cache.max_entries,
                lifetime: self.cache.lifetime,
                min_refetch_interval: self.cache.min_refetch_interval,
            });
        }
        Arc::get_mut(&mut self.cache).unwrap_or_else(|| unreachable!("just made unique"))
    }

    /// How long a fetched key set is used, in seconds (at least 1).
    pub fn with_cache_lifetime(mut self, seconds: i64) -> Self {
        self.cache_mut().lifetime = seconds.max(1);
        self
    }

    /// The shortest interval between fetches of one client's `jwks_uri` on an unknown
    /// `kid`, in seconds (at least 0), so that no one can make the server hammer it.
    pub fn with_min_refetch_interval(mut self, seconds: i64) -> Self {
        self.cache_mut().min_refetch_interval = seconds.max(0);
        self
    }

    /// At most `entries` key sets are cached (at least 1); the oldest goes first.
    pub fn with_cache_entries(mut self, entries: usize) -> Self {
        self.cache_mut().max_entries = entries.max(1);
        self
    }

    /// The asymmetric algorithms this client may sign with.
    fn allowed(&self, alg: &str) -> Result<Vec<Algorithm>, OAuthError> {
        if HmacAlgorithm::from_name(alg).is_some() {
            return Err(invalid(format!(
                "a private_key_jwt assertion is signed with an asymmetric algorithm, not {alg}"
            )));
        }
        let algorithm = Algorithm::from_name(alg)
            .filter(|a| self.provider.supported().contains(a))
            .ok_or_else(|| {
                invalid(format!(
                    "the client assertion's algorithm {alg} is not supported"
                ))
            })?;
        Ok(vec![algorithm])
    }

    async fn fetch(&self, client_id: &str, url: &str, now: i64) -> Result<Arc<JwkSet>, OAuthError> {
        let Some(fetcher) = &self.fetcher else {
            tracing::warn!(
                client_id,
                "a client registered a jwks_uri but no fetcher is configured"
            );
            return Err(invalid("this server cannot fetch the client's jwks_uri"));
        };
        let key = (client_id.to_owned(), url.to_owned());
        if self.cache.failed_recently(&key, now) {
            return Err(invalid(
                "the client's jwks_uri cannot be fetched or read (it failed moments ago)",
            ));
        }
        let body = fetcher.fetch_jwks(url).await.map_err(|error| {
            tracing::warn!(client_id, %error, "cannot fetch the client's jwks_uri");
            self.cache.record_failure(key.clone(), now);
            invalid("the client's jwks_uri cannot be fetched or read")
        })?;
        let set: JwkSet = serde_json::from_slice(&body).map_err(|error| {
            tracing::warn!(client_id, %error, "the client's jwks_uri is not a JWK Set");
            self.cache.record_failure(key.clone(), now);
            invalid("the client's jwks_uri does not serve a JWK Set")
        })?;
        let set = Arc::new(set);
        self.cache
            .put((client_id.to_owned(), url.to_owned()), set.clone(), now);
        Ok(set)
    }

    /// Verifies `presented` with the keys of `client`: inline, or from its `jwks_uri`
    /// (cached; fetched again once on an unknown `kid`, if the last fetch is old
    /// enough).
    async fn verify(
        &self,
        client: &dyn Client,
        presented: &Presented<'_>,
        allowed: &[Algorithm],
        validation: &Validation,
        now: i64,
    ) -> Result<Map<String, Value>, OAuthError> {
        let metadata = client.metadata();
        let verify_with = |set: &JwkSet| {
            let keys = KeySet::from_jwk_set(&self.provider, set, allowed);
            jose::verify(presented.assertion, &keys, validation)
        };
        match (&metadata.jwks, &metadata.jwks_uri) {
            (Some(jwks), None) => {
                let set: JwkSet = serde_json::from_value(jwks.clone())
                    .map_err(|_| invalid("the client's registered jwks is not a JWK Set"))?;
                verify_with(&set)
                    .map(|v| v.claims)
                    .map_err(|e| describe(&e))
            }
            (None, Some(url)) => {
                let key = (client.client_id().to_owned(), url.clone());
                let (set, fetched_at) = match self.cache.get(&key, now) {
                    Some(cached) => cached,
                    None => (self.fetch(client.client_id(), url, now).await?, now),
                };
                match verify_with(&set) {
                    Err(JoseError::UnknownKey)
                        if now - fetched_at >= self.cache.min_refetch_interval =>
                    {
                        // The client may have rotated its keys: look once more.
                        let set = self.fetch(client.client_id(), url, now).await?;
                        verify_with(&set)
                            .map(|v| v.claims)
                            .map_err(|e| describe(&e))
                    }
                    other => other.map(|v| v.claims).map_err(|e| describe(&e)),
                }
            }
            (Some(_), Some(_)) => Err(invalid(
                "the client registered both jwks and jwks_uri; it must have exactly one",
            )),
            (None, None) => Err(invalid(
                "the client registered no keys (jwks or jwks_uri) to verify its assertion with",
            )),
        }
    }
}

#[async_trait]
impl<S: ClientStore + AssertionReplayStore> ClientAuthenticator<S> for PrivateKeyJwt {
    fn method(&self) -> &'static str {
        AuthMethod::PRIVATE_KEY_JWT
    }

    /// A `client_assertion` (or `client_assertion_type`) whose `alg` is not HMAC:
    /// those are [`ClientSecretJwt`]'s.
    fn presented(&self, _request: &OAuthRequest, params: &Params) -> bool {
        (params.contains("client_assertion") || params.contains("client_assertion_type"))
            && assertion_alg(params).is_none_or(|alg| HmacAlgorithm::from_name(&alg).is_none())
    }

    async fn authenticate(
        &self,
        store: &S,
        _request: &OAuthRequest,
        params: &Params,
        endpoint: &str,
    ) -> Result<S::Client, OAuthError> {
        let presented = presented(params)?;
        let method = <Self as ClientAuthenticator<S>>::method(self);
        let client = client_for(store, &presented.client_id, method, endpoint).await?;
        let alg = header_alg(&presented.header, &client)?;
        let allowed = self.allowed(alg)?;
        let now = self.config.clock.now();
        let validation = self.config.validation(now, endpoint);
        let claims = self
            .verify(&client, &presented, &allowed, &validation, now)
            .await
            .inspect_err(|e| {
                tracing::debug!(client_id = %presented.client_id, error = ?e.description(), "private_key_jwt refused")
            })?;
        check_claims_and_replay(store, &self.config, &presented.client_id, &claims, now).await?;
        Ok(client)
    }

    fn signing_algorithms(&self) -> Vec<&'static str> {
        self.provider
            .supported()
            .into_iter()
            .map(Algorithm::name)
            .collect()
    }
}

/// `client_secret_jwt` (OpenID Connect Core §9): an assertion MACed with HS256, HS384
/// or HS512 under the client's secret, which a [`ClientSecretSource`] gives back. See
/// [the module](self) for every check.
pub struct ClientSecretJwt {
    config: JwtClientAuthConfig,
    secrets: Arc<dyn ClientSecretSource>,
}

impl fmt::Debug for ClientSecretJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecretJwt")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ClientSecretJwt {
    /// Checks assertions under `config`, with the secrets `secrets` gives.
    pub fn new(config: JwtClientAuthConfig, secrets: Arc<dyn ClientSecretSource>) -> Self {
        Self { config, secrets }
    }
}

#[async_trait]
impl<S: ClientStore + AssertionReplayStore> ClientAuthenticator<S> for ClientSecretJwt {
    fn method(&self) -> &'static str {
        AuthMethod::CLIENT_SECRET_JWT
    }

    /// A `client_assertion` whose `alg` is HS256, HS384 or HS512.
    fn presented(&self, _request: &OAuthRequest, params: &Params) -> bool {
        assertion_alg(params).is_some_and(|alg| HmacAlgorithm::from_name(&alg).is_some())
    }

    async fn authenticate(
        &self,
        store: &S,
        _request: &OAuthRequest,
        params: &Params,
        endpoint: &str,
    ) -> Result<S::Client, OAuthError> {
        let presented = presented(params)?;
        let method = <Self as ClientAuthenticator<S>>::method(self);
        let client = client_for(store, &presented.client_id, method, endpoint).await?;
        let alg = header_alg(&presented.header, &client)?;
        let algorithm = HmacAlgorithm::from_name(alg).ok_or_else(|| {
            invalid(format!(
                "a client_secret_jwt assertion is MACed with HS256, HS384 or HS512, not {alg}"
            ))
        })?;
        let Some(secret) = self.secrets.client_secret(&client)? else {
            tracing::warn!(client_id = %presented.client_id, "client_secret_jwt client without a recoverable secret");
            return Err(failed());
        };
        let now = self.config.clock.now();
        let validation = self.config.validation(now, endpoint);
        let (_, claims) =
            jose::verify_hmac(presented.assertion, &secret, &[algorithm], &validation)
                .map_err(|e| describe(&e))?;
        check_claims_and_replay(store, &self.config, &presented.client_id, &claims, now).await?;
        Ok(client)
    }

    fn signing_algorithms(&self) -> Vec<&'static str> {
        HmacAlgorithm::ALL.map(HmacAlgorithm::name).to_vec()
    }
}

#[cfg(all(test, feature = "aws-lc-rs"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use serde_json::json;

    use super::*;
    use crate::jose::Signer;
    use crate::{
        ClientAuthentication, ClientRecord, EndpointName, ErrorCode, ManualClock, MemoryStore,
    };

    const ISSUER: &str = "https://as.example";
    const TOKEN_URL: &str = "https://as.example/token";
    const START: i64 = 1_800_000_000;

    fn request(form: &[(&str, &str)]) -> (OAuthRequest, Params) {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = http::Request::post("/token")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Bytes::from(body))
            .unwrap();
        let params = Params::from_form(&request).unwrap();
        (request, params)
    }

    fn claims(client_id: &str, now: i64, jti: &str) -> Value {
        json!({"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "iat": now, "exp": now + 60, "jti": jti})
    }

    /// Serves a JWK Set that the test changes, counting fetches; fails while `failing`.
    struct TestFetcher {
        body: Mutex<String>,
        fetches: AtomicUsize,
    }

    #[async_trait]
    impl JwksFetcher for TestFetcher {
        async fn fetch_jwks(&self, _url: &str) -> Result<Vec<u8>, String> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let body = self.body.lock().unwrap().clone();
            if body.is_empty() {
                return Err("connection refused".into());
            }
            Ok(body.into_bytes())
        }
    }

    fn set_of(keys: &[&Signer]) -> String {
        serde_json::to_string(&JwkSet::new(keys.iter().map(|k| k.public_jwk()).collect())).unwrap()
    }

    struct Setup {
        store: MemoryStore,
        clock: Arc<ManualClock>,
        registry: ClientAuthentication<MemoryStore>,
        fetcher: Arc<TestFetcher>,
    }

    /// Secrets kept in the clear in the extras member `test_secret`.
    struct PlainSecrets;

    impl ClientSecretSource for PlainSecrets {
        fn client_secret(&self, client: &dyn Client) -> Result<Option<Vec<u8>>, OAuthError> {
            Ok(client
                .metadata()
                .extras
                .get_raw("test_secret")
                .and_then(Value::as_str)
                .map(|s| s.as_bytes().to_vec()))
        }
    }

    fn setup() -> Setup {
        let clock = Arc::new(ManualClock::new(START));
        let config = JwtClientAuthConfig::new(ISSUER, clock.clone())
            .with_endpoint_url(EndpointName::TOKEN, TOKEN_URL);
        let fetcher = Arc::new(TestFetcher {
            body: Mutex::new(String::new()),
            fetches: AtomicUsize::new(0),
        });
        let mut registry = ClientAuthentication::default();
        registry
            .add(
                PrivateKeyJwt::new(config.clone(), jose::aws_lc_rs::provider())
                    .with_fetcher(fetcher.clone())
                    .with_min_refetch_interval(10)
                    .with_cache_lifetime(100),
            )
            .add(ClientSecretJwt::new(config, Arc::new(PlainSecrets)));
        Setup {
            store: MemoryStore::new(),
            clock,
            registry,
            fetcher,
        }
    }

    impl Setup {
        async fn authenticate(&self, assertion: &str) -> Result<ClientRecord, OAuthError> {
            let (request, params) = request(&[
                ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
                ("client_assertion", assertion),
            ]);
            self.registry
                .authenticate(&self.store, &request, &params, EndpointName::TOKEN)
                .await
        }
    }

    fn description(error: &OAuthError) -> String {
        error.description().to_owned()
    }

    #[tokio::test]
    async fn private_key_jwt_inline_keys_replay_and_lifetime() {
        let setup = setup();
        let key = Signer::generate(&jose::aws_lc_rs::provider(), Algorithm::Es256).unwrap();
        let mut metadata = crate::ClientMetadata::new();
        metadata.jwks = Some(serde_json::from_str(&set_of(&[&key])).unwrap());
        setup
            .store
            .insert_client(
                ClientRecord::new("app")
                    .with_auth_method(AuthMethod::PRIVATE_KEY_JWT)
                    .with_metadata(metadata),
            )
            .unwrap();
        let assertion = key.sign(None, &claims("app", START, "1")).unwrap();
        assert_eq!(
            setup.authenticate(&assertion).await.unwrap().client_id,
            "app"
        );
        let replay = setup.authenticate(&assertion).await.unwrap_err();
        assert_eq!(replay.code(), ErrorCode::InvalidClient);
        assert!(description(&replay).contains("used before"));
        // Still refused just before the record (exp plus the leeway) expires...
        setup
            .clock
            .advance(60 + JwtClientAuthConfig::DEFAULT_LEEWAY - 1);
        assert!(setup.authenticate(&assertion).await.is_err());
        // A lifetime over the bound, with or without iat.
        let now = setup.clock.now();
        let mut long = claims("app", now, "2");
        long["exp"] = json!(now + JwtClientAuthConfig::DEFAULT_MAX_LIFETIME + 1);
        let error = setup
            .authenticate(&key.sign(None, &long).unwrap())
            .await
            .unwrap_err();
        assert!(description(&error).contains("lives too long"), "{error:?}");
        long.as_object_mut().unwrap().remove("iat");
        long["exp"] = json!(now + JwtClientAuthConfig::DEFAULT_MAX_LIFETIME + 31 + 1);
        let error = setup
            .authenticate(&key.sign(None, &long).unwrap())
            .await
            .unwrap_err();
        assert!(description(&error).contains("lives too long"), "{error:?}");
        // Exactly the bound is fine.
        let mut bounded = claims("app", now, "3");
        bounded["exp"] = json!(now + JwtClientAuthConfig::DEFAULT_MAX_LIFETIME);
        setup
            .authenticate(&key.sign(None, &bounded).unwrap())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn jwks_uri_is_cached_refetched_on_unknown_kid_at_most_so_often_and_failures_are_not_cached(
    ) {
        let setup = setup();
        let provider = jose::aws_lc_rs::provider();
        let old = Signer::generate(&provider, Algorithm::Es256).unwrap();
        let new = Signer::generate(&provider, Algorithm::EdDsa).unwrap();
        let mut metadata = crate::ClientMetadata::new();
        metadata.jwks_uri = Some("https://client.example/jwks".into());
        setup
            .store
            .insert_client(
                ClientRecord::new("app")
                    .with_auth_method(AuthMethod::PRIVATE_KEY_JWT)
                    .with_metadata(metadata),
            )
            .unwrap();
        let fetches = || setup.fetcher.fetches.load(Ordering::SeqCst);
        let mut jti = 0;
        let mut next = |key: &Signer| {
            jti += 1;
            key.sign(None, &claims("app", setup.clock.now(), &jti.to_string()))
                .unwrap()
        };
        // Unreachable: refused, and nothing is cached as keys; not tried again within
        // the refetch interval, then tried again.
        assert!(setup.authenticate(&next(&old)).await.is_err());
        assert!(setup.authenticate(&next(&old)).await.is_err());
        assert_eq!(fetches(), 1);
        setup.clock.advance(10);
        assert!(setup.authenticate(&next(&old)).await.is_err());
        assert_eq!(fetches(), 2);
        setup.clock.advance(10);
        *setup.fetcher.body.lock().unwrap() = set_of(&[&old]);
        setup.authenticate(&next(&old)).await.unwrap();
        setup.authenticate(&next(&old)).await.unwrap();
        assert_eq!(fetches(), 3, "cached");
        // Rotated: an unknown kid refetches, but not within the interval.
        *setup.fetcher.body.lock().unwrap() = set_of(&[&new]);
        let error = setup.authenticate(&next(&new)).await.unwrap_err();
        assert!(description(&error).contains("no key"), "{error:?}");
        assert_eq!(fetches(), 3);
        setup.clock.advance(10);
        setup.authenticate(&next(&new)).await.unwrap();
        assert_eq!(fetches(), 4);
        // The cache lifetime runs out: fetched again.
        setup.clock.advance(100);
        setup.authenticate(&next(&new)).await.unwrap();
        assert_eq!(fetches(), 5);
    }

    #[tokio::test]
    async fn client_secret_jwt_and_algorithm_rules() {
        let setup = setup();
        let mut metadata = crate::ClientMetadata::new();
        metadata
            .extras
            .insert_raw("test_secret", json!("s3cret-s3cret-s3cret-s3cret-s3cret"));
        metadata.token_endpoint_auth_signing_alg = Some("HS384".into());
        setup
            .store
            .insert_client(
                ClientRecord::new("hmac")
                    .with_auth_method(AuthMethod::CLIENT_SECRET_JWT)
                    .with_metadata(metadata),
            )
            .unwrap();
        let secret = b"s3cret-s3cret-s3cret-s3cret-s3cret";
        let good = HmacAlgorithm::Hs384
            .sign(secret, None, &claims("hmac", START, "a"))
            .unwrap();
        setup.authenticate(&good).await.unwrap();
        let wrong = HmacAlgorithm::Hs384
            .sign(b"wrong", None, &claims("hmac", START, "b"))
            .unwrap();
        assert!(description(&setup.authenticate(&wrong).await.unwrap_err()).contains("signature"));
        let other_alg = HmacAlgorithm::Hs256
            .sign(secret, None, &claims("hmac", START, "c"))
            .unwrap();
        assert!(
            description(&setup.authenticate(&other_alg).await.unwrap_err())
                .contains("token_endpoint_auth_signing_alg HS384")
        );
        // An asymmetric assertion for this client goes to private_key_jwt, which this
        // client may not use.
        let key = Signer::generate(&jose::aws_lc_rs::provider(), Algorithm::Es256).unwrap();
        let error = setup
            .authenticate(&key.sign(None, &claims("hmac", START, "d")).unwrap())
            .await
            .unwrap_err();
        assert_eq!(error.code(), ErrorCode::InvalidClient);
        // verify_hmac refuses none and algorithms outside its list.
        let validation = Validation::new(START).with_audience([TOKEN_URL]);
        assert_eq!(
            jose::verify_hmac(&good, secret, &[HmacAlgorithm::Hs256], &validation).unwrap_err(),
            JoseError::AlgorithmNotAllowed("HS384".into())
        );
        let b64 = crate::jose::b64();
        use base64::Engine as _;
        let unsigned = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none"}"#),
            b64.encode(serde_json::to_vec(&claims("hmac", START, "e")).unwrap())
        );
        assert_eq!(
            jose::verify_hmac(&unsigned, secret, &HmacAlgorithm::ALL, &validation).unwrap_err(),
            JoseError::AlgNone
        );
        // And the metadata lists both methods' algorithms once each.
        let algorithms = setup.registry.signing_algorithms(EndpointName::TOKEN);
        for alg in ["ES256", "RS256", "EdDSA", "HS256", "HS512"] {
            assert!(algorithms.contains(&alg), "{algorithms:?}");
        }
        assert_eq!(
            setup.registry.methods(EndpointName::TOKEN),
            [
                "client_secret_basic",
                "client_secret_post",
                "none",
                "private_key_jwt",
                "client_secret_jwt"
            ]
        );
    }
}
