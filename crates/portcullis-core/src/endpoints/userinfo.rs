//! The UserInfo endpoint (OpenID Connect Core §5.3) at `/userinfo`.
//!
//! `GET` or `POST`, with the access token in the `Authorization: Bearer` header or a
//! form body (never the query string). The token must be an active access token of
//! this server granted the `openid` scope for a user; the answer is `sub` (as the
//! token's client is told it: pairwise for a pairwise client) and the
//! claims the token's scope releases ([`ScopeClaims`]), as JSON — or, for a client
//! that registered `userinfo_signed_response_alg`, as a JWT signed with that
//! algorithm, with `iss` and `aud`. Failures carry the RFC 6750 §3 challenge:
//! `401 invalid_token`, `403 insufficient_scope`, `400 invalid_request`.

use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, StatusCode};
use serde_json::{Map, Value};

use super::Endpoint;
use crate::claims::{ClaimsSource, ScopeClaims};
use crate::context::{EndpointContext, MetadataContext};
use crate::error::OAuthError;
use crate::extensions::openid::{registered_algorithm, OPENID};
use crate::http::{json_response, OAuthResponse};
use crate::jose::access_token::{required_issuer, sign_now_with};
use crate::jose::SigningKeys;
use crate::model::{Client, Token};
use crate::resource::{extract_bearer, BearerError, RequestHead};
use crate::response::no_store_response;
use crate::scope::Scope;
use crate::store::{ClientStore, TokenStore};

/// The endpoint's name, for [`AuthorizationServer::with_endpoint_path`](crate::AuthorizationServer::with_endpoint_path).
pub const USERINFO_ENDPOINT: &str = "userinfo";

/// The content type of a signed UserInfo response.
const APPLICATION_JWT: &str = "application/jwt";

/// The UserInfo endpoint.
#[derive(Clone)]
pub struct UserInfoEndpoint {
    source: Arc<dyn ClaimsSource>,
    claims: ScopeClaims,
    keys: Option<Arc<dyn SigningKeys>>,
    realm: String,
}

impl std::fmt::Debug for UserInfoEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserInfoEndpoint")
            .field("claims", &self.claims)
            .field("signed_responses", &self.keys.is_some())
            .field("realm", &self.realm)
            .finish()
    }
}

impl UserInfoEndpoint {
    /// The endpoint, reading users' claims from `source` and releasing the standard
    /// scope claims.
    pub fn new(source: Arc<dyn ClaimsSource>) -> Self {
        Self {
            source,
            claims: ScopeClaims::standard(),
            keys: None,
            realm: "portcullis".to_owned(),
        }
    }

    /// Sets the claims each scope releases.
    pub fn with_scope_claims(mut self, claims: ScopeClaims) -> Self {
        self.claims = claims;
        self
    }

    /// Signs the answers of clients that registered `userinfo_signed_response_alg`
    /// with `keys` (without keys, such a client gets `server_error`, logged).
    pub fn with_signed_responses(mut self, keys: Arc<dyn SigningKeys>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Sets the realm named in challenges.
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    async fn answer<S: ClientStore + TokenStore>(
        &self,
        context: &EndpointContext<'_, S>,
    ) -> Result<OAuthResponse, BearerError> {
        let request = context.request();
        let head = RequestHead::new(request.method(), request.uri(), request.headers());
        let token = extract_bearer(head, Some(request.body()), false)?;
        let store = context.store();
        let server_error = |error: crate::error::StoreError| {
            tracing::error!(%error, "UserInfo: the store failed");
            BearerError::ServerError
        };
        // An access token only: a refresh token is no credential here.
        let key = context
            .env()
            .bearer()
            .strategy()
            .key(&token)
            .ok_or(BearerError::InvalidToken)?;
        let found = store
            .find_access_token(&key)
            .await
            .map_err(server_error)?
            .ok_or(BearerError::InvalidToken)?;
        if found.is_revoked() || found.is_expired(context.now()) {
            return Err(BearerError::InvalidToken);
        }
        let scope = found.scope();
        let Some(subject) = found.subject().filter(|_| scope.contains(OPENID)) else {
            return Err(BearerError::InsufficientScope(Scope::from_tokens([OPENID])));
        };
        let Some(all) = self.source.claims(subject).await.map_err(server_error)? else {
            // The user is gone or may no longer sign in: the token speaks for nobody.
            return Err(BearerError::InvalidToken);
        };
        let client = store
            .find_client(found.client_id())
            .await
            .map_err(server_error)?
            .ok_or(BearerError::InvalidToken)?;
        // The `sub` the client was told in its ID token (a pairwise one, for a
        // pairwise client).
        let sub = context
            .env()
            .subject_for(&client, subject)
            .map_err(|_| BearerError::ServerError)?;
        let mut claims = Map::new();
        claims.insert("sub".into(), sub.as_ref().into());
        claims.extend(self.claims.filter(&scope, all));
        let signed = registered_algorithm(
            &client,
            "userinfo_signed_response_alg",
            client.metadata().userinfo_signed_response_alg.as_deref(),
        )
        .map_err(|_| BearerError::ServerError)?;
        let Some(algorithm) = signed else {
            let mut response = json_response(StatusCode::OK, &Value::Object(claims));
            response.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
            return Ok(response);
        };
        let issuer = required_issuer(context.env().issuer(), "signed UserInfo responses")
            .map_err(|_| BearerError::ServerError)?;
        claims.insert("iss".into(), issuer.into());
        claims.insert("aud".into(), client.client_id().into());
        let signer = self
            .keys
            .as_ref()
            .and_then(|keys| keys.signer_for(algorithm, context.now()));
        let jwt = sign_now_with(signer, None, &claims, "a UserInfo response")
            .map_err(|_| BearerError::ServerError)?;
        Ok(no_store_response(
            StatusCode::OK,
            APPLICATION_JWT,
            bytes::Bytes::from(jwt),
        ))
    }
}

#[async_trait]
impl<S: ClientStore + TokenStore> Endpoint<S> for UserInfoEndpoint {
    fn name(&self) -> &str {
        USERINFO_ENDPOINT
    }

    fn metadata(&self, context: &MetadataContext<'_>, document: &mut Map<String, Value>) {
        if let Some(url) = context.endpoint_url(USERINFO_ENDPOINT) {
            document.insert("userinfo_endpoint".into(), url.into());
        }
    }

    async fn create_endpoint_response(&self, context: &EndpointContext<'_, S>) -> OAuthResponse {
        let method = context.request().method();
        if method != Method::GET && method != Method::POST {
            return OAuthError::method_not_allowed("GET, POST").into_response();
        }
        match self.answer(context).await {
            Ok(response) => response,
            Err(error) => error.into_response(&self.realm),
        }
    }
}
