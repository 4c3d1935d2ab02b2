//! Validating bearer tokens at a remote authorization server (RFC 7662), so that an
//! API on another machine can be protected by Portcullis.
//!
//! [`RemoteIntrospection`] is a [`TokenValidator`]: it asks the introspection endpoint
//! of the authorization server about each token, authenticating as a (resource server)
//! client, and keeps active answers in a small bounded cache so that a busy API does
//! not introspect every request. A cached answer lives at most `cache_ttl` and never
//! past the token's `exp`: a revoked token can stay accepted for up to `cache_ttl`
//! (30 s by default; set 0 to disable caching). Inactive answers are not cached.
//! Tokens are cached under their SHA-256, never in plain.
//!
//! Only access tokens are accepted: an active answer whose `token_type` is not
//! `Bearer` (a refresh token, reported as `refresh_token`) is refused like an inactive
//! one (issue 9, finding 1).
//!
//! The endpoint goes through the same URL check as the JWT validator's fetches: https only (http for a loopback host, for
//! development), no credentials in the URL; the default client follows no redirect (a
//! `307`/`308` would re-send the token elsewhere) and times out after 5 s, and the
//! answer is read up to a size bound.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::fetch;
use async_trait::async_trait;
use portcullis_core::{
    hash_secret, Clock, Scope, StoreError, SystemClock, TokenInfo, TokenValidator,
};

/// The largest introspection answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A token validator that asks a remote introspection endpoint.
#[derive(Clone)]
pub struct RemoteIntrospection {
    endpoint: String,
    /// The endpoint as checked by [`fetch::check_url`], or why it is refused (every
    /// validation then fails).
    checked_endpoint: Result<reqwest::Url, String>,
    client_id: String,
    client_secret: String,
    /// The client, or why it could not be built (every validation then fails).
    http: Result<reqwest::Client, String>,
    clock: Arc<dyn Clock>,
    cache_ttl: i64,
    capacity: usize,
    cache: Arc<Mutex<Cache>>,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, (TokenInfo, i64)>,
    order: VecDeque<String>,
}

impl Cache {
    fn get(&mut self, key: &str, now: i64) -> Option<TokenInfo> {
        match self.entries.get(key) {
            Some((info, until)) if now < *until => Some(info.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: String, info: TokenInfo, until: i64, capacity: usize, now: i64) {
        if capacity == 0 {
            return;
        }
        if self.entries.len() >= capacity {
            self.entries.retain(|_, (_, until)| now < *until);
            self.order.retain(|k| self.entries.contains_key(k));
        }
        while self.entries.len() >= capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
        if self.entries.insert(key.clone(), (info, until)).is_none() {
            self.order.push_back(key);
        }
        // `get` drops expired entries without touching `order`: prune it before it
        // outgrows the entries it tracks.
        if self.order.len() > capacity.saturating_mul(2) {
            let entries = &self.entries;
            self.order.retain(|k| entries.contains_key(k));
        }
    }
}

impl std::fmt::Debug for RemoteIntrospection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteIntrospection")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("cache_ttl", &self.cache_ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl RemoteIntrospection {
    /// A validator asking `endpoint` (e.g. `https://auth.example.com/introspect`),
    /// authenticating with HTTP Basic as `client_id` / `client_secret`. Cache: 30 s,
    /// 1024 tokens; requests time out after 5 s and follow no redirect.
    ///
    /// `endpoint` must be `https` (or `http` to a loopback host, for development) and
    /// carry no credentials: otherwise every validation fails with a [`StoreError`]
    /// (the guard answers `500`), and no token is ever sent.
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let endpoint = endpoint.into();
        Self {
            checked_endpoint: fetch::check_url(&endpoint),
            endpoint,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            http: fetch::client(),
            clock: Arc::new(SystemClock),
            cache_ttl: 30,
            capacity: 1024,
            cache: Arc::new(Mutex::new(Cache::default())),
        }
    }

    /// Sets how long an active answer is reused, in seconds (0: never).
    pub fn with_cache_ttl(mut self, seconds: i64) -> Self {
        self.cache_ttl = seconds.max(0);
        self
    }

