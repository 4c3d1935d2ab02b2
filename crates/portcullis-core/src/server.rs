//! The [`AuthorizationServer`]: a registry of grants, and the three calls an
//! application makes from its handlers (RFC 6749 §3.1, §3.2, §4).
//!
//! * [`get_consent_grant`](AuthorizationServer::get_consent_grant) validates an
//!   authorization request and tells the consent page what to show;
//! * [`create_authorization_response`](AuthorizationServer::create_authorization_response)
//!   finishes it, granted (`Some(user)`) or denied (`None`);
//! * [`create_token_response`](AuthorizationServer::create_token_response) answers the
//!   token endpoint.
//!
//! Grants are values registered with [`register_grant`](AuthorizationServer::register_grant);
//! the dispatcher asks each registered grant whether a request is its own, so adding a
//! grant never edits this file.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Method;
use serde_json::{Map, Value};

use crate::client_auth::{authenticate_client, SUPPORTED_AUTH_METHODS};
use crate::clock::{Clock, SystemClock};
use crate::endpoints::Endpoint;
use crate::error::{ErrorCode, ErrorRedirect, OAuthError};
use crate::grants::{AuthorizationGrant, Grant, GrantRegistry};
use crate::http::{redirect_response, OAuthRequest, OAuthResponse, Params};
use crate::model::{Client, EndpointName, User};
use crate::random::{OsRandom, RandomSource};
use crate::redirect_uri::is_safe_redirect_target;
use crate::resource::{ResourceProtector, StoreTokenValidator};
use crate::response_mode::ResponseMode;
use crate::scope::Scope;
use crate::store::{ClientStore, TokenStore};
use crate::tokens::BearerTokenGenerator;

/// The name of the authorization endpoint, for [`AuthorizationServer::with_endpoint_path`].
pub const AUTHORIZATION_ENDPOINT: &str = "authorization";

/// An OAuth 2.0 authorization server over the application's storage `S`.
pub struct AuthorizationServer<S: ClientStore> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    issuer: Option<String>,
    bearer: BearerTokenGenerator,
    grants: GrantRegistry<S>,
    endpoints: Vec<Arc<dyn Endpoint<S>>>,
    endpoint_paths: BTreeMap<String, String>,
}

