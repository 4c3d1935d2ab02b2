//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2).
//!
//! Every refresh rotates: the presented refresh token (and the access token issued
//! with it) is revoked and a new pair is issued, in one atomic store operation (the
//! server's issuance sequence does it, from [`Issuance::rotating`]). Presenting a
//! rotated refresh token again is taken as theft: every token of that grant is revoked.
//! The scope may be narrowed, never widened beyond the presented token's scope. A
//! rotation never extends the grant's absolute lifetime.

use async_trait::async_trait;

use super::{Grant, GrantRegistry, TokenGrant};
use crate::context::TokenContext;
use crate::error::OAuthError;
use crate::model::{Client, Token};
use crate::scope::Scope;
use crate::secret::token_key;
use crate::store::{ClientStore, TokenStore};
use crate::tokens::Issuance;

/// The `refresh_token` grant.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct RefreshTokenGrant;

impl RefreshTokenGrant {
    /// The grant.
    pub fn new() -> Self {
        Self
    }
}

impl<S: ClientStore + TokenStore> Grant<S> for RefreshTokenGrant {
    fn register(self, registry: &mut GrantRegistry<S>) {
        registry.add_token_grant(std::sync::Arc::new(self));
    }
}

/// The answer to a reused refresh token, also used by the server when a rotation
/// loses a race.
pub(crate) const REUSED: &str =
    "the refresh token was already used; every token of this grant has been revoked";

#[async_trait]
impl<S: ClientStore + TokenStore> TokenGrant<S> for RefreshTokenGrant {
    fn grant_type(&self) -> &str {
        "refresh_token"
    }

    async fn handle(&self, context: &TokenContext<'_, S>) -> Result<Issuance, OAuthError> {
        let client = context.client()?;
        let presented = context.params().require("refresh_token")?;
        let key = token_key(presented);
        let store = context.store();
        let invalid = || {
            OAuthError::invalid_grant(
                "the refresh token is invalid, expired, or was issued to another client",
            )
        };
        let Some(token) = store.find_refresh_token(&key).await? else {
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
            .is_some_and(|at| context.now() >= at)
        {
            return Err(invalid());
        }
        let granted = token.scope();
        let scope = match context.params().get("scope") {
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
        let mut issuance =
            Issuance::new("refresh_token", client.client_id(), scope, token.grant_id())
                .with_subject(token.subject())
                .with_refresh_token(true)
                .with_audience(token.audience())
                .rotating(key);
        // What the grant recorded carries over; rotation never extends the grant
        // (RFC 9700 §4.14.2).
        issuance.extras = token.extras().clone();
        issuance.grant_expires_at = token.grant_expires_at();
        Ok(issuance)
    }
}
