//! Extensions: server-level ones that take part in every token issuance (OpenID
//! Connect's ID token: [`openid`]), and the authorization-code grant's own (PKCE).
//!
//! A [`TokenExtension`] is registered on the server
//! ([`register_extension`](crate::AuthorizationServer::register_extension)) and runs for
//! every grant — authorization code, refresh, client credentials, the legacy ones,
//! yours — in two places of the one issuance sequence: before the tokens are minted,
//! where it may refuse the request or change what is issued; and after, before the
//! record is saved, where it may add to the response (`id_token`), change its
//! `token_type` (DPoP), add headers, and record extras in the token. It is async, so it
//! may look things up (keys, users, replay caches). At the authorization endpoint it
//! may add to a granted request's redirect parameters (OpenID Connect's `id_token` in
//! the implicit and hybrid flows).
//!
//! An [`AuthorizationCodeExtension`] belongs to the authorization code grant: it
//! validates the authorization request and records into the code what it must check
//! later, then validates the token request against the code. [`Pkce`] is one.

use async_trait::async_trait;

use crate::authorization::AuthorizationRequest;
use crate::context::{AuthorizationContext, TokenContext};
use crate::error::OAuthError;
use crate::http::Params;
use crate::model::{AuthorizationCode, AuthorizationCodeRecord, Client, User};
use crate::store::ClientStore;
use crate::tokens::{Issuance, IssuedToken, TokenResponse};

pub mod openid;
mod pkce;
pub mod resource_indicators;

pub use openid::OpenIdConnect;
pub use pkce::{s256_challenge, Pkce, REQUIRE_PKCE};
pub use resource_indicators::{resource_key, ResourceIndicators};

/// A server-level extension of the token pipeline (see the module documentation).
#[async_trait]
pub trait TokenExtension<S: ClientStore>: Send + Sync + 'static {
    /// The extension's name (for logs).
    fn name(&self) -> &str;

    /// Parameters this extension lets repeat in token requests (`resource`, say);
    /// every other parameter sent twice stays `invalid_request`.
    fn repeatable_parameters(&self) -> &[&'static str] {
        &[]
    }

    /// Adds entries to the metadata document (RFC 8414 §2).
    fn metadata(&self, document: &mut serde_json::Map<String, serde_json::Value>) {
        let _ = document;
    }

    /// Before minting: refuse the request (`Err`), or change what is issued (narrow
    /// the audience, add extras).
    async fn before_issue(
        &self,
        context: &TokenContext<'_, S>,
        issuance: &mut Issuance,
    ) -> Result<(), OAuthError> {
        let _ = (context, issuance);
        Ok(())
    }

    /// After minting, before saving: add to the response (`id_token`, headers, another
    /// `token_type`), record extras in `issued.record`, or refuse after all.
    async fn after_issue(
        &self,
        context: &TokenContext<'_, S>,
        issuance: &Issuance,
        issued: &mut IssuedToken,
        response: &mut TokenResponse,
    ) -> Result<(), OAuthError> {
        let _ = (context, issuance, issued, response);
        Ok(())
    }

    /// At the authorization endpoint, after the common checks (client, redirect URI,
    /// response type, scope) and before the grant's own: refuse the request (the
    /// error goes to the client), or record into `extras` what the grant must keep
    /// (the authorization code grant stores them in the code, and from there they
    /// reach the token request's [`Issuance::extras`]). Runs each time the request is
    /// validated: for the consent page and again when it is answered.
    async fn validate_authorization_request(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        extras: &mut crate::model::Extras,
    ) -> Result<(), OAuthError> {
        let _ = (context, request, client, extras);
        Ok(())
    }

    /// At the authorization endpoint, once the grant answered a request `user`
    /// granted and the tokens it asked for were issued: add to the redirect's
    /// `params` (`code`, `access_token`, ... so far; the server adds `state` and `iss`
    /// after), or refuse (the error goes to the client).
    async fn authorization_response(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        user: &dyn User,
        params: &mut Vec<(String, String)>,
    ) -> Result<(), OAuthError> {
        let _ = (context, request, client, user, params);
        Ok(())
    }
}

/// An extension of [`AuthorizationCodeGrant`](crate::grants::AuthorizationCodeGrant).
pub trait AuthorizationCodeExtension: Send + Sync + 'static {
    /// Validates the authorization request and records into `code` what the token
    /// request must be checked against. Runs when the request is validated for the
    /// consent page (with a scratch record) and again when the code is issued.
    fn on_authorization_request(
        &self,
        request: &AuthorizationRequest,
        client: &dyn Client,
        code: &mut AuthorizationCodeRecord,
    ) -> Result<(), OAuthError>;

    /// Validates the token request against the redeemed code.
    fn on_token_request(
        &self,
        params: &Params,
        client: &dyn Client,
        code: &dyn AuthorizationCode,
    ) -> Result<(), OAuthError>;
}
