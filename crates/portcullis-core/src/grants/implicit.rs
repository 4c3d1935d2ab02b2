//! The implicit grant (RFC 6749 §4.2).
//!
//! Insecure legacy (RFC 9700 §2.1.2: SHOULD NOT be used): the access token travels in
//! the redirect URI's fragment. Never registered unless the application asks. No
//! refresh token; the `query` response mode is refused.

use async_trait::async_trait;

use super::{AuthorizationGrant, Grant, GrantRegistry};
use crate::error::OAuthError;
use crate::model::{Client, User};
use crate::random::random_string;
use crate::response_mode::ResponseMode;
use crate::server::{AuthorizationRequest, AuthorizationServer};
use crate::store::{ClientStore, TokenStore};
use crate::tokens::TokenRequest;

/// The `token` response type.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImplicitGrant;

impl<S: ClientStore + TokenStore> Grant<S> for ImplicitGrant {
    fn register(self, registry: &mut GrantRegistry<S>) {
        registry.add_authorization_grant(std::sync::Arc::new(self));
    }
}

#[async_trait]
impl<S: ClientStore + TokenStore> AuthorizationGrant<S> for ImplicitGrant {
    fn response_type(&self) -> &str {
        "token"
    }

    fn default_response_mode(&self) -> ResponseMode {
        ResponseMode::Fragment
    }

    fn allows_response_mode(&self, mode: ResponseMode) -> bool {
        mode != ResponseMode::Query
    }

    fn metadata(&self, document: &mut serde_json::Map<String, serde_json::Value>) {
        // The implicit grant has no token-endpoint grant type, but metadata lists it.
        if let Some(serde_json::Value::Array(types)) = document.get_mut("grant_types_supported") {
            types.push("implicit".into());
        }
    }

    fn validate_authorization_request(
        &self,
        _server: &AuthorizationServer<S>,
        _request: &AuthorizationRequest,
        _client: &S::Client,
        _end_user: Option<&dyn User>,
    ) -> Result<(), OAuthError> {
        Ok(())
    }

    async fn create_authorization_response(
        &self,
        server: &AuthorizationServer<S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        user: &dyn User,
    ) -> Result<Vec<(&'static str, String)>, OAuthError> {
        let issued = server.bearer().issue(
            server.random(),
            server.clock().as_ref(),
            TokenRequest {
                client_id: client.client_id(),
                grant_type: "implicit",
                scope: request.scope().clone(),
                subject: Some(user.subject()),
                grant_id: random_string(server.random(), 16),
                include_refresh_token: false,
                audience: client.audience(),
                grant_expires_at: None,
            },
        );
        server.store().save_token(issued.record.clone()).await?;
        let mut params = vec![
            ("access_token", issued.access_token),
            ("token_type", "Bearer".to_owned()),
            ("expires_in", issued.record.expires_in.to_string()),
        ];
        if !issued.record.scope.is_empty() {
            params.push(("scope", issued.record.scope.to_string()));
        }
        Ok(params)
    }
}
