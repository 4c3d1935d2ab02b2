//! The client credentials grant (RFC 6749 §4.4).
//!
//! Confidential clients only (§4.4: "MUST only be used by confidential clients"); no
//! refresh token (§4.4.3).

use async_trait::async_trait;

use super::{Grant, GrantRegistry, TokenGrant};
use crate::error::OAuthError;
use crate::http::{OAuthResponse, Params};
use crate::model::Client;
use crate::random::random_string;
use crate::scope::Scope;
use crate::server::{check_scope, AuthorizationServer};
use crate::store::{ClientStore, TokenStore};
use crate::tokens::TokenRequest;

/// The `client_credentials` grant.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientCredentialsGrant;

impl<S: ClientStore + TokenStore> Grant<S> for ClientCredentialsGrant {
    fn register(self, registry: &mut GrantRegistry<S>) {
        registry.add_token_grant(std::sync::Arc::new(self));
    }
}

#[async_trait]
impl<S: ClientStore + TokenStore> TokenGrant<S> for ClientCredentialsGrant {
    fn grant_type(&self) -> &str {
        "client_credentials"
    }

    async fn create_token_response(
        &self,
        server: &AuthorizationServer<S>,
        client: &S::Client,
        params: &Params,
    ) -> Result<OAuthResponse, OAuthError> {
        if client.is_public() {
            return Err(OAuthError::unauthorized_client(
                "public clients cannot use the client_credentials grant",
            ));
        }
        let requested = Scope::parse(params.get("scope").unwrap_or(""))?;
        let scope = check_scope(client, &requested)?;
        let issued = server.bearer().issue(
            server.random(),
            server.clock().as_ref(),
            TokenRequest {
                client_id: client.client_id(),
                grant_type: "client_credentials",
                scope,
                subject: None,
                grant_id: random_string(server.random(), 16),
                include_refresh_token: false,
                audience: client.audience(),
                grant_expires_at: None,
            },
        );
        let response = issued.to_response();
        server.store().save_token(issued.record).await?;
        Ok(response)
    }
}
