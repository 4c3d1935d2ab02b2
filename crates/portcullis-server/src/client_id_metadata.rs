//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document, the
//! way MCP clients identify themselves: MCP authorization, 2025-11-25): a client
//! whose `client_id` is an `https` URL is described by the JSON document at that URL,
//! and needs no registration.
//!
//! On with the setting `client_id_metadata_documents` (off by default). Then the
//! store resolves every `https` `client_id` through [`ClientDocuments`] (a
//! [`UrlClientResolver`] on [`SqlStore`]; every other `client_id` is read from the
//! `clients` table as always, at the cost of one prefix comparison):
//!
//! - the URL must be a client ID URL ([`check_client_id_url`]): `https`, a host, a
//!   path other than `/`, no fragment, no user information, no `.` or `..` segment,
//!   and written in its normal form (so that one client has one identifier);
//! - it is fetched on the client's behalf, under the same guard as every such fetch
//!   (`portcullis_axum::fetch`): the addresses the host resolves to are checked on
//!   the very connection (loopback, private, link-local and the other special-use
//!   ranges are refused unless named in `fetch_allowed_addresses`), no proxy, no
//!   redirect followed, at most [`MAX_DOCUMENT_BYTES`], within [`FETCH_TIMEOUT`], with
//!   `Accept: application/json`, trusting the system's certificate authorities and
//!   those of `fetch_ca_file`. Only `https`, even to an allowed address;
//! - the document must be a JSON object whose `client_id` is the URL, character for
//!   character; it describes a public client (`token_endpoint_auth_method` defaults
//!   to `none`, `private_key_jwt` is accepted when the server has it), so shared-secret
//!   methods and a `client_secret` or `client_secret_expires_at` are refused; every
//!   other member is checked as for dynamic registration
//!   ([`crate::registration::client_from_metadata`]: redirect URIs, scopes within the
//!   registration scopes, algorithms), and a `sector_identifier_uri` is fetched and
//!   checked as for any client ([`crate::clients::check_remote_urls`]).
//!
//! A document that passes is kept as a row of the `clients` table (marked with the
//! member [`MARKER`]), because tokens, codes and consents refer to that table; the row
//! is rewritten when the document changes. At most [`MAX_NEW_CLIENTS_PER_HOUR`] new
//! rows are made per instance and hour. A row of that `client_id` that is not so
//! marked — a client an operator registered by hand under a URL — wins, and nothing
//! is fetched for it.
//!
//! Caching follows the response's HTTP caching headers ([`cache_lifetime`]):
//! `no-store`, `no-cache` or `max-age=0` keep nothing; otherwise `max-age` (or
//! `Expires`), clamped to [`MIN_LIFETIME`]..=[`MAX_LIFETIME`], and [`DEFAULT_LIFETIME`]
//! without either. At most [`MAX_ENTRIES`] documents are kept per process. A
//! document that cannot be used is never cached, but the same refusal is answered
//! for [`RETRY_AFTER`] seconds without fetching again, so that a broken URL is not
//! fetched on every request.
//!
//! A refused document is an error page at the authorization endpoint, saying what is
//! wrong with it (never a redirect: the redirect URIs are not verified), and
//! `invalid_client` at the token endpoint; each refusal is logged with its reason.
//! The consent page names such a client by its URL's host, the one thing about it
//! that is verified ([`document_host`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use portcullis_axum::fetch::{self, AddressPolicy};
use portcullis_core::{ClientRecord, Clock, StoreError};
use portcullis_sql::{SqlStore, UrlClientResolver};
use serde_json::Value;

use crate::config::Config;
use crate::registration::{self, Policy};

