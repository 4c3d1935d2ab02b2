//! Token revocation (RFC 7009).
//!
//! An authenticated client revokes one of its own tokens. Revoking an access token
//! revokes that issuance (its refresh token too, which §2.1 permits); revoking a
//! refresh token revokes every token of its grant. Another client's token, or an
//! unknown one, gets `200` and nothing happens (§2.2), so the endpoint reveals nothing.
//! A `token_type_hint` other than `access_token` or `refresh_token` is
//! `unsupported_token_type` (§2.2.1).

use async_trait::async_trait;
use http::{Method, StatusCode};
use serde_json::{Map, Value};

use super::{find_token, Endpoint, TokenKind};
use crate::context::{EndpointContext, MetadataContext};
use crate::error::{ErrorCode, OAuthError};
use crate::http::{json_response, OAuthResponse, Params};
use crate::model::{Client, EndpointName, Token};
use crate::store::{ClientStore, TokenStore};

/// The revocation endpoint.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct RevocationEndpoint;

impl RevocationEndpoint {
    /// The endpoint.
    pub fn new() -> Self {
        Self
    }

    async fn revoke<S: ClientStore + TokenStore>(
        &self,
        context: &EndpointContext<'_, S>,
    ) -> Result<(), OAuthError> {
        let request = context.request();
        if request.method() != Method::POST {
            return Err(OAuthError::method_not_allowed("POST"));
        }
        let params = Params::from_form(request)?;
        let client = context
            .authenticate_client(&params, EndpointName::REVOCATION)
            .await?;
        let token = params.require("token")?;
        let hint = match params.get("token_type_hint") {
            None => None,
            Some("access_token") => Some(TokenKind::Access),
            Some("refresh_token") => Some(TokenKind::Refresh),
            Some(_) => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedTokenType,
                    "token_type_hint must be access_token or refresh_token",
                ))
            }
        };
        let store = context.store();
        let Some((kind, found, hash)) = find_token(store, context.env(), token, hint).await? else {
            tracing::debug!(client_id = %client.client_id(), "revocation of an unknown token");
            return Ok(());
        };
        if found.client_id() != client.client_id() {
            tracing::warn!(client_id = %client.client_id(), "a client tried to revoke another client's token");
            return Ok(());
        }
        match kind {
            TokenKind::Access => store.revoke_token(&hash).await?,
            TokenKind::Refresh => store.revoke_grant(found.grant_id()).await?,
        }
        tracing::info!(client_id = %client.client_id(), kind = ?kind, "token revoked");
        Ok(())
    }
}

#[async_trait]
impl<S: ClientStore + TokenStore> Endpoint<S> for RevocationEndpoint {
    fn name(&self) -> &str {
        EndpointName::REVOCATION
    }

    fn metadata(&self, context: &MetadataContext<'_>, document: &mut Map<String, Value>) {
        if let Some(url) = context.endpoint_url(EndpointName::REVOCATION) {
            document.insert("revocation_endpoint".into(), url.into());
            document.insert(
                "revocation_endpoint_auth_methods_supported".into(),
                context.auth_methods(EndpointName::REVOCATION).into(),
            );
            let algorithms = context.auth_signing_algorithms(EndpointName::REVOCATION);
            if !algorithms.is_empty() {
                document.insert(
                    "revocation_endpoint_auth_signing_alg_values_supported".into(),
                    algorithms.into(),
                );
            }
        }
    }

    async fn create_endpoint_response(&self, context: &EndpointContext<'_, S>) -> OAuthResponse {
        match self.revoke(context).await {
            Ok(()) => json_response(StatusCode::OK, &serde_json::json!({})),
            Err(error) => error.into_response(),
        }
    }
}
