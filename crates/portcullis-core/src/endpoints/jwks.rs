//! The JWK Set endpoint (RFC 7517 §5, `jwks_uri` of RFC 8414): the public keys that
//! verify what this server signs, from a [`JwkSetSource`] (the application's key
//! manager), with an entity tag and a cache lifetime so that relying parties cache it
//! and revalidate cheaply.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use serde_json::{Map, Value};

use super::Endpoint;
use crate::context::{EndpointContext, MetadataContext};
use crate::error::OAuthError;
use crate::response::OAuthResponse;
use crate::store::ClientStore;

/// The endpoint's name, for [`with_endpoint_path`](crate::AuthorizationServer::with_endpoint_path)
/// (default path `/jwks`).
pub const JWKS_ENDPOINT: &str = "jwks";

/// The JWK Set as published at one moment.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedJwks {
    /// The serialized JWK Set.
    pub body: Bytes,
    /// Its entity tag, quoted (`"…"`), changing whenever the body does.
    pub etag: String,
    /// How long caches may keep it, in seconds.
    pub max_age: u64,
}

impl PublishedJwks {
    /// A published set: `body`, its quoted `etag`, and `max_age`.
    pub fn new(body: Bytes, etag: impl Into<String>, max_age: u64) -> Self {
        Self {
            body,
            etag: etag.into(),
            max_age,
        }
    }
}

/// Where the JWK Set comes from: the application's keys.
#[async_trait]
pub trait JwkSetSource: Send + Sync + fmt::Debug + 'static {
    /// The JWK Set to publish now.
    async fn published(&self) -> Result<PublishedJwks, OAuthError>;
}

/// Serves the JWK Set of a [`JwkSetSource`] and publishes `jwks_uri` in the metadata.
#[derive(Debug, Clone)]
pub struct JwksEndpoint {
    source: Arc<dyn JwkSetSource>,
}

impl JwksEndpoint {
    /// The endpoint serving `source`.
    pub fn new(source: Arc<dyn JwkSetSource>) -> Self {
        Self { source }
    }
}

#[async_trait]
impl<S: ClientStore> Endpoint<S> for JwksEndpoint {
    fn name(&self) -> &str {
        JWKS_ENDPOINT
    }

    fn metadata(&self, context: &MetadataContext<'_>, document: &mut Map<String, Value>) {
        if let Some(url) = context.endpoint_url(JWKS_ENDPOINT) {
            document.insert("jwks_uri".into(), url.into());
        }
    }

    async fn create_endpoint_response(&self, context: &EndpointContext<'_, S>) -> OAuthResponse {
        let request = context.request();
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return OAuthError::method_not_allowed("GET, HEAD").into_response();
        }
        let published = match self.source.published().await {
            Ok(published) => published,
            Err(error) => return error.into_response(),
        };
        let not_modified = request
            .headers()
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag == published.etag);
        let mut response = if not_modified {
            let mut response = http::Response::new(Bytes::new());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let mut response = http::Response::new(published.body.clone());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            );
            response
        };
        let headers = response.headers_mut();
        if let Ok(etag) = HeaderValue::from_str(&published.etag) {
            headers.insert(header::ETAG, etag);
        }
        if let Ok(cache) = HeaderValue::from_str(&format!("public, max-age={}", published.max_age))
        {
            headers.insert(header::CACHE_CONTROL, cache);
        }
        response
    }
}