/// The largest document read, bytes (the draft suggests 5 KB).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// How long a fetch may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The most documents kept per process.
pub const MAX_ENTRIES: usize = 1_000;
/// The shortest a cacheable document is kept, seconds.
pub const MIN_LIFETIME: i64 = 60;
/// The longest a document is kept, seconds, whatever its headers say.
pub const MAX_LIFETIME: i64 = 24 * 3600;
/// How long a document is kept when its response has no caching headers, seconds.
pub const DEFAULT_LIFETIME: i64 = 300;
/// How long a refusal is answered again without fetching, seconds.
pub const RETRY_AFTER: i64 = 10;
/// The most clients first seen through their documents (each a new row of the
/// `clients` table) per instance and hour: anyone can publish documents under
/// endless URLs, and the table must not grow without bound as fast as they are sent.
pub const MAX_NEW_CLIENTS_PER_HOUR: u32 = 1_000;
/// The authentication methods of a shared secret, which a client known by its
/// document cannot have: refused in a document.
pub const SHARED_SECRET_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
];
/// The member (in the client's stored metadata) that marks a client made from a
/// client ID metadata document.
pub const MARKER: &str = portcullis_sql::RESOLVED_CLIENT_MARKER;

/// Why a client ID metadata document cannot be used: what kind of failure (for logs
/// and tests) and words for the client's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{description}")]
pub struct DocumentError {
    /// `client_id`, `address`, `fetch`, `redirect`, `status`, `too_large`,
    /// `not_json`, `mismatch`, `refused` or `rate_limited`.
    pub kind: &'static str,
    /// What is wrong, naming the URL or the member.
    pub description: String,
}

impl DocumentError {
    fn new(kind: &'static str, description: impl Into<String>) -> Self {
        Self {
            kind,
            description: description.into(),
        }
    }
}

/// Why a client could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The document cannot be used.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks that `client_id` is a client ID URL (draft §3): `https`, with a host, a
/// path other than `/`, no fragment, no user information, no `.` or `..` path
/// segment; and in normal form (lower-case scheme and host, no default port, no
/// needless percent-encoding), since the document must repeat it exactly.
pub fn check_client_id_url(client_id: &str) -> Result<url::Url, DocumentError> {
    let refuse = |why: &str| {
        DocumentError::new(
            "client_id",
            format!("the client_id {client_id} is not a client ID metadata document URL: {why}"),
        )
    };
    let url = url::Url::parse(client_id).map_err(|e| refuse(&format!("not a URL ({e})")))?;
    if url.scheme() != "https" {
        return Err(refuse("it must be an https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it must not contain user information"));
    }
    if client_id.contains('#') {
        return Err(refuse("it must not have a fragment"));
    }
    let raw_path = client_id
        .split_once("://")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or_default();
    let raw_path = raw_path.split('?').next().unwrap_or_default();
    if raw_path.is_empty() || raw_path == "/" {
        return Err(refuse("it must have a path (https://host/path)"));
    }
    if raw_path.split('/').any(|segment| {
        let segment = segment.to_ascii_lowercase().replace("%2e", ".");
        segment == "." || segment == ".."
    }) {
        return Err(refuse("it must not have . or .. path segments"));
    }
    if url.as_str() != client_id {
        return Err(refuse(&format!(
            "it must be written in normal form ({})",
            url.as_str()
        )));
    }
    Ok(url)
}

/// True when `client_id` is one the store hands to [`ClientDocuments`]: it starts
/// with `https://` (in any case; [`check_client_id_url`] then wants it lower-case).
pub fn is_url_client_id(client_id: &str) -> bool {
    client_id
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// True when `client` was made from a client ID metadata document.
pub fn is_document_client(client: &ClientRecord) -> bool {
    portcullis_sql::is_resolved_client(client)
}

/// The host of a client ID metadata document client's URL (`app.example.com`): the
/// only thing about it the server verified, since anyone can publish a document that
/// names itself anything. `None` for every other client.
pub fn document_host(client: &ClientRecord) -> Option<String> {
    if !is_document_client(client) {
        return None;
    }
    let url = url::Url::parse(&client.client_id).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// How long (seconds) a document fetched at `now` may be kept, from the response's
/// HTTP caching headers (RFC 9111 §5.2, §5.3): 0 (not kept) for `no-store`,
/// `no-cache`, a `max-age` of 0 or an `Expires` in the past (or not a date);
/// otherwise `max-age`, or `Expires` minus `Date` (minus `now` without a `Date`),
/// clamped to [`MIN_LIFETIME`]..=[`MAX_LIFETIME`]; [`DEFAULT_LIFETIME`] without
/// either.
pub fn cache_lifetime(headers: &http::HeaderMap, now: i64) -> i64 {
    let directives: Vec<String> = headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|directive| directive.trim().to_ascii_lowercase())
        .collect();
    if directives
        .iter()
        .any(|directive| directive == "no-store" || directive.starts_with("no-cache"))
    {
        return 0;
    }
    let clamp = |seconds: i64| {
        if seconds <= 0 {
            0
        } else {
            seconds.clamp(MIN_LIFETIME, MAX_LIFETIME)
        }
    };
    if let Some(max_age) = directives.iter().find_map(|directive| {
        let value = directive.strip_prefix("max-age")?.trim_start();
        let value = value.strip_prefix('=')?.trim().trim_matches('"');
        Some(value.parse::<i64>().unwrap_or(0))
    }) {
        return clamp(max_age);
    }
    let date = |name: http::header::HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| httpdate::parse_http_date(value).ok())
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
    };
    if headers.contains_key(http::header::EXPIRES) {
        let Some(expires) = date(http::header::EXPIRES) else {
            return 0;
        };
        let base = date(http::header::DATE).unwrap_or(now);
        return clamp(expires.saturating_sub(base));
    }
    DEFAULT_LIFETIME
}

