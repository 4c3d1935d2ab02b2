//! The implicit grant (RFC 6749 §4.2).
//!
//! Insecure legacy (RFC 9700 §2.1.2: SHOULD NOT be used): the access token travels in
//! the redirect URI's fragment. Never registered unless the application asks. No
//! refresh token; the `query` response mode is refused. The token is issued by the
//! server's one issuance sequence, like every other.

use async_trait::async_trait;

use super::{AuthorizationGrant, AuthorizationOutcome, Grant, GrantRegistry};
use crate::authorization::AuthorizationRequest;
use crate::context::AuthorizationContext;
use crate::error::OAuthError;
use crate::model::{Client, User};
use crate::random::random_string;
use crate::response_mode::ResponseMode;
use crate::store::{ClientStore, TokenStore};
use crate::tokens::Issuance;

/// The `token` response type.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct ImplicitGrant;

impl ImplicitGrant {
    /// The grant.
    pub fn new() -> Self {
        Self
    }
}

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
        _context: &AuthorizationContext<'_, S>,
        _request: &AuthorizationRequest,
        _client: &S::Client,
        _end_user: Option<&dyn User>,
    ) -> Result<(), OAuthError> {
        Ok(())
    }

    async fn create_authorization_response(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        user: &dyn User,
    ) -> Result<AuthorizationOutcome, OAuthError> {
        Ok(AuthorizationOutcome::tokens(implicit_issuance(
            context, request, client, user,
        )))
    }
}

/// The access token an authorization endpoint issues itself (the implicit grant's,
/// and the OpenID hybrid flows' `token`): no refresh token, the user's subject, the
/// client's audience.
pub(super) fn implicit_issuance<S: ClientStore>(
    context: &AuthorizationContext<'_, S>,
    request: &AuthorizationRequest,
    client: &S::Client,
    user: &dyn User,
) -> Issuance {
    let grant_id = random_string(context.env().random(), 16);
    Issuance::new(
        "implicit",
        client.client_id(),
        request.scope().clone(),
        grant_id,
    )
    .with_subject(Some(user.subject()))
    .with_audience(client.audience())
}
