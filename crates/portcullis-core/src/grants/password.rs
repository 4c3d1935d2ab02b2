//! The resource owner password credentials grant (RFC 6749 §4.3).
//!
//! Insecure legacy (RFC 9700 §2.4 says it MUST NOT be used): it exists for
//! compatibility and is never registered unless the application asks for it.

use async_trait::async_trait;

use super::{Grant, GrantRegistry, TokenGrant};
use crate::error::OAuthError;
use crate::http::{OAuthResponse, Params};
use crate::model::{Client, User};
use crate::random::random_string;
use crate::scope::Scope;
use crate::server::{check_scope, AuthorizationServer};
use crate::store::{ClientStore, TokenStore, UserStore};
use crate::tokens::TokenRequest;

/// The `password` grant.
#[derive(Debug, Default, Clone, Copy)]
pub struct PasswordGrant;

impl<S: ClientStore + TokenStore + UserStore> Grant<S> for PasswordGrant {
    fn register(self, registry: &mut GrantRegistry<S>) {
        registry.add_token_grant(std::sync::Arc::new(self));
    }
}

#[async_trait]
impl<S: ClientStore + TokenStore + UserStore> TokenGrant<S> for PasswordGrant {
    fn grant_type(&self) -> &str {
        "password"
    }

    async fn create_token_response(
        &self,
        server: &AuthorizationServer<S>,
        client: &S::Client,
        params: &Params,
    ) -> Result<OAuthResponse, OAuthError> {
        let username = params.require("username")?;
        let password = params.require("password")?;
        let requested = Scope::parse(params.get("scope").unwrap_or(""))?;
        let scope = check_scope(client, &requested)?;
        let Some(user) = server.store().authenticate_user(username, password).await? else {
            return Err(OAuthError::invalid_grant(
                "the username or password is wrong",
            ));
        };
        let issued = server.bearer().issue(
            server.random(),
            server.clock().as_ref(),
            TokenRequest {
                client_id: client.client_id(),
                grant_type: "password",
                scope,
                subject: Some(user.subject()),
                grant_id: random_string(server.random(), 16),
                include_refresh_token: server.may_issue_refresh_token(client),
                audience: client.audience(),
                grant_expires_at: None,
            },
        );
        let response = issued.to_response();
        server.store().save_token(issued.record).await?;
        Ok(response)
    }
}