/// A client kept until `until`.
struct Kept {
    client: ClientRecord,
    until: i64,
}

/// Fetches, checks and caches client ID metadata documents; the store's
/// [`UrlClientResolver`] when the setting is on.
pub struct ClientDocuments {
    http: reqwest::Client,
    policy: AddressPolicy,
    scopes: Vec<String>,
    signing_algorithms: Vec<String>,
    /// The JWT method the server has (`private_key_jwt`), set once it is built.
    jwt_methods: OnceLock<Vec<String>>,
    clock: Arc<dyn Clock>,
    kept: Mutex<HashMap<String, Kept>>,
    refused: Mutex<HashMap<String, (DocumentError, i64)>>,
    new_clients: Mutex<NewClients>,
}

/// How many clients were first stored in the hour that began at `since`.
#[derive(Debug, Default)]
struct NewClients {
    since: i64,
    count: u32,
}

impl NewClients {
    /// Counts one more new client at `now`: false when the hour's allowance
    /// ([`MAX_NEW_CLIENTS_PER_HOUR`]) is spent.
    fn admit(&mut self, now: i64) -> bool {
        if now >= self.since.saturating_add(3600) || now < self.since {
            *self = NewClients {
                since: now,
                count: 0,
            };
        }
        if self.count >= MAX_NEW_CLIENTS_PER_HOUR {
            return false;
        }
        self.count += 1;
        true
    }
}

impl std::fmt::Debug for ClientDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDocuments").finish_non_exhaustive()
    }
}

impl ClientDocuments {
    /// The resolver for `config` (its fetch policy, registration scopes and signing
    /// algorithms), reading time from `clock`. An unusable `fetch_ca_file` is an
    /// error here.
    pub fn new(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let policy = config.load_fetch_policy().map_err(|e| e.to_string())?;
        let http = fetch::guarded_client_with_timeout(&policy, FETCH_TIMEOUT)?;
        let scopes = config.registration_scopes();
        Ok(Self {
            http,
            policy,
            scopes,
            signing_algorithms: config.keys.signing_algorithms.clone(),
            jwt_methods: OnceLock::new(),
            clock,
            kept: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            new_clients: Mutex::new(NewClients::default()),
        })
    }

    /// Accepts `private_key_jwt` in documents when it is among `methods` (the token
    /// endpoint's methods, known once the engine is built). Only the first call counts.
    pub fn accept_methods_of(&self, methods: &[&str]) {
        let jwt = methods
            .iter()
            .filter(|method| **method == "private_key_jwt")
            .map(|method| (*method).to_owned())
            .collect();
        let _ = self.jwt_methods.set(jwt);
    }

