//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document that tells a client
//! which authorization servers issue tokens for this resource, which scopes it knows
//! and how it takes a bearer token — what an MCP client reads before it asks for one.
//!
//! [`ProtectedResourceMetadata::builder`] takes the resource identifier (§2: an
//! `https` URL, or `http` to a loopback host for development; no fragment, no query,
//! no credentials), checks every member when it builds, and
//! [`ProtectedResourceMetadata::router`] serves the JSON document at the well-known
//! location (§3.1): `/.well-known/oauth-protected-resource` for a resource without a
//! path, and the path-inserted form for one with a path (`https://api.example.com/mcp`
//! → `https://api.example.com/.well-known/oauth-protected-resource/mcp`), also at the
//! root location unless told not to. Hand it to
//! [`ResourceGuard::with_resource_metadata`](crate::ResourceGuard::with_resource_metadata)
//! and the guard's challenges carry `resource_metadata="…"` (§5.1) and it refuses
//! tokens meant for another resource.
//!
//! ```
//! use portcullis_axum::ProtectedResourceMetadata;
//!
//! let metadata = ProtectedResourceMetadata::builder("https://mcp.example.com/mcp")
//!     .authorization_server("https://auth.example.com")
//!     .scopes_supported(["mcp:tools"])
//!     .resource_name("Example MCP server")
//!     .build()
//!     .unwrap();
//! assert_eq!(
//!     metadata.url(),
//!     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
//! );
//! let routes: axum::Router = metadata.router();
//! ```

use std::net::IpAddr;

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};

/// The well-known location of a resource without a path (RFC 9728 §3).
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// How long clients and caches may keep the document by default, in seconds.
pub const DEFAULT_MAX_AGE: u32 = 3600;

/// Why the metadata could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The resource identifier is not one RFC 9728 §2 allows.
    #[error("the resource identifier {resource:?} is refused: {reason}")]
    InvalidResource {
        /// The identifier given.
        resource: String,
        /// Why it is refused.
        reason: String,
    },
    /// Another member's value is refused.
    #[error("{member} {value:?} is refused: {reason}")]
    InvalidMember {
        /// The metadata member (`authorization_servers`, `scopes_supported`, …).
        member: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}

/// The metadata of one protected resource, checked, with its well-known location.
#[derive(Debug, Clone)]
pub struct ProtectedResourceMetadata {
    resource: String,
    location: String,
    url: String,
    serve_at_root: bool,
    cache_control: HeaderValue,
    document: Bytes,
}

/// Builds a [`ProtectedResourceMetadata`]; every value is checked by [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct ProtectedResourceMetadataBuilder {
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Option<Vec<String>>,
    bearer_methods_supported: Vec<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    resource_policy_uri: Option<String>,
    resource_tos_uri: Option<String>,
    jwks_uri: Option<String>,
    serve_at_root: bool,
    max_age: u32,
}

impl ProtectedResourceMetadata {
    /// The metadata of the resource identified by `resource` (RFC 9728 §1.2: the URL
    /// clients name in `resource` and tokens carry in `aud`), with
    /// `bearer_methods_supported: ["header"]` and nothing else yet.
    pub fn builder(resource: impl Into<String>) -> ProtectedResourceMetadataBuilder {
        ProtectedResourceMetadataBuilder {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: None,
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: None,
            resource_documentation: None,
            resource_policy_uri: None,
            resource_tos_uri: None,
            jwks_uri: None,
            serve_at_root: true,
            max_age: DEFAULT_MAX_AGE,
        }
    }

    /// The resource identifier, as given.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The URL of the document (RFC 9728 §3.1), which the guard names in
    /// `resource_metadata`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path the document is served at: [`WELL_KNOWN_PATH`], followed by the
    /// resource's path when it has one.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The JSON document served.
    pub fn document(&self) -> &[u8] {
        &self.document
    }