    /// Sets how many tokens the cache holds at most.
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the HTTP client (timeouts, proxies, custom roots). Build it with
    /// `redirect(reqwest::redirect::Policy::none())`: a client that follows a `307` or
    /// `308` re-sends the token to wherever it points. The endpoint is checked all the
    /// same.
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Ok(http);
        self
    }

    /// How many tokens are cached now.
    pub fn cached(&self) -> usize {
        self.cache.lock().map(|c| c.entries.len()).unwrap_or(0)
    }

    async fn ask(&self, token: &str) -> Result<Option<TokenInfo>, StoreError> {
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let body = format!("token={}&token_type_hint=access_token", encode(token));
        let endpoint = self.checked_endpoint.clone().map_err(StoreError::new)?;
        let http = self.http.as_ref().map_err(|e| StoreError::new(e.clone()))?;
        let response = http
            .post(endpoint)
            .basic_auth(encode(&self.client_id), Some(encode(&self.client_secret)))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| StoreError::from_source("the introspection endpoint is unreachable", e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(StoreError::new(format!(
                "the introspection endpoint answered {status}; check the resource server's client credentials"
            )));
        }
        let body = fetch::read_body(response, MAX_ANSWER_BYTES, "the introspection answer")
            .await
            .map_err(StoreError::new)?;
        let answer: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| StoreError::from_source("the introspection answer is not JSON", e))?;
        if answer.get("active").and_then(|v| v.as_bool()) != Some(true) {
            return Ok(None);
        }
        // Only an access token opens the API. A refresh token is no credential for a
        // resource server (and using it here would escape its rotation and reuse
        // detection): Portcullis reports one as `token_type: "refresh_token"`, and any
        // type but `Bearer` is refused. An answer without `token_type` is taken for an
        // access token, as RFC 7662 makes the member optional.
        if let Some(token_type) = answer.get("token_type") {
            let bearer = token_type
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
            if !bearer {
                tracing::debug!(
                    token_type = %token_type,
                    "introspection answered for a token that is not a bearer access token"
                );
                return Ok(None);
            }
        }
        let text = |key: &str| answer.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let expires_at = answer
            .get("exp")
            .and_then(|v| v.as_i64())
            .unwrap_or(i64::MAX);
        if expires_at <= self.clock.now() {
            return Ok(None);
        }
        let mut info = TokenInfo::new(
            text("client_id").unwrap_or_default(),
            Scope::parse(&text("scope").unwrap_or_default()).unwrap_or_default(),
            expires_at,
        );
        info.subject = text("sub");
        info.audience = match answer.get("aud") {
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            Some(serde_json::Value::Array(many)) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Some(info))
    }
}

#[async_trait]
impl TokenValidator for RemoteIntrospection {
    async fn validate(&self, access_token: &str) -> Result<Option<TokenInfo>, StoreError> {
        let key = hash_secret(access_token);
        let now = self.clock.now();
        if self.cache_ttl > 0 {
            if let Ok(mut cache) = self.cache.lock() {
                if let Some(info) = cache.get(&key, now) {
                    return Ok(Some(info));
                }
            }
        }
        let answer = self.ask(access_token).await?;
        if let Some(info) = &answer {
            if self.cache_ttl > 0 {
                let until = now.saturating_add(self.cache_ttl).min(info.expires_at);
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(key, info.clone(), until, self.capacity, now);
                }
            }
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(exp: i64) -> TokenInfo {
        TokenInfo::new("c", Scope::empty(), exp)
    }

    #[test]
    fn cache_is_bounded_and_expires() {
        let mut cache = Cache::default();
        for i in 0..5 {
            cache.insert(format!("k{i}"), info(100), 50, 3, 0);
        }
        assert_eq!(cache.entries.len(), 3, "bounded");
        assert!(cache.get("k0", 0).is_none(), "the oldest went first");
        assert!(cache.get("k4", 0).is_some());
        assert!(cache.get("k4", 50).is_none(), "expired at its deadline");
    }

    #[test]
    fn re_caching_expired_tokens_does_not_grow_the_order_list() {
        let mut cache = Cache::default();
        for round in 0..100 {
            let now = round * 10;
            for i in 0..3 {
                let key = format!("k{i}");
                assert!(cache.get(&key, now).is_none());
                cache.insert(key, info(i64::MAX), now + 5, 1024, now);
            }
        }
        assert!(
            cache.order.len() <= 2 * 1024,
            "order stays bounded: {}",
            cache.order.len()
        );
        assert!(cache.order.len() <= 3 + 2048);
        assert_eq!(cache.entries.len(), 3);
    }

    #[tokio::test]
    async fn an_http_endpoint_off_loopback_is_refused_before_any_request() {
        let remote = RemoteIntrospection::new("http://auth.example.com/introspect", "c", "s");
        let error = remote.validate("token").await.unwrap_err();
        assert!(error.to_string().contains("only https"), "{error}");
        let loopback = RemoteIntrospection::new("http://127.0.0.1:9/introspect", "c", "s");
        assert!(loopback.checked_endpoint.is_ok());
    }
}