    /// The client `client_id` (an `https` URL) names: from the cache, from an
    /// operator's row of that id, or from its document, fetched and checked.
    pub async fn resolve(
        &self,
        store: &SqlStore,
        client_id: &str,
    ) -> Result<ClientRecord, ResolveError> {
        let now = self.clock.now();
        if let Some(client) = self.kept(client_id, now) {
            return Ok(client);
        }
        if let Some(error) = self.recently_refused(client_id, now) {
            return Err(error.into());
        }
        let stored = store
            .find_registered_client(client_id)
            .await
            .map_err(StoreError::from)?;
        if let Some(client) = &stored {
            if !is_document_client(client) {
                return Ok(client.clone());
            }
        }
        let fetched = self.fetch(client_id, now).await.and_then(|found| {
            if stored.is_some() || self.admit_new_client(now) {
                Ok(found)
            } else {
                Err(DocumentError::new(
                    "rate_limited",
                    format!(
                        "the client ID metadata document {client_id} is not used now: more \
                         than {MAX_NEW_CLIENTS_PER_HOUR} new clients came in the last hour; \
                         try again later"
                    ),
                ))
            }
        });
        match fetched {
            Ok((client, lifetime)) => {
                if stored.as_ref() != Some(&client) {
                    save(store, &client, stored.is_some()).await?;
                }
                tracing::debug!(client_id, lifetime, "client ID metadata document fetched");
                if lifetime > 0 {
                    self.keep(&client, now.saturating_add(lifetime));
                }
                Ok(client)
            }
            Err(error) => {
                tracing::warn!(
                    client_id,
                    reason = error.kind,
                    error = %error.description,
                    "client ID metadata document refused"
                );
                self.remember_refusal(client_id, &error, now);
                Err(error.into())
            }
        }
    }

    fn admit_new_client(&self, now: i64) -> bool {
        self.new_clients
            .lock()
            .map(|mut new| new.admit(now))
            .unwrap_or(false)
    }

    fn kept(&self, client_id: &str, now: i64) -> Option<ClientRecord> {
        let kept = self.kept.lock().ok()?;
        kept.get(client_id)
            .filter(|entry| now < entry.until)
            .map(|entry| entry.client.clone())
    }