impl<S: ClientStore> AuthorizationServer<S> {
    /// A server over `store`, with the system clock, the OS random generator, default
    /// token lifetimes and no grant registered yet.
    pub fn new(store: S) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// Like [`new`](Self::new), for a store already shared elsewhere.
    pub fn from_arc(store: Arc<S>) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            issuer: None,
            bearer: BearerTokenGenerator::default(),
            grants: GrantRegistry::default(),
            endpoints: Vec::new(),
            endpoint_paths: [
                (AUTHORIZATION_ENDPOINT, "/authorize"),
                (EndpointName::TOKEN, "/token"),
                (EndpointName::REVOCATION, "/revoke"),
                (EndpointName::INTROSPECTION, "/introspect"),
            ]
            .into_iter()
            .map(|(name, path)| (name.to_owned(), path.to_owned()))
            .collect(),
        }
    }

    /// Sets where endpoint `name` (`authorization`, `token`, `revocation`,
    /// `introspection`) is mounted, relative to the issuer; for metadata. Defaults:
    /// `/authorize`, `/token`, `/revoke`, `/introspect`.
    pub fn with_endpoint_path(mut self, name: &str, path: impl Into<String>) -> Self {
        self.endpoint_paths.insert(name.to_owned(), path.into());
        self
    }

    /// The absolute URL of endpoint `name`: the issuer plus its path.
    pub fn endpoint_url(&self, name: &str) -> Option<String> {
        let issuer = self.issuer.as_deref()?;
        let path = self.endpoint_paths.get(name)?;
        Some(format!("{}{path}", issuer.trim_end_matches('/')))
    }

    /// Registers an endpoint: `RevocationEndpoint`, `IntrospectionEndpoint`,
    /// `MetadataEndpoint` or your own. One with the same name is replaced.
    pub fn register_endpoint<E: Endpoint<S>>(&mut self, endpoint: E) -> &mut Self {
        self.endpoints.retain(|e| e.name() != endpoint.name());
        self.endpoints.push(Arc::new(endpoint));
        self
    }

    /// Answers a request for the registered endpoint `name`. An unregistered name is a
    /// programming error: it is logged and answered `404`.
    pub async fn create_endpoint_response(
        &self,
        name: &str,
        request: &OAuthRequest,
    ) -> OAuthResponse {
        match self.endpoints.iter().find(|e| e.name() == name) {
            Some(endpoint) => endpoint.create_endpoint_response(self, request).await,
            None => {
                tracing::error!(endpoint = name, "no endpoint with this name is registered");
                OAuthError::invalid_request("this endpoint is not enabled on the server")
                    .with_status(http::StatusCode::NOT_FOUND)
                    .into_response()
            }
        }
    }

    /// The names of the registered endpoints.
    pub fn endpoint_names(&self) -> Vec<&str> {
        self.endpoints.iter().map(|e| e.name()).collect()
    }

    /// The authorization server metadata document (RFC 8414 §2), built from what is
    /// registered. Needs an issuer.
    pub fn metadata(&self) -> Result<Map<String, Value>, OAuthError> {
        let Some(issuer) = self.issuer.clone() else {
            tracing::error!("metadata requested but no issuer is configured");
            return Err(OAuthError::server_error());
        };
        let mut document = Map::new();
        document.insert("issuer".into(), issuer.into());
        if !self.grants.authorization.is_empty() {
            if let Some(url) = self.endpoint_url(AUTHORIZATION_ENDPOINT) {
                document.insert("authorization_endpoint".into(), url.into());
            }
        }
        if !self.grants.token.is_empty() {
            if let Some(url) = self.endpoint_url(EndpointName::TOKEN) {
                document.insert("token_endpoint".into(), url.into());
            }
            document.insert(
                "token_endpoint_auth_methods_supported".into(),
                SUPPORTED_AUTH_METHODS.to_vec().into(),
            );
        }
        document.insert("grant_types_supported".into(), self.grant_types().into());
        document.insert(
            "response_types_supported".into(),
            self.response_types().into(),
        );
        let modes: Vec<&str> = ResponseMode::ALL
            .iter()
            .filter(|mode| {
                self.grants
                    .authorization
                    .iter()
                    .any(|g| g.allows_response_mode(**mode))
            })
            .map(|mode| mode.as_str())
            .collect();
        document.insert("response_modes_supported".into(), modes.into());
        document.insert(
            "authorization_response_iss_parameter_supported".into(),
            true.into(),
        );
        for grant in &self.grants.token {
            grant.metadata(&mut document);
        }
        for grant in &self.grants.authorization {
            grant.metadata(&mut document);
        }
        for endpoint in &self.endpoints {
            endpoint.metadata(self, &mut document);
        }
        Ok(document)
    }

    /// Replaces the clock (tests move time with [`ManualClock`](crate::ManualClock)).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the source of random bytes.
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// Sets the issuer identifier, sent as `iss` in every authorization response
    /// (RFC 9207).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Replaces the bearer token generator (lifetimes, token format).
    pub fn with_bearer_tokens(mut self, bearer: BearerTokenGenerator) -> Self {
        self.bearer = bearer;
        self
    }

    /// Registers a grant: `AuthorizationCodeGrant`, `ClientCredentialsGrant`,
    /// `RefreshTokenGrant`, `PasswordGrant`, `ImplicitGrant` or your own.
    pub fn register_grant<G: Grant<S>>(&mut self, grant: G) -> &mut Self {
        grant.register(&mut self.grants);
        self
    }

    /// The storage.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The current time from the injected clock (UTC seconds).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The injected clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The injected source of random bytes.
    pub fn random(&self) -> &dyn RandomSource {
        &*self.random
    }

    /// The issuer identifier, if configured.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The bearer token generator.
    pub fn bearer(&self) -> &BearerTokenGenerator {
        &self.bearer
    }

    /// True when a refresh token may be issued to `client`: the `refresh_token` grant
    /// is registered and the client may use it.
    pub fn may_issue_refresh_token(&self, client: &S::Client) -> bool {
        self.supports_grant_type("refresh_token") && client.check_grant_type("refresh_token")
    }

    /// True when a token grant of this type is registered.
    pub fn supports_grant_type(&self, grant_type: &str) -> bool {
        self.grants.token_grant(grant_type).is_some()
    }

    /// The registered grant types, in registration order.
    pub fn grant_types(&self) -> Vec<&str> {
        self.grants.token.iter().map(|g| g.grant_type()).collect()
    }

    /// The registered response types, in registration order.
    pub fn response_types(&self) -> Vec<&str> {
        self.grants
            .authorization
            .iter()
            .map(|g| g.response_type())
            .collect()
    }

    /// A resource protector that validates bearer tokens against this server's store.
    pub fn resource_protector(&self) -> ResourceProtector
    where
        S: TokenStore,
    {
        ResourceProtector::new(Arc::new(StoreTokenValidator::new(
            self.store.clone(),
            self.clock.clone(),
        )))
    }

    /// Validates an authorization request (RFC 6749 §4.1.1, §4.2.1) and returns what the
    /// consent page needs. `end_user` is the signed-in user, if any; extensions use it.
    ///
    /// An `Err` that [`is_redirect`](OAuthError::is_redirect) goes back to the client;
    /// any other means the client or redirect URI could not be verified, and the
    /// application must show the error to the user instead of redirecting.
    pub async fn get_consent_grant(
        &self,
        request: &OAuthRequest,
        end_user: Option<&dyn User>,
    ) -> Result<ConsentGrant<S::Client>, OAuthError> {
        let (request, client, _grant) = self
            .validate_authorization_request(request, end_user)
            .await?;
        Ok(ConsentGrant { client, request })
    }

    /// Finishes an authorization request: `Some(user)` when the user granted it (the
    /// client gets a code or token), `None` when they denied it (`access_denied`).
    /// The request is validated again in full, so it may be the consent form's POST.
    ///
    /// `Ok` is a redirect to the client. An `Err` renders itself with
    /// [`into_response`](OAuthError::into_response) when it
    /// [`is_redirect`](OAuthError::is_redirect); otherwise the application shows it.
    pub async fn create_authorization_response(
        &self,
        request: &OAuthRequest,
        grant_user: Option<&dyn User>,
    ) -> Result<OAuthResponse, OAuthError> {
        let (request, client, grant) = self
            .validate_authorization_request(request, grant_user)
            .await?;
        let Some(user) = grant_user else {
            return Err(request.redirect_error(OAuthError::new(
                ErrorCode::AccessDenied,
                "the resource owner denied the request",
            )));
        };
        let mut params = grant
            .create_authorization_response(self, &request, &client, user)
            .await
            .map_err(|e| request.redirect_error(e))?;
        if let Some(state) = &request.state {
            params.push(("state", state.clone()));
        }
        if let Some(issuer) = &self.issuer {
            params.push(("iss", issuer.clone()));
        }
        tracing::debug!(
            client_id = %client.client_id(),
            response_type = %request.response_type,
            "authorization granted"
        );
        Ok(redirect_response(
            &request.redirect_uri,
            request.response_mode,
            &params,
        ))
    }

    async fn validate_authorization_request(
        &self,
        http_request: &OAuthRequest,
        end_user: Option<&dyn User>,
    ) -> Result<
        (
            AuthorizationRequest,
            S::Client,
            Arc<dyn AuthorizationGrant<S>>,
        ),
        OAuthError,
    > {
        if http_request.method() != Method::GET && http_request.method() != Method::POST {
            return Err(OAuthError::method_not_allowed("GET, POST"));
        }
        let params = Params::from_query_and_form(http_request)?;
        let client_id = params.require("client_id")?;
        let client = self
            .store
            .find_client(client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the client_id is not registered"))?;

        // Until the redirect URI is verified, no error may redirect.
        // A registered URI must also be safe to send a browser to (no CR/LF, no
        // `\@` or userinfo, no response parameter): one registered before validation
        // existed, or by code that skipped it, is refused here too.
        let (redirect_uri, redirect_uri_given) = match params.get("redirect_uri") {
            Some(uri) if !uri.contains('#') && client.check_redirect_uri(uri) => {
                if !is_safe_redirect_target(uri) {
                    return Err(unsafe_redirect_uri());
                }
                (uri.to_owned(), true)
            }
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "the redirect_uri is not registered for this client (it must match a registered URI exactly)",
                ))
            }
            None => match client.default_redirect_uri() {
                Some(uri) if !is_safe_redirect_target(uri) => return Err(unsafe_redirect_uri()),
                Some(uri) => (uri.to_owned(), false),
                None => {
                    return Err(OAuthError::invalid_request(
                        "the redirect_uri parameter is required: the client has several (or no) registered redirect URIs",
                    ))
                }
            },
        };

        let mut request = AuthorizationRequest {
            client_id: client.client_id().to_owned(),
            redirect_uri,
            redirect_uri_given,
            response_type: String::new(),
            response_mode: ResponseMode::Query,
            scope: Scope::empty(),
            state: params.get("state").map(str::to_owned),
            issuer: self.issuer.clone(),
            params: params.clone(),
        };

        let response_type = params
            .require("response_type")
            .map_err(|e| request.redirect_error(e))?;
        let grant = self
            .grants
            .authorization_grant(response_type)
            .ok_or_else(|| {
                request.redirect_error(OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    "this response_type is not supported by the authorization server",
                ))
            })?;
        request.response_type = response_type.to_owned();
        request.response_mode = grant.default_response_mode();
        if let Some(mode) = params.get("response_mode") {
            let mode = ResponseMode::parse(mode).map_err(|e| request.redirect_error(e))?;
            if !grant.allows_response_mode(mode) {
                return Err(request.redirect_error(OAuthError::invalid_request(format!(
                    "response_mode '{}' is not allowed with response_type '{}'",
                    mode.as_str(),
                    response_type
                ))));
            }
            request.response_mode = mode;
        }
        if !client.check_response_type(response_type) {
            return Err(request.redirect_error(OAuthError::unauthorized_client(
                "this client is not allowed to use this response_type",
            )));
        }
        let requested = Scope::parse(params.get("scope").unwrap_or(""))
            .map_err(|e| request.redirect_error(e))?;
        request.scope = check_scope(&client, &requested).map_err(|e| request.redirect_error(e))?;
        grant
            .validate_authorization_request(self, &request, &client, end_user)
            .map_err(|e| request.redirect_error(e))?;
        Ok((request, client, grant))
    }

    /// Answers a token request (RFC 6749 §3.2): every outcome, success or error, is a
    /// JSON response with `Cache-Control: no-store`.
    pub async fn create_token_response(&self, request: &OAuthRequest) -> OAuthResponse {
        match self.token_response(request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(error = %error.code(), "token request refused");
                error.into_response()
            }
        }
    }

    async fn token_response(&self, request: &OAuthRequest) -> Result<OAuthResponse, OAuthError> {
        if request.method() != Method::POST {
            return Err(OAuthError::method_not_allowed("POST"));
        }
        let params = Params::from_form(request)?;
        let grant_type = params.require("grant_type")?;
        let grant = self.grants.token_grant(grant_type).ok_or_else(|| {
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant_type is not supported by the authorization server",
            )
        })?;
        let client =
            authenticate_client(&*self.store, request, &params, EndpointName::TOKEN).await?;
        if !client.check_grant_type(grant_type) {
            return Err(OAuthError::unauthorized_client(
                "this client is not allowed to use this grant_type",
            ));
        }
        let response = grant.create_token_response(self, &client, &params).await?;
        tracing::debug!(client_id = %client.client_id(), grant_type, "token issued");
        Ok(response)
    }
}

