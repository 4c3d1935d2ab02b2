//! The client credentials grant (RFC 6749 §4.4).
//!
//! Confidential clients only (§4.4: "MUST only be used by confidential clients"); no
//! refresh token (§4.4.3).

use async_trait::async_trait;

use super::{Grant, GrantRegistry, TokenGrant};
use crate::context::TokenContext;
use crate::error::OAuthError;
use crate::model::{check_scope, Client};
use crate::random::random_string;
use crate::scope::Scope;
use crate::store::{ClientStore, TokenStore};
use crate::tokens::Issuance;

/// The `client_credentials` grant.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct ClientCredentialsGrant;

impl ClientCredentialsGrant {
    /// The grant.
    pub fn new() -> Self {
        Self
    }
}

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

    async fn handle(&self, context: &TokenContext<'_, S>) -> Result<Issuance, OAuthError> {
        let client = context.client()?;
        if client.is_public() {
            return Err(OAuthError::unauthorized_client(
                "public clients cannot use the client_credentials grant",
            ));
        }
        let requested = Scope::parse(context.params().get("scope").unwrap_or(""))?;
        let scope = check_scope(client, &requested)?;
        let grant_id = random_string(context.env().random(), 16);
        Ok(
            Issuance::new("client_credentials", client.client_id(), scope, grant_id)
                .with_audience(client.audience()),
        )
    }
}
