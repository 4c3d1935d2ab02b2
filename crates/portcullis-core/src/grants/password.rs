//! The resource owner password credentials grant (RFC 6749 §4.3).
//!
//! Insecure legacy (RFC 9700 §2.4 says it MUST NOT be used): it exists for
//! compatibility and is never registered unless the application asks for it.

use async_trait::async_trait;

use super::{Grant, GrantRegistry, TokenGrant};
use crate::context::TokenContext;
use crate::error::OAuthError;
use crate::model::{check_scope, Client, User};
use crate::random::random_string;
use crate::scope::Scope;
use crate::store::{ClientStore, TokenStore, UserStore};
use crate::tokens::Issuance;

/// The `password` grant.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct PasswordGrant;

impl PasswordGrant {
    /// The grant.
    pub fn new() -> Self {
        Self
    }
}

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

    async fn handle(&self, context: &TokenContext<'_, S>) -> Result<Issuance, OAuthError> {
        let client = context.client()?;
        let params = context.params();
        let username = params.require("username")?;
        let password = params.require("password")?;
        let requested = Scope::parse(params.get("scope").unwrap_or(""))?;
        let scope = check_scope(client, &requested)?;
        let Some(user) = context
            .store()
            .authenticate_user(username, password)
            .await?
        else {
            return Err(OAuthError::invalid_grant(
                "the username or password is wrong",
            ));
        };
        let grant_id = random_string(context.env().random(), 16);
        Ok(
            Issuance::new("password", client.client_id(), scope, grant_id)
                .with_subject(Some(user.subject()))
                .with_refresh_token(context.env().may_issue_refresh_token(client))
                .with_audience(client.audience()),
        )
    }
}
