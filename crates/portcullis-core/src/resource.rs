//! Protecting resources with bearer tokens (RFC 6750).
//!
//! A [`ResourceProtector`] extracts the bearer token from a request — the
//! `Authorization: Bearer` header (§2.1), or the form body (§2.2); the query string
//! (§2.3) only when enabled — validates it through a [`TokenValidator`], checks the
//! scope the resource requires, and answers failures with the RFC 6750 §3 challenge:
//! `401 invalid_token`, `403 insufficient_scope`, `400 invalid_request`.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};

use std::fmt;

use crate::clock::Clock;
use crate::error::StoreError;
use crate::http::{json_response, OAuthResponse, Params};
use crate::model::Token;
use crate::scope::Scope;
use crate::store::TokenStore;
use crate::tokens::{AccessTokenStrategy, OpaqueTokens};

/// What a valid access token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The client the token was issued to.
    pub client_id: String,
    /// The scope granted.
    pub scope: Scope,
    /// The user, if any.
    pub subject: Option<String>,
    /// When the token expires (UTC seconds).
    pub expires_at: i64,
    /// The audiences the token is meant for (`aud`).
    pub audience: Vec<String>,
}

impl TokenInfo {
    /// A token of `client_id` with `scope`, expiring at `expires_at`: no user, no
    /// audience (set the fields).
    pub fn new(client_id: impl Into<String>, scope: Scope, expires_at: i64) -> Self {
        Self {
            client_id: client_id.into(),
            scope,
            subject: None,
            expires_at,
            audience: Vec::new(),
        }
    }
}

/// Decides whether an access token is active and what it grants.
///
/// Only *access* tokens may pass: a refresh token, an ID token or any other token
/// presented as a bearer token must be `None`, whatever it grants elsewhere (issue 9:
/// a refresh token is no credential for an API).
#[async_trait]
pub trait TokenValidator: Send + Sync + 'static {
    /// The token's grant when it is an active access token; `None` when it is
    /// unknown, expired, revoked, or not an access token.
    async fn validate(&self, access_token: &str) -> Result<Option<TokenInfo>, StoreError>;
}

/// Validates tokens against the authorization server's own store: the strategy that
/// minted them tells their key ([`AccessTokenStrategy::key`]), and the store is asked
/// for an access token under it (never a refresh token).
pub struct StoreTokenValidator<S> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    strategy: Arc<dyn AccessTokenStrategy>,
}

impl<S> fmt::Debug for StoreTokenValidator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreTokenValidator")
            .finish_non_exhaustive()
    }
}

impl<S> StoreTokenValidator<S> {
    /// A validator over `store`, judging expiry by `clock`, for opaque tokens.
    pub fn new(store: Arc<S>, clock: Arc<dyn Clock>) -> Self {
        Self::with_strategy(store, clock, Arc::new(OpaqueTokens))
    }

    /// A validator for the tokens of `strategy`.
    pub fn with_strategy(
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        strategy: Arc<dyn AccessTokenStrategy>,
    ) -> Self {
        Self {
            store,
            clock,
            strategy,
        }
    }
}

#[async_trait]
impl<S: TokenStore> TokenValidator for StoreTokenValidator<S> {
    async fn validate(&self, access_token: &str) -> Result<Option<TokenInfo>, StoreError> {
        let Some(key) = self.strategy.key(access_token) else {
            return Ok(None);
        };
        let Some(token) = self.store.find_access_token(&key).await? else {
            return Ok(None);
        };
        if token.is_revoked() || token.is_expired(self.clock.now()) {
            return Ok(None);
        }
        let mut info = TokenInfo::new(token.client_id(), token.scope(), token.expires_at());
        info.subject = token.subject().map(str::to_owned);
        info.audience = token.audience();
        Ok(Some(info))
    }
}

/// The parts of a request a bearer token can travel in, besides the body.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI (its query may hold the token).
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

impl<'a> RequestHead<'a> {
    /// The head of a request with this method, URI and headers.
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            uri,
            headers,
        }
    }
}

/// Why a protected request was refused (RFC 6750 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BearerError {
    /// No token: `401` with a bare challenge and no error code (§3.1).
    Missing,
    /// Malformed request (e.g. the token sent in two ways): `400 invalid_request`.
    InvalidRequest(&'static str),
    /// Unknown, expired or revoked token: `401 invalid_token`.
    InvalidToken,
    /// A valid token whose audience is another resource (RFC 8707, RFC 9728): `401
    /// invalid_token`, saying so.
    WrongAudience,
    /// The token lacks a required scope: `403 insufficient_scope`.
    InsufficientScope(Scope),
    /// The validator failed: `500`.
    ServerError,
}

