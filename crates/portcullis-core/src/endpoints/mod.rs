//! Endpoints besides authorization and token, one file each: revocation (RFC 7009),
//! introspection (RFC 7662), authorization server metadata (RFC 8414, also served as
//! OpenID Connect Discovery's document), the JWK Set and UserInfo (OpenID Connect
//! Core §5.3).
//!
//! An [`Endpoint`] is registered on the server with
//! [`register_endpoint`](crate::AuthorizationServer::register_endpoint) and answered
//! with [`create_endpoint_response`](crate::AuthorizationServer::create_endpoint_response),
//! as in Authlib. Each endpoint also writes its own entries into the metadata document,
//! so the metadata is built from what is registered and cannot drift.

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::context::{EndpointContext, MetadataContext};
use crate::error::StoreError;
use crate::http::OAuthResponse;
use crate::model::Token;
use crate::store::{ClientStore, TokenStore};

mod introspection;
mod jwks;
mod metadata;
mod revocation;
mod userinfo;

pub use introspection::{IntrospectionEndpoint, UsernameResolver, INTROSPECTION_JWT};
pub use jwks::{JwkSetSource, JwksEndpoint, PublishedJwks, JWKS_ENDPOINT};
pub use metadata::MetadataEndpoint;
pub use revocation::RevocationEndpoint;
pub use userinfo::{UserInfoEndpoint, USERINFO_ENDPOINT};

/// An endpoint the server can answer.
#[async_trait]
pub trait Endpoint<S: ClientStore>: Send + Sync + 'static {
    /// The endpoint's name: `revocation`, `introspection`, `metadata`.
    fn name(&self) -> &str;

    /// Adds this endpoint's entries to the metadata document (RFC 8414 §2).
    fn metadata(&self, context: &MetadataContext<'_>, document: &mut Map<String, Value>) {
        let _ = (context, document);
    }

    /// Answers the request of `context`.
    async fn create_endpoint_response(&self, context: &EndpointContext<'_, S>) -> OAuthResponse;
}

/// Which kind of token a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Access,
    Refresh,
}

/// Finds a presented `token`, trying the hinted type first and then the other (RFC
/// 7009 §2.1, RFC 7662 §2.1: the hint is honoured but not trusted). An access token is
/// looked up under the key the server's access-token strategy gives it (a token the
/// strategy does not recognise is no access token); a refresh token under its
/// [`token_key`](crate::token_key). Returns the kind, the token and the key it was
/// found under.
pub(crate) async fn find_token<S: TokenStore>(
    store: &S,
    env: &crate::context::Environment,
    token: &str,
    hint: Option<TokenKind>,
) -> Result<Option<(TokenKind, S::Token, String)>, StoreError> {
    let order = match hint {
        Some(TokenKind::Refresh) => [TokenKind::Refresh, TokenKind::Access],
        _ => [TokenKind::Access, TokenKind::Refresh],
    };
    for kind in order {
        let key = match kind {
            TokenKind::Access => env.bearer().strategy().key(token),
            TokenKind::Refresh => Some(crate::secret::token_key(token)),
        };
        let Some(key) = key else { continue };
        let found = match kind {
            TokenKind::Access => store.find_access_token(&key).await?,
            TokenKind::Refresh => store.find_refresh_token(&key).await?,
        };
        if let Some(found) = found {
            return Ok(Some((kind, found, key)));
        }
    }
    Ok(None)
}

/// True when the token found as `kind` is active at `now`.
pub(crate) fn is_active<T: Token>(token: &T, kind: TokenKind, now: i64) -> bool {
    if token.is_revoked() {
        return false;
    }
    match kind {
        TokenKind::Access => !token.is_expired(now),
        TokenKind::Refresh => token.refresh_token_expires_at().is_none_or(|at| now < at),
    }
}
