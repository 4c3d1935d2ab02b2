//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2).
//!
//! Every refresh rotates: the presented refresh token (and the access token issued
//! with it) is revoked and a new pair is issued, in one atomic store operation.
//! Presenting a rotated refresh token again is taken as theft: every token of that
//! grant is revoked. The scope may be narrowed, never widened beyond the presented
//! token's scope.

use async_trait::async_trait;

use super::{Grant, GrantRegistry, TokenGrant};
use crate::error::OAuthError;
use crate::http::{OAuthResponse, Params};
use crate::model::{Client, Token};
use crate::scope::Scope;
use crate::secret::token_key;
use crate::server::AuthorizationServer;
use crate::store::{ClientStore, TokenStore};
use crate::tokens::TokenRequest;

/// The `refresh_token` grant.
#[derive(Debug, Default, Clone, Copy)]
pub struct RefreshTokenGrant;

impl<S: ClientStore + TokenStore> Grant<S> for RefreshTokenGrant {
    fn register(self, registry: &mut GrantRegistry<S>) {
        registry.add_token_grant(std::sync::Arc::new(self));
    }
}

const REUSED: &str =
    "the refresh token was already used; every token of this grant has been revoked";

#[async_trait]
impl<S: ClientStore + TokenStore> TokenGrant<S> for RefreshTokenGrant {
    fn grant_type(&self) -> &str {
        "refresh_token"
    }

    async fn create_token_response(
        &self,
        server: &AuthorizationServer<S>,
        client: &S::Client,
        params: &Params,
    ) -> Result<OAuthResponse, OAuthError> {
        let presented = params.require("refresh_token")?;
        let hash = token_key(presented);
        let store = server.store();
        let invalid = || {
            OAuthError::invalid_grant(
                "the refresh token is invalid, expired, or was issued to another client",
            )
        };
        let Some(token) = store.find_refresh_token(&hash).await? else {
            return Err(invalid());
        };
        if token.client_id() != client.client_id() {
            return Err(invalid());
        }
        if token.is_revoked() {
            store.revoke_grant(token.grant_id()).await?;
            tracing::warn!(client_id = %client.client_id(), "rotated refresh token reused; grant revoked");
            return Err(OAuthError::invalid_grant(REUSED));
        }
        if token
            .refresh_token_expires_at()
            .is_some_and(|at| server.now() >= at)
        {
            return Err(invalid());
        }
        let granted = token.scope();
        let scope = match params.get("scope") {
            None => granted,
            Some(requested) => {
                let requested = Scope::parse(requested)?;
                if !requested.is_subset_of(&granted) {
                    return Err(OAuthError::invalid_scope(
                        "the requested scope exceeds the scope originally granted",
                    ));
                }
                requested
            }
        };
        let issued = server.bearer().issue(
            server.random(),
            server.clock().as_ref(),
            TokenRequest {
                client_id: client.client_id(),
                grant_type: "refresh_token",
                scope,
                subject: token.subject(),
                grant_id: token.grant_id().to_owned(),
                include_refresh_token: true,
                audience: token.audience(),
                // Rotation never extends the grant (RFC 9700 §4.14.2).
                grant_expires_at: token.grant_expires_at(),
            },
        );
        if !store
            .rotate_refresh_token(&hash, issued.record.clone())
            .await?
        {
            // Another request rotated it between our read and our write: a reuse.
            store.revoke_grant(token.grant_id()).await?;
            return Err(OAuthError::invalid_grant(REUSED));
        }
        Ok(issued.to_response())
    }
}