fn unsafe_redirect_uri() -> OAuthError {
    OAuthError::invalid_request(
        "the registered redirect_uri is not a safe redirect target (it holds control characters, a backslash, user information or a response parameter); register a corrected URI",
    )
}

/// Checks a requested scope against what the client may have: every requested token
/// must be allowed, or the request fails with `invalid_scope` naming the others.
pub fn check_scope<C: Client>(client: &C, requested: &Scope) -> Result<Scope, OAuthError> {
    let allowed = client.allowed_scope(requested);
    if requested.is_subset_of(&allowed) {
        // Never more than was asked, whatever `allowed_scope` returns.
        return Ok(requested.clone());
    }
    let refused: Vec<&str> = requested.iter().filter(|t| !allowed.contains(t)).collect();
    Err(OAuthError::invalid_scope(format!(
        "this client may not request the scope '{}'",
        refused.join(" ")
    )))
}

/// A validated authorization request (RFC 6749 §4.1.1, §4.2.1).
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    client_id: String,
    redirect_uri: String,
    redirect_uri_given: bool,
    response_type: String,
    response_mode: ResponseMode,
    scope: Scope,
    state: Option<String>,
    issuer: Option<String>,
    params: Params,
}

impl AuthorizationRequest {
    /// The client's identifier.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The verified redirect URI the response goes to.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// True when the request named the redirect URI (rather than using the client's
    /// only registered one); the token request must then repeat it.
    pub fn redirect_uri_given(&self) -> bool {
        self.redirect_uri_given
    }

