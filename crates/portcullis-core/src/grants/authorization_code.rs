//! The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636).
//!
//! Codes carry 256 bits, live 60 seconds by default, are stored only as hashes and are
//! bound to the client, the redirect URI and the PKCE challenge. Redemption is one
//! atomic store operation: of two racing requests exactly one wins. A replayed code
//! revokes every token issued from it (RFC 6749 §4.1.2, RFC 9700 §4.5).

use std::sync::Arc;

use async_trait::async_trait;

use super::{AuthorizationGrant, AuthorizationOutcome, Grant, GrantRegistry, TokenGrant};
use crate::authorization::AuthorizationRequest;
use crate::context::{AuthorizationContext, TokenContext};
use crate::error::OAuthError;
use crate::extensions::{AuthorizationCodeExtension, Pkce};
use crate::model::{
    AuthTime, AuthorizationCode, AuthorizationCodeRecord, Client, Nonce, SessionId, User,
};
use crate::random::{random_string, random_token};
use crate::response_mode::ResponseMode;
use crate::secret::hash_secret;
use crate::store::{AuthorizationCodeStore, ClientStore, CodeRedemption, TokenStore};
use crate::tokens::Issuance;

/// The `authorization_code` grant and `code` response type.
#[derive(Clone)]
pub struct AuthorizationCodeGrant {
    code_lifetime: i64,
    pkce: Pkce,
    extensions: Vec<Arc<dyn AuthorizationCodeExtension>>,
}

impl std::fmt::Debug for AuthorizationCodeGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationCodeGrant")
            .field("code_lifetime", &self.code_lifetime)
            .field("pkce", &self.pkce)
            .field("extensions", &self.extensions.len())
            .finish()
    }
}

impl Default for AuthorizationCodeGrant {
    fn default() -> Self {
        Self {
            code_lifetime: 60,
            pkce: Pkce::default(),
            extensions: Vec::new(),
        }
    }
}

impl AuthorizationCodeGrant {
    /// The grant with PKCE S256 required of every client and 60-second codes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how long a code stays redeemable, in seconds.
    pub fn with_code_lifetime(mut self, seconds: i64) -> Self {
        self.code_lifetime = seconds;
        self
    }

    /// Replaces the PKCE policy.
    pub fn with_pkce(mut self, pkce: Pkce) -> Self {
        self.pkce = pkce;
        self
    }

    /// Adds an extension (OpenID Connect, ...).
    pub fn with_extension(mut self, extension: impl AuthorizationCodeExtension) -> Self {
        self.extensions.push(Arc::new(extension));
        self
    }

    /// The PKCE policy in force.
    pub fn pkce(&self) -> Pkce {
        self.pkce
    }

    fn extensions(&self) -> impl Iterator<Item = &dyn AuthorizationCodeExtension> {
        std::iter::once(&self.pkce as &dyn AuthorizationCodeExtension)
            .chain(self.extensions.iter().map(|e| &**e))
    }

    fn draft(
        &self,
        now: i64,
        request: &AuthorizationRequest,
        subject: &str,
    ) -> AuthorizationCodeRecord {
        let mut code = AuthorizationCodeRecord::new(
            request.client_id(),
            subject,
            String::new(),
            now,
            now.saturating_add(self.code_lifetime),
        );
        code.redirect_uri = request
            .redirect_uri_given()
            .then(|| request.redirect_uri().to_owned());
        code.scope = request.scope().clone();
        code.nonce = request.params().get("nonce").map(str::to_owned);
        // What server-level extensions recorded at validation (the RFC 8707
        // resources granted) travels with the grant.
        code.extras = request.extras().clone();
        // The OpenID `claims` parameter (validated with the request) travels with the
        // grant.
        if let Some(Ok(claims)) = request
            .params()
            .get("claims")
            .map(crate::claims::parse_claims_request)
        {
            code.extras.insert::<crate::claims::ClaimsRequest>(claims);
        }
        code
    }
}

impl<S> Grant<S> for AuthorizationCodeGrant
where
    S: ClientStore + TokenStore + AuthorizationCodeStore,
{
    fn register(self, registry: &mut GrantRegistry<S>) {
        let grant = Arc::new(self);
        registry.add_authorization_grant(grant.clone());
        registry.add_token_grant(grant);
    }
}

