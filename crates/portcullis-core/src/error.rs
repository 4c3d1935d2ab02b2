//! Protocol errors (RFC 6749 §4.1.2.1, §4.2.2.1, §5.2; RFC 6750 §3.1) and storage errors.
//!
//! [`OAuthError`] carries an RFC error code, a description a person can act on, and —
//! on the authorization endpoint — where it may be sent. An error is only ever
//! redirected to a redirect URI that was verified against the client's registration;
//! otherwise the application renders it itself ([`OAuthError::is_redirect`] tells which).

use std::borrow::Cow;
use std::fmt;

use http::{header, HeaderValue, StatusCode};

use crate::response::{json_response, redirect_response, OAuthResponse};
use crate::response_mode::ResponseMode;

/// The error codes of RFC 6749, RFC 6750, RFC 7009 and OpenID Connect Core §3.1.2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed (unknown client, wrong secret, wrong method).
    InvalidClient,
    /// The grant (code, refresh token, credentials) is invalid, expired, revoked or
    /// issued to another client.
    InvalidGrant,
    /// The client may not use this grant type or response type.
    UnauthorizedClient,
    /// The server does not support this grant type.
    UnsupportedGrantType,
    /// The server does not support this response type.
    UnsupportedResponseType,
    /// The requested scope is invalid, unknown, or exceeds what was granted.
    InvalidScope,
    /// The resource owner or the server denied the request.
    AccessDenied,
    /// An unexpected condition prevented the server from fulfilling the request.
    ServerError,
    /// The server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// RFC 6750: the access token is expired, revoked, malformed or unknown.
    InvalidToken,
    /// RFC 6750: the access token lacks a scope the resource requires.
    InsufficientScope,
    /// RFC 7009: the server does not support revoking this token type.
    UnsupportedTokenType,
    /// OpenID Connect: `prompt=none`, and the user must sign in.
    LoginRequired,
    /// OpenID Connect: `prompt=none`, and the user must consent.
    ConsentRequired,
    /// OpenID Connect: `prompt=none`, and the user must interact in some other way.
    InteractionRequired,
    /// OpenID Connect: `prompt=none`, and the user must choose an account.
    AccountSelectionRequired,
    /// OpenID Connect: the `request` parameter (a request object) is not supported.
    RequestNotSupported,
    /// OpenID Connect: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// RFC 8707 §2: a `resource` is invalid (not an absolute URI, or with a
    /// fragment), unknown, or not one this client may ask for (or was granted).
    InvalidTarget,
}

impl ErrorCode {
    /// The code as it appears on the wire, e.g. `"invalid_request"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidTarget => "invalid_target",
        }
    }

    /// The HTTP status a JSON error response with this code carries.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope | Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A caller's value, safe to quote in an `error_description`: the characters RFC 6749
/// §5.2 allows there (printable ASCII but `"` and `\`), others shown as `?`, at most 40
/// of them.
pub(crate) fn quoted_input(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(40)
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect();
    if value.chars().count() > 40 {
        out.push_str("...");
    }
    out
}

/// Where an authorization-endpoint error is delivered: the verified redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorRedirect {
    /// The redirect URI, already checked against the client's registration.
    pub redirect_uri: String,
    /// The `state` the client sent, echoed unchanged.
    pub state: Option<String>,
    /// How the parameters are delivered (query, fragment or form_post).
    pub response_mode: ResponseMode,
    /// The issuer identifier added as `iss` (RFC 9207), when the server has one.
    pub issuer: Option<String>,
}

impl ErrorRedirect {
    /// A target at `redirect_uri` (already verified), delivered in `response_mode`,
    /// without `state` or `iss`.
    pub fn new(redirect_uri: impl Into<String>, response_mode: ResponseMode) -> Self {
        Self {
            redirect_uri: redirect_uri.into(),
            state: None,
            response_mode,
            issuer: None,
        }
    }

    /// Echoes `state`.
    pub fn with_state(mut self, state: Option<String>) -> Self {
        self.state = state;
        self
    }

    /// Adds `iss`.
    pub fn with_issuer(mut self, issuer: Option<String>) -> Self {
        self.issuer = issuer;
        self
    }
}

/// A protocol error: RFC code, human description, and how it is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    code: ErrorCode,
    description: Cow<'static, str>,
    status: StatusCode,
    redirect: Option<Box<ErrorRedirect>>,
    /// Extra `WWW-Authenticate` parameters (RFC 6750 `scope`) and realm.
    www_authenticate: Option<String>,
    allow: Option<&'static str>,
}