    fn keep(&self, client: &ClientRecord, until: i64) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        if kept.len() >= MAX_ENTRIES {
            let now = self.clock.now();
            kept.retain(|_, entry| now < entry.until);
            if kept.len() >= MAX_ENTRIES {
                kept.clear();
            }
        }
        kept.insert(
            client.client_id.clone(),
            Kept {
                client: client.clone(),
                until,
            },
        );
    }

    fn recently_refused(&self, client_id: &str, now: i64) -> Option<DocumentError> {
        let refused = self.refused.lock().ok()?;
        refused
            .get(client_id)
            .filter(|(_, until)| now < *until)
            .map(|(error, _)| error.clone())
    }

    fn remember_refusal(&self, client_id: &str, error: &DocumentError, now: i64) {
        let Ok(mut refused) = self.refused.lock() else {
            return;
        };
        if refused.len() >= MAX_ENTRIES {
            refused.retain(|_, (_, until)| now < *until);
            if refused.len() >= MAX_ENTRIES {
                refused.clear();
            }
        }
        refused.insert(
            client_id.to_owned(),
            (error.clone(), now.saturating_add(RETRY_AFTER)),
        );
    }

    /// Fetches and checks the document of `client_id`: the client it describes, and
    /// how long it may be kept.
    async fn fetch(&self, client_id: &str, now: i64) -> Result<(ClientRecord, i64), DocumentError> {
        let url = check_client_id_url(client_id)?;
        fetch::check_public_url(url.as_str(), &self.policy)
            .map_err(|e| DocumentError::new("address", e))?;
        let response = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                DocumentError::new(
                    "fetch",
                    format!(
                        "the client ID metadata document {client_id} cannot be fetched: {}",
                        fetch::describe(&e)
                    ),
                )
            })?;
        let status = response.status();
        if status.is_redirection() {
            return Err(DocumentError::new(
                "redirect",
                format!(
                    "the client ID metadata document {client_id} answered HTTP {status}, a \
                     redirect, which is not followed: serve the document at its client_id URL"
                ),
            ));
        }
        if status != reqwest::StatusCode::OK {
            return Err(DocumentError::new(
                "status",
                format!(
                    "the client ID metadata document {client_id} answered HTTP {status}, not 200"
                ),
            ));
        }
        let lifetime = cache_lifetime(response.headers(), now);
        let body = fetch::read_body(response, MAX_DOCUMENT_BYTES, client_id)
            .await
            .map_err(|e| {
                let kind = if e.contains("too large") {
                    "too_large"
                } else {
                    "fetch"
                };
                DocumentError::new(
                    kind,
                    format!(
                        "the client ID metadata document {client_id} cannot be read: {e} \
                         (at most {MAX_DOCUMENT_BYTES} bytes)"
                    ),
                )
            })?;
        let document: Value = serde_json::from_slice(&body).map_err(|e| {
            DocumentError::new(
                "not_json",
                format!("the client ID metadata document {client_id} is not JSON ({e})"),
            )
        })?;
        let client = self.client_from_document(client_id, document).await?;
        Ok((client, lifetime))
    }

    /// The client `document` (fetched from `client_id`) describes.
    async fn client_from_document(
        &self,
        client_id: &str,
        document: Value,
    ) -> Result<ClientRecord, DocumentError> {
        let refuse = |why: String| {
            DocumentError::new(
                "refused",
                format!("the client ID metadata document {client_id} is refused: {why}"),
            )
        };
        let Value::Object(mut members) = document else {
            return Err(DocumentError::new(
                "not_json",
                format!("the client ID metadata document {client_id} is not a JSON object"),
            ));
        };
        match members.get("client_id") {
            Some(Value::String(stated)) if stated == client_id => {}
            Some(Value::String(stated)) => {
                return Err(DocumentError::new(
                    "mismatch",
                    format!(
                        "the client ID metadata document {client_id} names another client_id \
                         ({}); it must be its own URL, exactly",
                        stated.chars().take(200).collect::<String>()
                    ),
                ))
            }
            _ => {
                return Err(DocumentError::new(
                    "mismatch",
                    format!(
                        "the client ID metadata document {client_id} has no client_id string; \
                         it must be its own URL, exactly"
                    ),
                ))
            }
        }
        for member in ["client_secret", "client_secret_expires_at"] {
            if members.contains_key(member) {
                return Err(refuse(format!(
                    "it contains {member}: a client identified by its metadata document \
                     has no shared secret"
                )));
            }
        }
        let mut auth_methods = vec!["none".to_owned()];
        auth_methods.extend(self.jwt_methods.get().cloned().unwrap_or_default());
        match members.get("token_endpoint_auth_method") {
            None | Some(Value::Null) => {
                members.insert("token_endpoint_auth_method".into(), "none".into());
            }
            Some(Value::String(method)) if SHARED_SECRET_METHODS.contains(&method.as_str()) => {
                return Err(refuse(format!(
                    "token_endpoint_auth_method {method} uses a shared secret, which a \
                     client identified by its metadata document cannot have; use {}",
                    auth_methods.join(" or ")
                )))
            }
            Some(_) => {}
        }
        let policy = Policy {
            scopes: self.scopes.clone(),
            signing_algorithms: self.signing_algorithms.clone(),
            auth_methods,
        };
        let mut client = registration::client_from_metadata(&Value::Object(members), &policy)
            .map_err(|refusal| refuse(refusal.description))?;
        client.client_id = client_id.to_owned();
        client.metadata.extras.insert_raw(MARKER, Value::Bool(true));
        crate::clients::check_remote_urls(&client, &self.policy)
            .await
            .map_err(|e| refuse(e.to_string()))?;
        Ok(client)
    }
}

