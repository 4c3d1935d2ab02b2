//! Authorization server metadata (RFC 8414) at `/.well-known/oauth-authorization-server`.
//!
//! The document is assembled from the server's registrations — each grant and endpoint
//! writes its own entries — plus the few values only the operator knows
//! (`scopes_supported`, `service_documentation`). Nothing is kept by hand, so it cannot
//! drift from what the server does.

use async_trait::async_trait;
use http::{Method, StatusCode};
use serde_json::{Map, Value};

use super::Endpoint;
use crate::context::{EndpointContext, MetadataContext};
use crate::error::OAuthError;
use crate::http::{json_response, OAuthResponse};
use crate::store::ClientStore;

/// The metadata endpoint.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct MetadataEndpoint {
    scopes_supported: Option<Vec<String>>,
    service_documentation: Option<String>,
    members: Map<String, Value>,
}

impl MetadataEndpoint {
    /// The endpoint, with no `scopes_supported` and no `service_documentation`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes `scopes_supported`.
    pub fn with_scopes_supported(mut self, scopes: Vec<String>) -> Self {
        self.scopes_supported = Some(scopes);
        self
    }

    /// Publishes `service_documentation`.
    pub fn with_service_documentation(mut self, url: impl Into<String>) -> Self {
        self.service_documentation = Some(url.into());
        self
    }

    /// Publishes the member `name` with `value`, for what the application serves
    /// beside the engine (a `registration_endpoint`, say). The engine's own entries
    /// win over a member of the same name.
    pub fn with_member(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.members.insert(name.into(), value.into());
        self
    }
}

#[async_trait]
impl<S: ClientStore> Endpoint<S> for MetadataEndpoint {
    fn name(&self) -> &str {
        "metadata"
    }

    fn metadata(&self, _context: &MetadataContext<'_>, document: &mut Map<String, Value>) {
        for (name, value) in &self.members {
            document
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        if let Some(scopes) = &self.scopes_supported {
            document.insert("scopes_supported".into(), scopes.clone().into());
        }
        if let Some(url) = &self.service_documentation {
            document.insert("service_documentation".into(), url.clone().into());
        }
    }

    async fn create_endpoint_response(&self, context: &EndpointContext<'_, S>) -> OAuthResponse {
        let method = context.request().method();
        if method != Method::GET && method != Method::HEAD {
            return OAuthError::method_not_allowed("GET, HEAD").into_response();
        }
        match context.metadata() {
            Ok(document) => json_response(StatusCode::OK, &Value::Object(document)),
            Err(error) => error.into_response(),
        }
    }
}