impl OAuthError {
    /// An error with the given code and description, and the code's usual status.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let mut error = Self {
            code,
            description: description.into(),
            status: code.status(),
            redirect: None,
            www_authenticate: None,
            allow: None,
        };
        if code == ErrorCode::InvalidClient {
            // RFC 6749 §5.2: 401 with a challenge for the authentication scheme.
            error.www_authenticate = Some("Basic realm=\"portcullis\"".to_owned());
        }
        error
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client` (401 with `WWW-Authenticate`) with a description.
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope` with a description.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// `invalid_target` (RFC 8707 §2) with a description.
    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }

    /// `unauthorized_client` with a description.
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, description)
    }

    /// `server_error`; the description is generic so that no internal detail leaks.
    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the authorization server could not complete the request; try again later",
        )
    }

    /// `405 Method Not Allowed` with an `Allow` header, as an `invalid_request` body.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut error = Self::invalid_request(format!("this endpoint accepts {allow} only"));
        error.status = StatusCode::METHOD_NOT_ALLOWED;
        error.allow = Some(allow);
        error
    }

    /// The RFC error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable `error_description`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The HTTP status of the JSON form of this error.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Overrides the HTTP status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Sets the `WWW-Authenticate` challenge sent with the JSON form of this error.
    pub fn with_www_authenticate(mut self, challenge: impl Into<String>) -> Self {
        self.www_authenticate = Some(challenge.into());
        self
    }

    /// Attaches a verified redirect target: the error will be sent to the client there.
    pub fn with_redirect(mut self, redirect: ErrorRedirect) -> Self {
        self.redirect = Some(Box::new(redirect));
        self
    }

    /// True when this error is delivered by redirecting to the client; false when the
    /// application must render it itself (the redirect URI or client is not verified).
    pub fn is_redirect(&self) -> bool {
        self.redirect.is_some()
    }

    /// The verified redirect target, if any.
    pub fn redirect(&self) -> Option<&ErrorRedirect> {
        self.redirect.as_deref()
    }

    /// The error as RFC 6749 parameters: `error`, `error_description`, then `state`
    /// and `iss` when redirecting.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("error", self.code.as_str().to_owned()),
            ("error_description", self.description.to_string()),
        ];
        if let Some(redirect) = &self.redirect {
            if let Some(state) = &redirect.state {
                params.push(("state", state.clone()));
            }
            if let Some(iss) = &redirect.issuer {
                params.push(("iss", iss.clone()));
            }
        }
        params
    }

    /// Renders the error: a redirect to the verified redirect URI, or a JSON body with
    /// the right status (and `WWW-Authenticate` / `Allow` where they apply). The
    /// response carries the [`ErrorCode`] in its extensions, for access logs.
    pub fn into_response(self) -> OAuthResponse {
        if let Some(redirect) = &self.redirect {
            let mut response = redirect_response(
                &redirect.redirect_uri,
                redirect.response_mode,
                &self.params(),
            );
            // For access logs: the code, without reading the body or the Location.
            response.extensions_mut().insert(self.code);
            return response;
        }
        let body = serde_json::json!({
            "error": self.code.as_str(),
            "error_description": self.description,
        });
        let mut response = json_response(self.status, &body);
        if let Some(challenge) = &self.www_authenticate {
            if let Ok(value) = HeaderValue::from_str(challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response.extensions_mut().insert(self.code);
        response
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}

/// What kind of storage failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The storage failed (database down, corrupt row...): `server_error`.
    Failed,
    /// The write names a client that no longer exists (it was deleted after it was
    /// read, by another process or instance): `invalid_client`, never a `500`.
    UnknownClient,
}

/// A failure of the storage behind the storage traits (database down, corrupt row...).
///
/// Grants turn it into `server_error` and log it; its message never reaches a client.
/// A write for a client deleted meanwhile ([`StoreErrorKind::UnknownClient`]) becomes
/// `invalid_client` instead.
#[derive(Debug, thiserror::Error)]
#[error("storage error: {message}")]
pub struct StoreError {
    message: String,
    kind: StoreErrorKind,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A storage error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: StoreErrorKind::Failed,
            source: None,
        }
    }

    /// A storage error wrapping the underlying driver error.
    pub fn from_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            kind: StoreErrorKind::Failed,
            source: Some(Box::new(source)),
        }
    }

    /// A write refused because its client no longer exists (see
    /// [`StoreErrorKind::UnknownClient`]).
    pub fn unknown_client(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: StoreErrorKind::UnknownClient,
            source: None,
        }
    }

    /// Sets the kind (keeping message and source).
    pub fn with_kind(mut self, kind: StoreErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        if error.kind == StoreErrorKind::UnknownClient {
            tracing::info!(error = %error, "a request's client was deleted while it was answered");
            return OAuthError::invalid_client("the client is not registered (it was deleted)");
        }
        tracing::error!(error = %error, source = ?std::error::Error::source(&error), "storage failure");
        OAuthError::server_error()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_401_with_challenge() {
        let response = OAuthError::invalid_client("unknown client").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn json_error_has_code_and_description() {
        let response = OAuthError::invalid_grant("code expired").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(body["error_description"], "code expired");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn redirect_error_carries_state_and_iss() {
        let response = OAuthError::new(ErrorCode::AccessDenied, "the user said no")
            .with_redirect(ErrorRedirect {
                redirect_uri: "https://app.example/cb".into(),
                state: Some("xyz".into()),
                response_mode: ResponseMode::Query,
                issuer: Some("https://as.example".into()),
            })
            .into_response();
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with("https://app.example/cb?error=access_denied"));
        assert!(location.contains("state=xyz"));
        assert!(location.contains("iss=https%3A%2F%2Fas.example"));
    }

    #[test]
    fn method_not_allowed_has_allow_header() {
        let response = OAuthError::method_not_allowed("POST").into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "POST");
    }
}