    /// The response type (`code`, `token`).
    pub fn response_type(&self) -> &str {
        &self.response_type
    }

    /// How the response parameters are delivered.
    pub fn response_mode(&self) -> ResponseMode {
        self.response_mode
    }

    /// The scope requested, every token of which the client may have.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The `state` to echo.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// All request parameters (for extensions: `code_challenge`, `nonce`, `prompt`...).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Attaches this request's verified redirect target (with `state` and `iss`) to an
    /// error, so that it is sent back to the client.
    pub fn redirect_error(&self, error: OAuthError) -> OAuthError {
        // A client that turned out not to exist (deleted meanwhile) no longer vouches
        // for its redirect URI: show the error, never redirect it.
        if error.is_redirect() || error.code() == ErrorCode::InvalidClient {
            return error;
        }
        error.with_redirect(ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            response_mode: self.response_mode,
            issuer: self.issuer.clone(),
        })
    }
}

/// What a consent page needs: the client, the scope asked for, and the request itself.
#[derive(Debug, Clone)]
pub struct ConsentGrant<C> {
    /// The client asking for access.
    pub client: C,
    /// The validated request.
    pub request: AuthorizationRequest,
}

impl<C> ConsentGrant<C> {
    /// The scope the user is asked to grant.
    pub fn scope(&self) -> &Scope {
        self.request.scope()
    }

    /// The verified redirect URI.
    pub fn redirect_uri(&self) -> &str {
        self.request.redirect_uri()
    }

    /// The `state` the client sent.
    pub fn state(&self) -> Option<&str> {
        self.request.state()
    }
}
