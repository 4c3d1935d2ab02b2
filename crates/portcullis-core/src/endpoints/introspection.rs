//! Token introspection (RFC 7662).
//!
//! Only authenticated confidential clients may introspect, and which tokens they may
//! see is the client's setting ([`Client::may_introspect`]): by default its own; a
//! resource server's, those issued for its audience. A token that is expired, revoked,
//! unknown or not visible to the caller is `{"active": false}` and nothing else (§2.2).

use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::{find_token, is_active, Endpoint, TokenKind};
use crate::client_auth::{authenticate_client, SUPPORTED_AUTH_METHODS};
use crate::error::OAuthError;
use crate::error::StoreError;
use crate::http::{json_response, OAuthRequest, OAuthResponse, Params};
use crate::model::{AuthMethod, Client, EndpointName, Token};
use crate::secret::token_key;
use crate::server::AuthorizationServer;
use crate::store::{ClientStore, TokenStore};

/// Turns a token's subject into the `username` of introspection responses.
#[async_trait]
pub trait UsernameResolver: Send + Sync + 'static {
    /// The username of `subject`, if there is one.
    async fn username(&self, subject: &str) -> Result<Option<String>, StoreError>;
}

/// The introspection endpoint.
#[derive(Default, Clone)]
pub struct IntrospectionEndpoint {
    usernames: Option<Arc<dyn UsernameResolver>>,
}

impl IntrospectionEndpoint {
    /// The endpoint, answering without `username`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `username` to responses, looked up by subject.
    pub fn with_usernames(mut self, resolver: Arc<dyn UsernameResolver>) -> Self {
        self.usernames = Some(resolver);
        self
    }

    async fn introspect<S: ClientStore + TokenStore>(
        &self,
        server: &AuthorizationServer<S>,
        request: &OAuthRequest,
    ) -> Result<Value, OAuthError> {
        if request.method() != Method::POST {
            return Err(OAuthError::method_not_allowed("POST"));
        }
        let params = Params::from_form(request)?;
        let client = authenticate_client(
            &**server.store(),
            request,
            &params,
            EndpointName::INTROSPECTION,
        )
        .await?;
        if client.is_public() {
            return Err(OAuthError::invalid_client(
                "public clients may not introspect tokens; authenticate with a client secret",
            ));
        }
        let token = params.require("token")?;
        let hint = match params.get("token_type_hint") {
            Some("refresh_token") => Some(TokenKind::Refresh),
            _ => Some(TokenKind::Access),
        };
        let inactive = json!({"active": false});
        let hash = token_key(token);
        let Some((kind, found)) = find_token(&**server.store(), &hash, hint).await? else {
            return Ok(inactive);
        };
        if !is_active(&found, kind, server.now())
            || !client.may_introspect(found.client_id(), &found.audience())
        {
            return Ok(inactive);
        }
        let mut body = Map::new();
        body.insert("active".into(), true.into());
        let scope = found.scope();
        if !scope.is_empty() {
            body.insert("scope".into(), scope.to_string().into());
        }
        body.insert("client_id".into(), found.client_id().into());
        match kind {
            TokenKind::Access => {
                body.insert("token_type".into(), "Bearer".into());
                body.insert("exp".into(), found.expires_at().into());
            }
            TokenKind::Refresh => {
                body.insert("token_type".into(), "refresh_token".into());
                if let Some(at) = found.refresh_token_expires_at() {
                    body.insert("exp".into(), at.into());
                }
            }
        }
        body.insert("iat".into(), found.issued_at().into());
        body.insert("nbf".into(), found.issued_at().into());
        if let Some(subject) = found.subject() {
            body.insert("sub".into(), subject.into());
            if let Some(resolver) = &self.usernames {
                if let Some(username) = resolver.username(subject).await? {
                    body.insert("username".into(), username.into());
                }
            }
        }
        let audience = found.audience();
        match audience.as_slice() {
            [] => {}
            [one] => {
                body.insert("aud".into(), one.clone().into());
            }
            many => {
                body.insert("aud".into(), many.to_vec().into());
            }
        }
        if let Some(issuer) = server.issuer() {
            body.insert("iss".into(), issuer.into());
        }
        // A stable identifier that is not the token: the hash it is stored under.
        body.insert("jti".into(), hash.into());
        Ok(Value::Object(body))
    }
}

#[async_trait]
impl<S: ClientStore + TokenStore> Endpoint<S> for IntrospectionEndpoint {
    fn name(&self) -> &str {
        EndpointName::INTROSPECTION
    }

    fn metadata(&self, server: &AuthorizationServer<S>, document: &mut Map<String, Value>) {
        if let Some(url) = server.endpoint_url(EndpointName::INTROSPECTION) {
            document.insert("introspection_endpoint".into(), url.into());
            let methods: Vec<&str> = SUPPORTED_AUTH_METHODS
                .iter()
                .copied()
                .filter(|m| *m != AuthMethod::NONE)
                .collect();
            document.insert(
                "introspection_endpoint_auth_methods_supported".into(),
                methods.into(),
            );
        }
    }

    async fn create_endpoint_response(
        &self,
        server: &AuthorizationServer<S>,
        request: &OAuthRequest,
    ) -> OAuthResponse {
        match self.introspect(server, request).await {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(error) => error.into_response(),
        }
    }
}