impl BearerError {
    /// The HTTP response, with the `WWW-Authenticate: Bearer` challenge for `realm`.
    pub fn into_response(self, realm: &str) -> OAuthResponse {
        let (status, code, description, scope) = match &self {
            Self::Missing => (
                StatusCode::UNAUTHORIZED,
                None,
                "an access token is required",
                None,
            ),
            Self::InvalidRequest(d) => (StatusCode::BAD_REQUEST, Some("invalid_request"), *d, None),
            Self::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "the access token is invalid, expired or revoked",
                None,
            ),
            Self::WrongAudience => (
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "the access token is not meant for this resource",
                None,
            ),
            Self::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "the access token does not carry the scope this resource requires",
                Some(scope.to_string()),
            ),
            Self::ServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "the token could not be validated; try again later",
                None,
            ),
        };
        let mut challenge = format!("Bearer realm=\"{}\"", quote_safe(realm));
        if let Some(code) = code {
            challenge.push_str(&format!(
                ", error=\"{code}\", error_description=\"{description}\""
            ));
        }
        if let Some(scope) = &scope {
            challenge.push_str(&format!(", scope=\"{scope}\""));
        }
        // RFC 6750 §3.1: a request without a token gets no error information.
        let body = match (code, &self) {
            (Some(code), _) => serde_json::json!({"error": code, "error_description": description}),
            (None, Self::Missing) => serde_json::json!({}),
            (None, _) => serde_json::json!({"error_description": description}),
        };
        let mut response = json_response(status, &body);
        let logged = match &self {
            Self::Missing => None,
            Self::InvalidRequest(_) => Some(crate::error::ErrorCode::InvalidRequest),
            Self::InvalidToken | Self::WrongAudience => Some(crate::error::ErrorCode::InvalidToken),
            Self::InsufficientScope(_) => Some(crate::error::ErrorCode::InsufficientScope),
            Self::ServerError => Some(crate::error::ErrorCode::ServerError),
        };
        if let Some(code) = logged {
            response.extensions_mut().insert(code);
        }
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// `value` made safe inside an RFC 7230 quoted-string of a challenge: quotes,
/// backslashes and control characters dropped.
pub fn quote_safe(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

/// Validates bearer tokens on protected requests.
#[derive(Clone)]
pub struct ResourceProtector {
    validator: Arc<dyn TokenValidator>,
    realm: String,
    allow_query: bool,
}

impl fmt::Debug for ResourceProtector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceProtector")
            .field("realm", &self.realm)
            .field("allow_query", &self.allow_query)
            .finish_non_exhaustive()
    }
}

impl ResourceProtector {
    /// A protector using `validator`, realm `"portcullis"`, query tokens refused.
    pub fn new(validator: Arc<dyn TokenValidator>) -> Self {
        Self {
            validator,
            realm: "portcullis".to_owned(),
            allow_query: false,
        }
    }

    /// Sets the realm named in challenges.
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Accepts `?access_token=` in the query string (RFC 6750 §2.3). Off by default:
    /// URLs end up in logs and browser history.
    pub fn allow_query_token(mut self, allow: bool) -> Self {
        self.allow_query = allow;
        self
    }

    /// The realm named in challenges.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Finds the bearer token in a request: its head, and its body when the body is a
    /// form (pass `None` when the body is not available).
    pub fn extract_token(
        &self,
        head: RequestHead<'_>,
        body: Option<&[u8]>,
    ) -> Result<String, BearerError> {
        extract_bearer(head, body, self.allow_query)
    }

    /// Validates `token` and checks that it carries every token of `required`.
    pub async fn validate_token(
        &self,
        token: &str,
        required: &Scope,
    ) -> Result<TokenInfo, BearerError> {
        let info = self
            .validator
            .validate(token)
            .await
            .map_err(|error| {
                tracing::error!(%error, "token validation failed");
                BearerError::ServerError
            })?
            .ok_or(BearerError::InvalidToken)?;
        if !required.is_subset_of(&info.scope) {
            return Err(BearerError::InsufficientScope(required.clone()));
        }
        Ok(info)
    }

    /// Extracts, validates and scope-checks the token of a whole request.
    pub async fn validate_request(
        &self,
        request: &http::Request<Bytes>,
        required: &Scope,
    ) -> Result<TokenInfo, BearerError> {
        let head = RequestHead::new(request.method(), request.uri(), request.headers());
        let token = self.extract_token(head, Some(request.body()))?;
        self.validate_token(&token, required).await
    }
}

/// Finds the bearer token of a request (RFC 6750 §2): the `Authorization` header, a
/// form body, or — when `allow_query` — the query string; exactly one of them.
pub(crate) fn extract_bearer(
    head: RequestHead<'_>,
    body: Option<&[u8]>,
    allow_query: bool,
) -> Result<String, BearerError> {
    let mut found: Vec<String> = Vec::new();
    if let Some(value) = head.headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| BearerError::InvalidRequest("the Authorization header is not valid"))?;
        match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                let token = token.trim();
                if token.is_empty() || !token.bytes().all(is_b64token_char) {
                    return Err(BearerError::InvalidToken);
                }
                found.push(token.to_owned());
            }
            _ => {}
        }
    }
    if let Some(body) = body {
        if is_form_body(head.method, head.headers) {
            let params = Params::parse(body)
                .map_err(|_| BearerError::InvalidRequest("the request body is malformed"))?;
            if let Some(token) = params.get("access_token") {
                found.push(token.to_owned());
            }
        }
    }
    let query = Params::parse(head.uri.query().unwrap_or("").as_bytes())
        .map_err(|_| BearerError::InvalidRequest("the query string is malformed"))?;
    if let Some(token) = query.get("access_token") {
        if !allow_query {
            return Err(BearerError::InvalidRequest(
                "access tokens are not accepted in the query string; use the Authorization header",
            ));
        }
        found.push(token.to_owned());
    }
    match found.len() {
        0 => Err(BearerError::Missing),
        1 => Ok(found.swap_remove(0)),
        _ => Err(BearerError::InvalidRequest(
            "the access token was sent in more than one way",
        )),
    }
}

/// True when a request may carry the token in its body (RFC 6750 §2.2): a form
/// body on a method that has one.
pub fn is_form_body(method: &Method, headers: &HeaderMap) -> bool {
    method != Method::GET
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
}

/// RFC 6750 §2.1 b64token characters.
fn is_b64token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}