    /// Routes serving the document on `GET` (and `HEAD`) at [`location`](Self::location),
    /// and — for a resource with a path, unless
    /// [`serve_at_root(false)`](ProtectedResourceMetadataBuilder::serve_at_root) — also
    /// at [`WELL_KNOWN_PATH`], where clients that know only the host look (the MCP
    /// authorization spec has clients try both). Merge them into the router that
    /// answers at the host's root, outside the guard:
    /// `Router::new().merge(metadata.router())`.
    ///
    /// The answer is `200` `application/json`, `Cache-Control: public, max-age=…`
    /// (the document is public and changes rarely) and
    /// `Access-Control-Allow-Origin: *`, so browser-based clients can read it.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let handler = {
            let document = self.document.clone();
            let cache_control = self.cache_control.clone();
            move || {
                let (document, cache_control) = (document.clone(), cache_control.clone());
                async move { serve(document, cache_control) }
            }
        };
        let mut router = Router::new().route(&self.location, get(handler.clone()));
        if self.serve_at_root && self.location != WELL_KNOWN_PATH {
            router = router.route(WELL_KNOWN_PATH, get(handler));
        }
        router
    }
}

fn serve(document: Bytes, cache_control: HeaderValue) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, cache_control),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        document,
    )
        .into_response()
}

impl ProtectedResourceMetadataBuilder {
    /// Adds an authorization server by its issuer identifier (RFC 8414: `https`, or
    /// `http` to a loopback host; no query, no fragment), in `authorization_servers`.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes a client may ask for to reach this resource (`scopes_supported`).
    /// Each must be a scope token (RFC 6749 §3.3). Calling it again adds to the list.
    pub fn scopes_supported<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes_supported
            .get_or_insert_with(Vec::new)
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// How the resource takes a bearer token (`bearer_methods_supported`: `header`,
    /// `body`, `query`); `["header"]` unless set. Set what the API really accepts:
    /// [`require_bearer`](crate::require_bearer) also reads a form body (`body`).
    pub fn bearer_methods_supported<I, T>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.bearer_methods_supported = methods.into_iter().map(Into::into).collect();
        self
    }

    /// A name for people (`resource_name`).
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The URL of the resource's documentation for developers (`resource_documentation`).
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// The URL of the resource's policy on the use of data (`resource_policy_uri`).
    pub fn resource_policy_uri(mut self, url: impl Into<String>) -> Self {
        self.resource_policy_uri = Some(url.into());
        self
    }

    /// The URL of the resource's terms of service (`resource_tos_uri`).
    pub fn resource_tos_uri(mut self, url: impl Into<String>) -> Self {
        self.resource_tos_uri = Some(url.into());
        self
    }

    /// The URL of the resource's own JWK Set (`jwks_uri`), for resources that sign
    /// responses; `https`, or `http` to a loopback host.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// Whether a resource with a path is also served at [`WELL_KNOWN_PATH`] (yes by
    /// default). Say no for all but one resource when several share a host.
    pub fn serve_at_root(mut self, serve: bool) -> Self {
        self.serve_at_root = serve;
        self
    }

    /// How long the document may be kept (`Cache-Control: max-age`), in seconds;
    /// [`DEFAULT_MAX_AGE`] unless set.
    pub fn max_age(mut self, seconds: u32) -> Self {
        self.max_age = seconds;
        self
    }

    /// Checks every value and builds the metadata.
    pub fn build(self) -> Result<ProtectedResourceMetadata, MetadataError> {
        let parsed = check_resource(&self.resource)?;
        let location = match parsed.path() {
            "/" => WELL_KNOWN_PATH.to_owned(),
            path => format!("{WELL_KNOWN_PATH}{path}"),
        };
        let url = format!("{}{location}", parsed.origin().ascii_serialization());
        let mut document = serde_json::Map::new();
        document.insert("resource".into(), self.resource.clone().into());
        for issuer in &self.authorization_servers {
            check_issuer(issuer)?;
        }
        if !self.authorization_servers.is_empty() {
            document.insert(
                "authorization_servers".into(),
                self.authorization_servers.into(),
            );
        }
        if let Some(scopes) = self.scopes_supported {
            for scope in &scopes {
                check_scope_token(scope)?;
            }
            document.insert("scopes_supported".into(), scopes.into());
        }
        for method in &self.bearer_methods_supported {
            if !matches!(method.as_str(), "header" | "body" | "query") {
                return Err(member_error(
                    "bearer_methods_supported",
                    method,
                    "RFC 9728 §2 knows header, body and query",
                ));
            }
        }
        document.insert(
            "bearer_methods_supported".into(),
            self.bearer_methods_supported.into(),
        );
        if let Some(name) = self.resource_name {
            if name.trim().is_empty() {
                return Err(member_error("resource_name", &name, "it is empty"));
            }
            document.insert("resource_name".into(), name.into());
        }
        for (member, value) in [
            ("resource_documentation", self.resource_documentation),
            ("resource_policy_uri", self.resource_policy_uri),
            ("resource_tos_uri", self.resource_tos_uri),
        ] {
            if let Some(value) = value {
                check_web_url(member, &value)?;
                document.insert(member.into(), value.into());
            }
        }
        if let Some(jwks_uri) = self.jwks_uri {
            check_https_or_loopback("jwks_uri", &jwks_uri)?;
            document.insert("jwks_uri".into(), jwks_uri.into());
        }
        let document = serde_json::to_vec(&serde_json::Value::Object(document))
            .map_err(|e| member_error("resource", &self.resource, &e.to_string()))?;
        let cache_control = HeaderValue::from_str(&format!("public, max-age={}", self.max_age))
            .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
        Ok(ProtectedResourceMetadata {
            resource: self.resource,
            location,
            url,
            serve_at_root: self.serve_at_root,
            cache_control,
            document: Bytes::from(document),
        })
    }
}

