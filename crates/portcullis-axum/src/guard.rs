//! The resource-server guard: bearer tokens for an axum API (RFC 6750).
//!
//! Two ways to use it:
//!
//! * the [`Bearer`] extractor validates the `Authorization: Bearer` header of a request
//!   (the state must provide a [`ResourceProtector`] through `FromRef`); check scopes
//!   in the handler with [`Bearer::require_scope`];
//! * the [`require_bearer`] middleware with a [`ResourceGuard`] protects whole routes,
//!   checks their required scope, also accepts the token in a form body (§2.2), and
//!   hands the validated [`TokenInfo`] to handlers (a [`Bearer`] extractor then reuses
//!   it). Given the resource's metadata ([`ResourceGuard::with_resource_metadata`],
//!   RFC 9728), it also refuses tokens meant for another resource and names the
//!   metadata URL in its challenges (`resource_metadata="…"`, RFC 9728 §5.1).

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};
use portcullis_core::http::MAX_BODY_BYTES;
use portcullis_core::resource::quote_safe;
use portcullis_core::resource::{is_form_body, RequestHead};
use portcullis_core::{BearerError, ResourceProtector, Scope, TokenInfo};

use crate::into_response;
use crate::resource_metadata::{same_resource, ProtectedResourceMetadata};

/// A validated bearer token.
#[derive(Debug, Clone)]
#[allow(clippy::exhaustive_structs)] // a newtype to destructure: `Bearer(token)`
pub struct Bearer(pub TokenInfo);

/// A refused protected request: renders the RFC 6750 challenge.
#[derive(Debug, Clone)]
pub struct BearerRejection {
    error: BearerError,
    realm: String,
}

impl BearerRejection {
    /// The reason.
    pub fn error(&self) -> &BearerError {
        &self.error
    }
}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        into_response(self.error.into_response(&self.realm))
    }
}

impl Bearer {
    /// Succeeds when the token carries every token of `scope` (space-separated);
    /// otherwise a `403 insufficient_scope` rejection. Its challenge names the default
    /// realm `portcullis`; for another realm, require the scope with
    /// [`ResourceGuard::require_scope`], which uses the protector's realm.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerRejection> {
        let required = Scope::from_tokens(scope.split(' ').filter(|s| !s.is_empty()));
        if required.is_subset_of(&self.0.scope) {
            Ok(())
        } else {
            Err(BearerRejection {
                error: BearerError::InsufficientScope(required),
                realm: "portcullis".to_owned(),
            })
        }
    }
}

impl<S> FromRequestParts<S> for Bearer
where
    S: Send + Sync,
    ResourceProtector: FromRef<S>,
{
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(info) = parts.extensions.get::<TokenInfo>() {
            return Ok(Bearer(info.clone()));
        }
        let protector = ResourceProtector::from_ref(state);
        let reject = |error| BearerRejection {
            error,
            realm: protector.realm().to_owned(),
        };
        let head = RequestHead::new(&parts.method, &parts.uri, &parts.headers);
        let token = protector.extract_token(head, None).map_err(reject)?;
        let info = protector
            .validate_token(&token, &Scope::empty())
            .await
            .map_err(reject)?;
        Ok(Bearer(info))
    }
}

/// A protector plus what a group of routes requires — a scope, an audience — and the
/// resource's metadata URL to name in challenges; the state of [`require_bearer`].
#[derive(Debug, Clone)]
pub struct ResourceGuard {
    protector: ResourceProtector,
    required: Scope,
    audience: Option<String>,
    resource_metadata: Option<String>,
}

impl ResourceGuard {
    /// A guard requiring a valid token and no particular scope or audience.
    pub fn new(protector: ResourceProtector) -> Self {
        Self {
            protector,
            required: Scope::empty(),
            audience: None,
            resource_metadata: None,
        }
    }