#[async_trait]
impl<S> AuthorizationGrant<S> for AuthorizationCodeGrant
where
    S: ClientStore + TokenStore + AuthorizationCodeStore,
{
    fn response_type(&self) -> &str {
        "code"
    }

    fn default_response_mode(&self) -> ResponseMode {
        ResponseMode::Query
    }

    fn allows_response_mode(&self, _mode: ResponseMode) -> bool {
        true
    }

    fn metadata(&self, document: &mut serde_json::Map<String, serde_json::Value>) {
        document.insert(
            "code_challenge_methods_supported".into(),
            self.pkce.methods().to_vec().into(),
        );
    }

    fn validate_authorization_request(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        _end_user: Option<&dyn User>,
    ) -> Result<(), OAuthError> {
        let mut scratch = self.draft(context.now(), request, "");
        for extension in self.extensions() {
            extension.on_authorization_request(request, client, &mut scratch)?;
        }
        Ok(())
    }

    async fn create_authorization_response(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        user: &dyn User,
    ) -> Result<AuthorizationOutcome, OAuthError> {
        let mut record = self.draft(context.now(), request, user.subject());
        record.auth_time = user.auth_time();
        if let Some(sid) = user.session_id() {
            record.extras.insert::<SessionId>(sid.to_owned());
        }
        for extension in self.extensions() {
            extension.on_authorization_request(request, client, &mut record)?;
        }
        let code = random_token(context.env().random());
        record.code_hash = hash_secret(&code);
        record.grant_id = random_string(context.env().random(), 16);
        context.store().save_authorization_code(record).await?;
        Ok(AuthorizationOutcome::params(vec![(
            "code".to_owned(),
            code,
        )]))
    }
}

/// The scope that asks for a refresh token in OpenID Connect (Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// True when a grant of `scope` may come with a refresh token: a plain OAuth grant
/// may (when the client may refresh); an OpenID Connect grant (`openid`) only when
/// the user granted `offline_access` too, as OpenID Connect Core §11 intends and
/// Hydra and node-oidc-provider do — a relying party that signs a user in gets no
/// long-lived access it did not ask the user for.
pub fn allows_refresh(scope: &crate::scope::Scope) -> bool {
    !scope.contains(crate::extensions::openid::OPENID) || scope.contains(OFFLINE_ACCESS)
}

fn invalid_code() -> OAuthError {
    OAuthError::invalid_grant(
        "the authorization code is invalid, expired, or was issued to another client",
    )
}

#[async_trait]
impl<S> TokenGrant<S> for AuthorizationCodeGrant
where
    S: ClientStore + TokenStore + AuthorizationCodeStore,
{
    fn grant_type(&self) -> &str {
        "authorization_code"
    }

    async fn handle(&self, context: &TokenContext<'_, S>) -> Result<Issuance, OAuthError> {
        let client = context.client()?;
        let params = context.params();
        let code_value = params.require("code")?;
        let store = context.store();
        // The client is part of the redemption: another client's code is not found,
        // and stays as it was (neither used up nor, as a replay, revoking anything).
        let code = match store
            .redeem_authorization_code(&hash_secret(code_value), client.client_id())
            .await?
        {
            CodeRedemption::Redeemed(code) => code,
            CodeRedemption::AlreadyUsed(code) => {
                store.revoke_grant(code.grant_id()).await?;
                tracing::warn!(
                    client_id = %code.client_id(),
                    "authorization code replayed; tokens issued from it are revoked"
                );
                return Err(OAuthError::invalid_grant(
                    "the authorization code was already used; the tokens issued with it have been revoked",
                ));
            }
            CodeRedemption::NotFound => return Err(invalid_code()),
        };
        if code.client_id() != client.client_id() || context.now() >= code.expires_at() {
            return Err(invalid_code());
        }
        match (code.redirect_uri(), params.get("redirect_uri")) {
            (Some(bound), Some(given)) if bound == given => {}
            (Some(_), _) => {
                return Err(OAuthError::invalid_grant(
                    "the redirect_uri must be identical to the one in the authorization request",
                ))
            }
            (None, Some(given))
                if !client
                    .check_redirect_uri_with(given, context.env().redirect_uri_matching()) =>
            {
                return Err(OAuthError::invalid_grant(
                    "the redirect_uri is not registered for this client",
                ))
            }
            (None, _) => {}
        }
        for extension in self.extensions() {
            extension.on_token_request(params, client, &code)?;
        }
        let mut issuance = Issuance::new(
            "authorization_code",
            client.client_id(),
            code.scope(),
            code.grant_id(),
        )
        .with_subject(Some(code.subject()))
        .with_refresh_token(
            context.env().may_issue_refresh_token(client) && allows_refresh(&code.scope()),
        )
        .with_audience(client.audience());
        // What the authorization request recorded in the code (an OpenID nonce, the
        // granted resources...) travels on into the tokens.
        issuance.extras = code.extras().clone();
        // When the user signed in travels on too: JWT access tokens carry it
        // (`auth_time`, RFC 9068 §2.2.1), and refreshes keep the original time.
        if let Some(auth_time) = code.auth_time() {
            issuance.extras.insert::<AuthTime>(auth_time);
        }
        // The nonce, for the ID token to echo (the OpenID extension takes it out of
        // the record again).
        if let Some(nonce) = code.nonce() {
            issuance.extras.insert::<Nonce>(nonce.to_owned());
        }
        Ok(issuance)
    }
}