fn member_error(member: &'static str, value: &str, reason: &str) -> MetadataError {
    MetadataError::InvalidMember {
        member,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// RFC 9728 §2: the resource identifier is an `https` URL (here also `http` to a
/// loopback host), with no fragment; a query SHOULD NOT be there, and is refused, as
/// are credentials. It must be written the way a URL parser writes it (lowercase
/// host, no default port, …, a host-only URL with or without its `/`), since tokens
/// and clients compare it as a string.
fn check_resource(resource: &str) -> Result<url::Url, MetadataError> {
    let refuse = |reason: String| MetadataError::InvalidResource {
        resource: resource.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(resource).map_err(|e| refuse(format!("not a URL ({e})")))?;
    if resource.contains('#') {
        return Err(refuse("a resource identifier has no fragment".to_owned()));
    }
    if resource.contains('?') {
        return Err(refuse(
            "a resource identifier should have no query (RFC 9728 §2)".to_owned(),
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse(
            "a resource identifier has no credentials".to_owned(),
        ));
    }
    if !is_https_or_loopback(&parsed) {
        return Err(refuse(
            "it must be an https URL (http only to a loopback host, for development)".to_owned(),
        ));
    }
    let normalized = parsed.as_str();
    let host_only_without_slash = parsed.path() == "/" && format!("{resource}/") == normalized;
    if resource != normalized && !host_only_without_slash {
        return Err(refuse(format!(
            "write it as {normalized} (tokens and clients compare it as a string)"
        )));
    }
    Ok(parsed)
}

fn is_https_or_loopback(url: &url::Url) -> bool {
    let Some(host) = url.host_str().filter(|host| !host.is_empty()) else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

fn check_https_or_loopback(member: &'static str, value: &str) -> Result<url::Url, MetadataError> {
    let parsed = url::Url::parse(value)
        .map_err(|e| member_error(member, value, &format!("not a URL ({e})")))?;
    if !is_https_or_loopback(&parsed) {
        return Err(member_error(
            member,
            value,
            "it must be an https URL (http only to a loopback host, for development)",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(member_error(member, value, "a URL here has no credentials"));
    }
    Ok(parsed)
}

/// An issuer identifier (RFC 8414 §2): https (or loopback http), no query, no fragment.
fn check_issuer(issuer: &str) -> Result<(), MetadataError> {
    check_https_or_loopback("authorization_servers", issuer)?;
    if issuer.contains('?') || issuer.contains('#') {
        return Err(member_error(
            "authorization_servers",
            issuer,
            "an issuer identifier has no query and no fragment (RFC 8414 §2)",
        ));
    }
    Ok(())
}

fn check_web_url(member: &'static str, value: &str) -> Result<(), MetadataError> {
    let parsed = url::Url::parse(value)
        .map_err(|e| member_error(member, value, &format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(member_error(member, value, "it must be an http(s) URL"));
    }
    Ok(())
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn check_scope_token(scope: &str) -> Result<(), MetadataError> {
    let valid = !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
    if valid {
        Ok(())
    } else {
        Err(member_error(
            "scopes_supported",
            scope,
            "not a scope token (RFC 6749 §3.3: printable ASCII, no space, quote or backslash)",
        ))
    }
}

/// True when the token audience `audience` names `resource`: the same string, or —
/// for a URL with no path — the same with or without the `/` a URL parser adds
/// (`https://mcp.example.com` ≡ `https://mcp.example.com/`). Nothing else is
/// normalized: no case folding, no default ports.
pub(crate) fn same_resource(audience: &str, resource: &str) -> bool {
    audience == resource || host_only_form(audience) == host_only_form(resource)
}

/// `scheme://authority` of a host-only URL written `scheme://authority/`, otherwise
/// the value itself.
fn host_only_form(value: &str) -> &str {
    match value.strip_suffix('/') {
        Some(bare)
            if bare
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains('/')) =>
        {
            bare
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use tower::ServiceExt;

    fn refused(resource: &str) -> String {
        match ProtectedResourceMetadata::builder(resource).build() {
            Err(MetadataError::InvalidResource { reason, .. }) => reason,
            other => panic!("{resource}: {other:?}"),
        }
    }

    #[test]
    fn a_bad_resource_identifier_is_refused_at_build_time() {
        assert!(refused("not a url").contains("not a URL"));
        assert!(refused("http://api.example.com/mcp").contains("https"));
        assert!(refused("ftp://api.example.com/mcp").contains("https"));
        assert!(refused("https://api.example.com/mcp#frag").contains("fragment"));
        assert!(refused("https://api.example.com/mcp?tenant=1").contains("query"));
        assert!(refused("https://me:pw@api.example.com/mcp").contains("credentials"));
        assert!(refused("https://API.example.com/mcp").contains("https://api.example.com/mcp"));
        assert!(refused("https://api.example.com:443/mcp").contains("https://api.example.com/mcp"));
        let error = ProtectedResourceMetadata::builder("http://api.example.com")
            .build()
            .unwrap_err();
        assert!(
            error.to_string().contains("http://api.example.com"),
            "{error}"
        );
        // http is fine to a loopback host, for development.
        for ok in [
            "http://127.0.0.1:8080/mcp",
            "http://localhost:8080",
            "http://[::1]:8080/",
            "https://api.example.com",
            "https://api.example.com/",
            "https://api.example.com/mcp/",
        ] {
            ProtectedResourceMetadata::builder(ok).build().unwrap();
        }
    }

    #[test]
    fn bad_members_are_refused_at_build_time() {
        let base = || ProtectedResourceMetadata::builder("https://api.example.com/mcp");
        let member = |result: Result<ProtectedResourceMetadata, MetadataError>| match result {
            Err(MetadataError::InvalidMember { member, .. }) => member,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            member(
                base()
                    .authorization_server("http://auth.example.com")
                    .build()
            ),
            "authorization_servers"
        );
        assert_eq!(
            member(
                base()
                    .authorization_server("https://auth.example.com?x=1")
                    .build()
            ),
            "authorization_servers"
        );
        for scope in ["", "two words", "quo\"te", "back\\slash", "é"] {
            assert_eq!(
                member(base().scopes_supported(["ok", scope]).build()),
                "scopes_supported",
                "{scope:?}"
            );
        }
        assert_eq!(
            member(base().bearer_methods_supported(["cookie"]).build()),
            "bearer_methods_supported"
        );
        assert_eq!(
            member(base().jwks_uri("http://api.example.com/jwks").build()),
            "jwks_uri"
        );
        assert_eq!(
            member(base().resource_documentation("javascript:alert(1)").build()),
            "resource_documentation"
        );
        assert_eq!(member(base().resource_name(" ").build()), "resource_name");
    }

    #[test]
    fn the_document_is_served_at_the_path_inserted_location() {
        for (resource, location, url) in [
            (
                "https://api.example.com/mcp",
                "/.well-known/oauth-protected-resource/mcp",
                "https://api.example.com/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "https://api.example.com/a/b/",
                "/.well-known/oauth-protected-resource/a/b/",
                "https://api.example.com/.well-known/oauth-protected-resource/a/b/",
            ),
            (
                "https://api.example.com",
                "/.well-known/oauth-protected-resource",
                "https://api.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example.com/",
                "/.well-known/oauth-protected-resource",
                "https://api.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "http://127.0.0.1:8080/mcp",
                "/.well-known/oauth-protected-resource/mcp",
                "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp",
            ),
        ] {
            let metadata = ProtectedResourceMetadata::builder(resource)
                .build()
                .unwrap();
            assert_eq!(metadata.location(), location, "{resource}");
            assert_eq!(metadata.url(), url, "{resource}");
            assert_eq!(metadata.resource(), resource);
        }
    }

    #[test]
    fn the_document_lists_what_was_given() {
        let metadata = ProtectedResourceMetadata::builder("https://api.example.com/mcp")
            .authorization_server("https://auth.example.com")
            .authorization_server("http://127.0.0.1:5003")
            .scopes_supported(["mcp:tools"])
            .scopes_supported(["mcp:admin"])
            .resource_name("Example")
            .resource_documentation("https://api.example.com/docs")
            .jwks_uri("https://api.example.com/jwks")
            .build()
            .unwrap();
        let document: serde_json::Value = serde_json::from_slice(metadata.document()).unwrap();
        assert_eq!(
            document,
            serde_json::json!({
                "resource": "https://api.example.com/mcp",
                "authorization_servers": ["https://auth.example.com", "http://127.0.0.1:5003"],
                "scopes_supported": ["mcp:tools", "mcp:admin"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Example",
                "resource_documentation": "https://api.example.com/docs",
                "jwks_uri": "https://api.example.com/jwks",
            })
        );
        let bare = ProtectedResourceMetadata::builder("https://api.example.com")
            .build()
            .unwrap();
        let document: serde_json::Value = serde_json::from_slice(bare.document()).unwrap();
        assert_eq!(
            document,
            serde_json::json!({
                "resource": "https://api.example.com",
                "bearer_methods_supported": ["header"],
            })
        );
    }

    async fn get(router: Router, path: &str) -> Response {
        let request = http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        router.oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn the_router_serves_json_with_cache_control_at_both_locations() {
        let metadata = ProtectedResourceMetadata::builder("https://api.example.com/mcp")
            .authorization_server("https://auth.example.com")
            .max_age(600)
            .build()
            .unwrap();
        for path in [
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource",
        ] {
            let response = get(metadata.router(), path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], "application/json");
            assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=600");
            assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            assert_eq!(&body[..], metadata.document());
        }
        let response = get(
            metadata.router(),
            "/.well-known/oauth-protected-resource/other",
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);

        let only_inserted = ProtectedResourceMetadata::builder("https://api.example.com/mcp")
            .serve_at_root(false)
            .build()
            .unwrap();
        let response = get(
            only_inserted.router(),
            "/.well-known/oauth-protected-resource",
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let response = get(
            only_inserted.router(),
            "/.well-known/oauth-protected-resource/mcp",
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=3600"
        );
    }

    #[test]
    fn audiences_match_exactly_or_by_the_root_slash() {
        assert!(same_resource(
            "https://mcp.example.com",
            "https://mcp.example.com"
        ));
        assert!(same_resource(
            "https://mcp.example.com/",
            "https://mcp.example.com"
        ));
        assert!(same_resource(
            "https://mcp.example.com",
            "https://mcp.example.com/"
        ));
        assert!(same_resource(
            "https://mcp.example.com/mcp",
            "https://mcp.example.com/mcp"
        ));
        assert!(!same_resource(
            "https://mcp.example.com/mcp/",
            "https://mcp.example.com/mcp"
        ));
        assert!(!same_resource(
            "https://mcp.example.com/mcp",
            "https://mcp.example.com"
        ));
        assert!(!same_resource(
            "https://MCP.example.com",
            "https://mcp.example.com"
        ));
        assert!(!same_resource(
            "https://other.example",
            "https://mcp.example.com"
        ));
        assert!(!same_resource("/", "https://mcp.example.com"));
        assert!(!same_resource("", "https://mcp.example.com"));
    }
}