    /// Also requires every token of `scope` (space-separated). A token that lacks any
    /// of the scopes required so far is answered `403 insufficient_scope` with all of
    /// them in `scope="…"`.
    pub fn require_scope(mut self, scope: &str) -> Self {
        self.required = Scope::from_tokens(
            self.required.iter().map(str::to_owned).chain(
                scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
        );
        self
    }

    /// Requires the token's audience (`aud`) to name `audience`, this resource's
    /// identifier: a token for another resource is `401 invalid_token` (RFC 8707 §2,
    /// RFC 9068 §4). The comparison is exact, except that a URL with no path matches
    /// with or without its trailing `/` (`https://mcp.example.com` ≡
    /// `https://mcp.example.com/`). A token with no audience is refused.
    pub fn require_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Protects the resource `metadata` describes (RFC 9728): requires its identifier
    /// as the audience ([`require_audience`](Self::require_audience)), and names its
    /// metadata URL in every `401`/`403` challenge as `resource_metadata="…"` (§5.1),
    /// so a client can find the authorization server to ask. A `401` also lists the
    /// required scope, when there is one, so the client can ask for it at once.
    pub fn with_resource_metadata(self, metadata: &ProtectedResourceMetadata) -> Self {
        let mut guard = self.require_audience(metadata.resource());
        guard.resource_metadata = Some(metadata.url().to_owned());
        guard
    }

    /// The required scope.
    pub fn required_scope(&self) -> &Scope {
        &self.required
    }

    /// Validates `token`: active, then meant for this resource, then carrying the
    /// required scope — in that order, so a token for another resource learns nothing
    /// about its scope here.
    async fn validate(&self, token: &str) -> Result<TokenInfo, BearerError> {
        let info = self
            .protector
            .validate_token(token, &Scope::empty())
            .await?;
        if let Some(audience) = &self.audience {
            if !info.audience.iter().any(|aud| same_resource(aud, audience)) {
                tracing::debug!(
                    client_id = %info.client_id,
                    expected = %audience,
                    "bearer token refused: not meant for this resource"
                );
                return Err(BearerError::WrongAudience);
            }
        }
        if !self.required.is_subset_of(&info.scope) {
            return Err(BearerError::InsufficientScope(self.required.clone()));
        }
        Ok(info)
    }

    /// The answer to a refused request: the core's RFC 6750 challenge, with
    /// `resource_metadata` (and, on a `401`, the required `scope`) added.
    fn refuse(&self, refusal: BearerError) -> Response {
        let mut response = refusal.into_response(self.protector.realm());
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(mut challenge) = challenge {
            // With the metadata (the MCP case), a 401 also says which scope to ask for
            // (MCP authorization, "Scope Selection Strategy"); without, the bare
            // RFC 6750 challenge stays as it was.
            let tell_scope = self.resource_metadata.is_some() && !self.required.is_empty();
            if status == StatusCode::UNAUTHORIZED && tell_scope {
                challenge.push_str(&format!(
                    ", scope=\"{}\"",
                    quote_safe(&self.required.to_string())
                ));
            }
            if let Some(url) = &self.resource_metadata {
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    challenge.push_str(&format!(", resource_metadata=\"{}\"", quote_safe(url)));
                }
            }
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        into_response(response)
    }
}

/// Middleware: validates the request's bearer token against the guard, then runs the
/// handler with the [`TokenInfo`] in the request extensions.
///
/// `.route_layer(axum::middleware::from_fn_with_state(guard, require_bearer))`
pub async fn require_bearer(
    State(guard): State<ResourceGuard>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    // A form body may carry the token (RFC 6750 §2.2): read it, then hand it on.
    let (body, form) = if is_form_body(&parts.method, &parts.headers) {
        match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => (Body::from(bytes.clone()), Some(bytes)),
            Err(_) => {
                return guard.refuse(BearerError::InvalidRequest("the request body is too large"))
            }
        }
    } else {
        (body, None)
    };
    let head = RequestHead::new(&parts.method, &parts.uri, &parts.headers);
    let token = match guard.protector.extract_token(head, form.as_deref()) {
        Ok(token) => token,
        Err(error) => return guard.refuse(error),
    };
    match guard.validate(&token).await {
        Ok(info) => {
            parts.extensions.insert(info);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(refusal) => guard.refuse(refusal),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use async_trait::async_trait;
    use axum::routing::get;
    use axum::Router;
    use portcullis_core::{StoreError, TokenValidator};
    use tower::ServiceExt;

    use super::*;

    const RESOURCE: &str = "https://mcp.example.com";
    const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource";

    /// A few tokens: their audience (if any) and scope.
    fn token(token: &str) -> Option<(Option<&'static str>, &'static str)> {
        Some(match token {
            "mine_tools" => (Some("https://mcp.example.com"), "mcp:tools"),
            "mineslash_tools" => (Some("https://mcp.example.com/"), "mcp:tools"),
            "mine_tools_read" => (Some("https://mcp.example.com"), "mcp:tools files:read"),
            "mine_all" => (
                Some("https://mcp.example.com"),
                "files:write mcp:tools files:read other",
            ),
            "other_tools" => (Some("https://other.example.com"), "mcp:tools"),
            "other_none" => (Some("https://other.example.com"), ""),
            "path_tools" => (Some("https://mcp.example.com/mcp"), "mcp:tools"),
            "noaud_tools" => (None, "mcp:tools"),
            "noaud_a" => (None, "a"),
            "api_none" => (Some("https://api.example.com"), ""),
            "apiv1_none" => (Some("https://api.example.com/v1"), ""),
            _ => return None,
        })
    }

    struct Tokens;

    #[async_trait]
    impl TokenValidator for Tokens {
        async fn validate(&self, access_token: &str) -> Result<Option<TokenInfo>, StoreError> {
            let Some((audience, scope)) = token(access_token) else {
                return Ok(None);
            };
            let mut info = TokenInfo::new(
                "client",
                Scope::from_tokens(scope.split_whitespace()),
                i64::MAX,
            );
            info.audience = audience.into_iter().map(str::to_owned).collect();
            Ok(Some(info))
        }
    }

    fn guard() -> ResourceGuard {
        ResourceGuard::new(ResourceProtector::new(Arc::new(Tokens)))
    }

    fn metadata() -> ProtectedResourceMetadata {
        ProtectedResourceMetadata::builder(RESOURCE)
            .authorization_server("https://auth.example.com")
            .build()
            .unwrap()
    }

    /// The status, the challenge and the body of `GET /` with `token`.
    async fn call(guard: ResourceGuard, token: Option<&str>) -> (StatusCode, String, String) {
        let protector = guard.protector.clone();
        let app: Router = Router::new()
            .route(
                "/",
                get(|Bearer(token): Bearer| async move { token.client_id }),
            )
            .route_layer(axum::middleware::from_fn_with_state(guard, require_bearer))
            .with_state(protector);
        let mut request = http::Request::get("/");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, challenge, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_401_names_the_resource_metadata_and_the_required_scope() {
        let guard = guard()
            .require_scope("mcp:tools")
            .with_resource_metadata(&metadata());
        let (status, challenge, body) = call(guard.clone(), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge,
            format!(
                "Bearer realm=\"portcullis\", scope=\"mcp:tools\", resource_metadata=\"{METADATA}\""
            )
        );
        assert_eq!(body, "{}");
        // A token presented and refused keeps its error (RFC 6750 §3).
        let (status, challenge, _) = call(guard, Some("unknown")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge,
            format!(
                "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"the access token is invalid, expired or revoked\", scope=\"mcp:tools\", resource_metadata=\"{METADATA}\""
            )
        );
    }

    #[tokio::test]
    async fn a_token_for_another_resource_is_invalid_token() {
        let guard = guard()
            .require_scope("mcp:tools")
            .with_resource_metadata(&metadata());
        for token in [
            "other_tools",
            "path_tools",
            "noaud_tools",
            // Another audience and too little scope: the audience is told, not the scope.
            "other_none",
        ] {
            let (status, challenge, body) = call(guard.clone(), Some(token)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
            assert!(
                challenge.starts_with(
                    "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"the access token is not meant for this resource\""
                ),
                "{challenge}"
            );
            assert!(challenge.contains(&format!("resource_metadata=\"{METADATA}\"")));
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"], "invalid_token");
            assert_eq!(
                body["error_description"],
                "the access token is not meant for this resource"
            );
        }
        // The identifier, with or without the slash of a host-only URL.
        for token in ["mine_tools", "mineslash_tools"] {
            let (status, _, body) = call(guard.clone(), Some(token)).await;
            assert_eq!(status, StatusCode::OK, "{token}");
            assert_eq!(body, "client");
        }
    }

    #[tokio::test]
    async fn a_403_lists_every_scope_the_routes_need() {
        let guard = guard()
            .require_scope("mcp:tools")
            .require_scope("files:read files:write")
            .with_resource_metadata(&metadata());
        assert_eq!(
            guard.required_scope().to_string(),
            "mcp:tools files:read files:write"
        );
        let (status, challenge, body) = call(guard.clone(), Some("mine_tools_read")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            challenge,
            format!(
                "Bearer realm=\"portcullis\", error=\"insufficient_scope\", error_description=\"the access token does not carry the scope this resource requires\", scope=\"mcp:tools files:read files:write\", resource_metadata=\"{METADATA}\""
            )
        );
        assert!(body.contains("insufficient_scope"));
        let (status, _, _) = call(guard, Some("mine_all")).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn without_metadata_the_challenges_and_audiences_are_as_before() {
        let (status, challenge, _) = call(guard().require_scope("a"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge, "Bearer realm=\"portcullis\"");
        let (status, _, _) = call(guard(), Some("other_none")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, challenge, _) = call(guard().require_scope("a b"), Some("noaud_a")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(challenge.ends_with("scope=\"a b\""), "{challenge}");
        assert!(!challenge.contains("resource_metadata"));
        // An audience alone, without metadata.
        let only_audience = guard().require_audience("https://api.example.com/v1");
        let (status, challenge, _) = call(only_audience.clone(), Some("api_none")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(!challenge.contains("resource_metadata"));
        let (status, _, _) = call(only_audience, Some("apiv1_none")).await;
        assert_eq!(status, StatusCode::OK);
    }
}
