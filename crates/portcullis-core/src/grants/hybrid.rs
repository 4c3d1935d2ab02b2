//! OpenID Connect's implicit and hybrid flows (Core §3.2, §3.3): the response types
//! `id_token`, `id_token token`, `code id_token`, `code token` and
//! `code id_token token`.
//!
//! Insecure legacy like the OAuth implicit grant (RFC 9700 §2.1.2): tokens travel in
//! the redirect's fragment (or a form POST; never the query), so they are registered
//! only when the application asks ([`OpenIdImplicitAndHybrid`]). A response type with
//! `code` makes a code exactly as the [`AuthorizationCodeGrant`] does (PKCE and all);
//! one with `token` issues an access token through the server's one issuance
//! sequence; the `id_token` is the [`OpenIdConnect`](crate::OpenIdConnect)
//! extension's, added to the response with `at_hash`, `c_hash` and `s_hash`. Every
//! one of them needs the `openid` scope and a `nonce` (Core §3.2.2.1, §3.3.2.11).
//!
//! Response types are compared as sets: `id_token code` is `code id_token`
//! ([`canonical_response_type`](crate::response_type::canonical_response_type)).

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    AuthorizationCodeGrant, AuthorizationGrant, AuthorizationOutcome, Grant, GrantRegistry,
};
use crate::authorization::AuthorizationRequest;
use crate::context::AuthorizationContext;
use crate::error::OAuthError;
use crate::extensions::openid::OPENID;
use crate::model::User;
use crate::response_mode::ResponseMode;
use crate::store::{AuthorizationCodeStore, ClientStore, TokenStore};

/// One of the OpenID implicit or hybrid response types (see the module
/// documentation).
pub struct HybridGrant {
    response_type: &'static str,
    code: Option<Arc<AuthorizationCodeGrant>>,
    token: bool,
}

impl std::fmt::Debug for HybridGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HybridGrant")
            .field("response_type", &self.response_type)
            .finish_non_exhaustive()
    }
}

impl HybridGrant {
    /// `id_token`: an ID token only (Core §3.2).
    pub fn id_token() -> Self {
        Self {
            response_type: "id_token",
            code: None,
            token: false,
        }
    }

    /// `id_token token`: an ID token and an access token (Core §3.2).
    pub fn id_token_token() -> Self {
        Self {
            response_type: "id_token token",
            code: None,
            token: true,
        }
    }

    /// `code id_token`: a code (made by `code`) and an ID token (Core §3.3).
    pub fn code_id_token(code: Arc<AuthorizationCodeGrant>) -> Self {
        Self {
            response_type: "code id_token",
            code: Some(code),
            token: false,
        }
    }

    /// `code token`: a code and an access token (Core §3.3).
    pub fn code_token(code: Arc<AuthorizationCodeGrant>) -> Self {
        Self {
            response_type: "code token",
            code: Some(code),
            token: true,
        }
    }

    /// `code id_token token`: a code, an ID token and an access token (Core §3.3).
    pub fn code_id_token_token(code: Arc<AuthorizationCodeGrant>) -> Self {
        Self {
            response_type: "code id_token token",
            code: Some(code),
            token: true,
        }
    }
}

/// Registers all five OpenID implicit and hybrid response types, their codes made by
/// the given authorization code grant (register that grant too, for the token
/// endpoint). Register [`OpenIdConnect`](crate::OpenIdConnect) as well: it makes the
/// ID tokens.
#[derive(Debug)]
pub struct OpenIdImplicitAndHybrid {
    code: Arc<AuthorizationCodeGrant>,
}

impl OpenIdImplicitAndHybrid {
    /// The five response types, codes made by `code`.
    pub fn new(code: AuthorizationCodeGrant) -> Self {
        Self {
            code: Arc::new(code),
        }
    }
}

impl<S> Grant<S> for OpenIdImplicitAndHybrid
where
    S: ClientStore + TokenStore + AuthorizationCodeStore,
{
    fn register(self, registry: &mut GrantRegistry<S>) {
        for grant in [
            HybridGrant::id_token(),
            HybridGrant::id_token_token(),
            HybridGrant::code_id_token(self.code.clone()),
            HybridGrant::code_token(self.code.clone()),
            HybridGrant::code_id_token_token(self.code),
        ] {
            registry.add_authorization_grant(Arc::new(grant));
        }
    }
}

impl<S> Grant<S> for HybridGrant
where
    S: ClientStore + TokenStore + AuthorizationCodeStore,
{
    fn register(self, registry: &mut GrantRegistry<S>) {
        registry.add_authorization_grant(Arc::new(self));
    }
}

#[async_trait]
impl<S> AuthorizationGrant<S> for HybridGrant
where
    S: ClientStore + TokenStore + AuthorizationCodeStore,
{
    fn response_type(&self) -> &str {
        self.response_type
    }

    fn default_response_mode(&self) -> ResponseMode {
        ResponseMode::Fragment
    }

    /// Never the query: it would put tokens (or an ID token) in server logs and
    /// `Referer` headers (OAuth 2.0 Multiple Response Type Encoding Practices §3).
    fn allows_response_mode(&self, mode: ResponseMode) -> bool {
        mode != ResponseMode::Query
    }

    fn validate_authorization_request(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        end_user: Option<&dyn User>,
    ) -> Result<(), OAuthError> {
        if !request.scope().contains(OPENID) {
            return Err(OAuthError::invalid_request(format!(
                "response_type '{}' is an OpenID Connect flow: the scope must include openid",
                self.response_type
            )));
        }
        if request.params().get("nonce").is_none_or(str::is_empty) {
            return Err(OAuthError::invalid_request(format!(
                "nonce is required with response_type '{}' (OpenID Connect Core §3.2.2.1, §3.3.2.11)",
                self.response_type
            )));
        }
        match &self.code {
            Some(code) => AuthorizationGrant::<S>::validate_authorization_request(
                &**code, context, request, client, end_user,
            ),
            None => Ok(()),
        }
    }

    async fn create_authorization_response(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        user: &dyn User,
    ) -> Result<AuthorizationOutcome, OAuthError> {
        let mut outcome = match &self.code {
            Some(code) => {
                AuthorizationGrant::<S>::create_authorization_response(
                    &**code, context, request, client, user,
                )
                .await?
            }
            None => AuthorizationOutcome::default(),
        };
        if self.token {
            outcome.tokens = Some(super::implicit::implicit_issuance(
                context, request, client, user,
            ));
        }
        Ok(outcome)
    }
}