/// Writes `client`'s row: an update when one exists, else an insert (an update
/// after all when another instance inserted it first).
async fn save(store: &SqlStore, client: &ClientRecord, exists: bool) -> Result<(), StoreError> {
    if exists
        && store
            .update_client(client)
            .await
            .map_err(StoreError::from)?
    {
        return Ok(());
    }
    match store.insert_client(client).await {
        Ok(()) => Ok(()),
        Err(error) if error.is_conflict() => {
            store
                .update_client(client)
                .await
                .map_err(StoreError::from)?;
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

#[async_trait]
impl UrlClientResolver for ClientDocuments {
    async fn resolve_client(
        &self,
        store: &SqlStore,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        match self.resolve(store, client_id).await {
            Ok(client) => Ok(Some(client)),
            // Logged when it was refused; the caller answers `invalid_client`.
            Err(ResolveError::Document(_)) => Ok(None),
            Err(ResolveError::Store(error)) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderValue, CACHE_CONTROL, DATE, EXPIRES};

    #[test]
    fn client_id_urls_are_https_with_a_path_in_normal_form() {
        for good in [
            "https://app.example.com/client.json",
            "https://app.example.com/oauth/client-metadata",
            "https://app.example.com:8443/c.json",
            "https://app.example.com/c.json?v=2",
            "https://127.0.0.1:9000/c.json",
        ] {
            check_client_id_url(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for (bad, words) in [
            ("http://app.example.com/client.json", "https"),
            ("https://app.example.com", "path"),
            ("https://app.example.com/", "path"),
            ("https://app.example.com/c.json#x", "fragment"),
            ("https://user@app.example.com/c.json", "user information"),
            ("https://user:pw@app.example.com/c.json", "user information"),
            ("https://app.example.com/a/../c.json", ". or .."),
            ("https://app.example.com/a/./c.json", ". or .."),
            ("https://app.example.com/a/%2E%2e/c.json", ". or .."),
            ("https://APP.example.com/c.json", "normal form"),
            ("https://app.example.com:443/c.json", "normal form"),
            ("app.example.com/c.json", "not a URL"),
        ] {
            let error = check_client_id_url(bad).unwrap_err();
            assert_eq!(error.kind, "client_id");
            assert!(error.description.contains(words), "{bad}: {error}");
        }
    }

    fn headers(pairs: &[(http::header::HeaderName, &'static str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_lifetime_follows_the_caching_headers_within_bounds() {
        let now = 1_700_000_000;
        assert_eq!(cache_lifetime(&headers(&[]), now), DEFAULT_LIFETIME);
        for (value, lifetime) in [
            ("max-age=600", 600),
            ("public, max-age=3600", 3600),
            ("max-age=\"120\"", 120),
            ("max-age=5", MIN_LIFETIME),
            ("max-age=99999999", MAX_LIFETIME),
            ("max-age=0", 0),
            ("max-age=nonsense", 0),
            ("no-store", 0),
            ("no-cache", 0),
            ("max-age=600, no-store", 0),
            ("NO-STORE", 0),
        ] {
            assert_eq!(
                cache_lifetime(&headers(&[(CACHE_CONTROL, value)]), now),
                lifetime,
                "{value}"
            );
        }
        let expires = headers(&[
            (DATE, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (EXPIRES, "Sun, 06 Nov 1994 09:49:37 GMT"),
        ]);
        assert_eq!(cache_lifetime(&expires, now), 3600);
        let past = headers(&[(EXPIRES, "Sun, 06 Nov 1994 09:49:37 GMT")]);
        assert_eq!(cache_lifetime(&past, now), 0);
        assert_eq!(cache_lifetime(&headers(&[(EXPIRES, "0")]), now), 0);
        let both = headers(&[
            (CACHE_CONTROL, "max-age=120"),
            (EXPIRES, "Sun, 06 Nov 1994 09:49:37 GMT"),
        ]);
        assert_eq!(cache_lifetime(&both, now), 120, "max-age wins over Expires");
    }

    #[test]
    fn new_clients_are_limited_per_hour() {
        let mut new = NewClients::default();
        let start = 1_700_000_000;
        for _ in 0..MAX_NEW_CLIENTS_PER_HOUR {
            assert!(new.admit(start));
        }
        assert!(!new.admit(start + 10), "the hour's allowance is spent");
        assert!(!new.admit(start + 3599));
        assert!(new.admit(start + 3600), "a new hour");
    }

    #[test]
    fn only_marked_clients_show_their_host() {
        let mut client = ClientRecord::new("https://app.example.com:8443/c.json");
        assert_eq!(document_host(&client), None);
        client.metadata.extras.insert_raw(MARKER, Value::Bool(true));
        assert_eq!(
            document_host(&client).as_deref(),
            Some("app.example.com:8443")
        );
    }
}
