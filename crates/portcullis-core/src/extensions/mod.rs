//! Cross-cutting extensions of grants: PKCE now, OpenID Connect later.
//!
//! An [`AuthorizationCodeExtension`] takes part in both halves of the
//! authorization-code flow: it validates the authorization request and records in the
//! code what it must check later, then validates the token request against the code.

use crate::error::OAuthError;
use crate::http::Params;
use crate::model::{AuthorizationCode, AuthorizationCodeRecord, Client};
use crate::server::AuthorizationRequest;

mod pkce;

pub use pkce::{s256_challenge, Pkce};

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
