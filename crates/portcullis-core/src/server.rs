//! The [`AuthorizationServer`]: a registry of grants, endpoints, extensions and client
//! authenticators, and the three calls an application makes from its handlers
//! (RFC 6749 §3.1, §3.2, §4).
//!
//! * [`get_consent_grant`](AuthorizationServer::get_consent_grant) validates an
//!   authorization request and tells the consent page what to show;
//! * [`create_authorization_response`](AuthorizationServer::create_authorization_response)
//!   finishes it, granted (`Some(user)`) or denied (`None`);
//! * [`create_token_response`](AuthorizationServer::create_token_response) answers the
//!   token endpoint.
//!
//! The token endpoint is a pipeline in fosite's shape: parse the parameters (the
//! declared repeatable ones may repeat), ask each registered token handler whether the
//! request is its own, authenticate the client with the registered authenticators
//! (unless the handler skips it), let the handler say what to issue, then run the one
//! issuance sequence for every grant — server-level extensions, minting, saving or
//! rotating, extensions again, and the response, serialized once. Adding a grant, an
//! extension or an authentication method never edits this file.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use http::Method;
use serde_json::{Map, Value};

use crate::authorization::{AuthorizationRequest, ConsentGrant, PendingAuthorization};
use crate::client_auth::{ClientAuthentication, ClientAuthenticator};
use crate::clock::{Clock, SystemClock};
use crate::context::{
    AuthorizationContext, EndpointContext, Environment, MetadataContext, MetadataSource,
    TokenContext,
};
use crate::endpoints::Endpoint;
use crate::error::{ErrorCode, OAuthError};
use crate::extensions::TokenExtension;
use crate::grants::{AuthorizationGrant, Grant, GrantRegistry, REUSED};
use crate::http::{OAuthRequest, OAuthResponse, Params};
use crate::model::{Client, EndpointName, User};
use crate::random::random_token;
// OsRandom is the composition-root default of `from_arc`, replaced with `with_random`.
#[allow(clippy::disallowed_types)]
use crate::random::OsRandom;
use crate::random::RandomSource;
use crate::redirect_uri::is_safe_redirect_target;
use crate::resource::{ResourceProtector, StoreTokenValidator};
use crate::response::redirect_with;
use crate::response_mode::ResponseMode;
use crate::scope::Scope;
use crate::secret::token_key;
use crate::store::{AuthorizationRequestStore, ClientStore, TokenStore};
use crate::tokens::{BearerTokenGenerator, Issuance, Persist, TokenResponse};

pub use crate::model::check_scope;

/// The name of the authorization endpoint, for [`AuthorizationServer::with_endpoint_path`].
pub const AUTHORIZATION_ENDPOINT: &str = "authorization";

/// An OAuth 2.0 authorization server over the application's storage `S`.
pub struct AuthorizationServer<S: ClientStore> {
    store: Arc<S>,
    env: Environment,
    grants: GrantRegistry<S>,
    endpoints: Vec<Arc<dyn Endpoint<S>>>,
    extensions: Vec<Arc<dyn TokenExtension<S>>>,
    authentication: ClientAuthentication<S>,
    repeatable: Vec<&'static str>,
    /// How long a pending authorization request works (seconds).
    pending_lifetime: i64,
    /// Grant types known but turned off, with the description of their
    /// `unsupported_grant_type` error.
    disabled_grants: BTreeMap<String, String>,
}

/// How long a pending authorization request works unless set otherwise: time to sign
/// in and read a consent page.
pub const PENDING_REQUEST_LIFETIME: i64 = 600;

impl<S: ClientStore> fmt::Debug for AuthorizationServer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("env", &self.env)
            .field("grants", &self.grants)
            .field(
                "endpoints",
                &self.endpoints.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field(
                "extensions",
                &self.extensions.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field("client_authentication", &self.authentication)
            .finish_non_exhaustive()
    }
}

impl<S: ClientStore> AuthorizationServer<S> {
    /// A server over `store`, with the system clock, the OS random generator, default
    /// token lifetimes, the built-in client authentication methods and no grant
    /// registered yet.
    pub fn new(store: S) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// Like [`new`](Self::new), for a store already shared elsewhere.
    pub fn from_arc(store: Arc<S>) -> Self {
        Self {
            store,
            env: Environment {
                clock: Arc::new(SystemClock),
                random: Arc::new(OsRandom),
                issuer: None,
                bearer: BearerTokenGenerator::default(),
                endpoint_paths: [
                    (AUTHORIZATION_ENDPOINT, "/authorize"),
                    (EndpointName::TOKEN, "/token"),
                    (EndpointName::REVOCATION, "/revoke"),
                    (EndpointName::INTROSPECTION, "/introspect"),
                    (crate::endpoints::JWKS_ENDPOINT, "/jwks"),
                    (crate::endpoints::USERINFO_ENDPOINT, "/userinfo"),
                ]
                .into_iter()
                .map(|(name, path)| (name.to_owned(), path.to_owned()))
                .collect::<BTreeMap<_, _>>(),
                refresh_registered: false,
                pairwise: None,
                redirect_matching: crate::redirect_uri::RedirectUriMatching::default(),
            },
            grants: GrantRegistry::default(),
            endpoints: Vec::new(),
            extensions: Vec::new(),
            authentication: ClientAuthentication::default(),
            repeatable: Vec::new(),
            pending_lifetime: PENDING_REQUEST_LIFETIME,
            disabled_grants: BTreeMap::new(),
        }
    }

    /// Sets how long a pending authorization request works, in seconds (at least 1;
    /// [`PENDING_REQUEST_LIFETIME`] unless set).
    pub fn with_pending_request_lifetime(mut self, seconds: i64) -> Self {
        self.pending_lifetime = seconds.max(1);
        self
    }

    /// Names `grant_type` as known but turned off: a token request for it is refused
    /// `unsupported_grant_type` with `description` (the setting that turns it on, say)
    /// instead of the generic words. Nothing is registered, so the metadata does not
    /// list it.
    pub fn with_disabled_grant(
        mut self,
        grant_type: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.disabled_grants
            .insert(grant_type.into(), description.into());
        self
    }

    /// Sets where endpoint `name` (`authorization`, `token`, `revocation`,
    /// `introspection`, `jwks`, `userinfo`) is mounted, relative to the issuer; for
    /// metadata. Defaults: `/authorize`, `/token`, `/revoke`, `/introspect`, `/jwks`,
    /// `/userinfo`.
    pub fn with_endpoint_path(mut self, name: &str, path: impl Into<String>) -> Self {
        self.env.endpoint_paths.insert(name.to_owned(), path.into());
        self
    }

    /// The absolute URL of endpoint `name`: the issuer plus its path.
    pub fn endpoint_url(&self, name: &str) -> Option<String> {
        self.env.endpoint_url(name)
    }

    /// Registers an endpoint: `RevocationEndpoint`, `IntrospectionEndpoint`,
    /// `MetadataEndpoint` or your own. One with the same name is replaced.
    pub fn register_endpoint<E: Endpoint<S>>(&mut self, endpoint: E) -> &mut Self {
        self.endpoints.retain(|e| e.name() != endpoint.name());
        self.endpoints.push(Arc::new(endpoint));
        self
    }

    /// Registers a server-level token extension, run for every grant. One with the
    /// same name is replaced.
    pub fn register_extension<E: TokenExtension<S>>(&mut self, extension: E) -> &mut Self {
        self.extensions.retain(|e| e.name() != extension.name());
        for name in extension.repeatable_parameters() {
            self.allow_repeated_parameter(name);
        }
        self.extensions.push(Arc::new(extension));
        self
    }

    /// Registers a client authentication method, replacing one of the same name
    /// (`client_secret_basic`, `client_secret_post` and `none` are registered from the
    /// start). The metadata lists exactly the registered methods.
    pub fn register_client_authenticator(
        &mut self,
        authenticator: impl ClientAuthenticator<S>,
    ) -> &mut Self {
        self.authentication.add(authenticator);
        self
    }

    /// Removes the client authentication method `method`.
    pub fn remove_client_authenticator(&mut self, method: &str) -> &mut Self {
        self.authentication.remove(method);
        self
    }

    /// Lets the parameter `name` repeat in authorization and token requests (as a spec
    /// allows for RFC 8707's `resource` and RFC 8693's `audience`); every other
    /// parameter sent twice stays `invalid_request`.
    pub fn allow_repeated_parameter(&mut self, name: &'static str) -> &mut Self {
        if !self.repeatable.contains(&name) {
            self.repeatable.push(name);
        }
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
            Some(endpoint) => {
                let context = EndpointContext {
                    request,
                    store: &*self.store,
                    env: &self.env,
                    authentication: &self.authentication,
                    metadata: self,
                };
                endpoint.create_endpoint_response(&context).await
            }
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
        let Some(issuer) = self.env.issuer.clone() else {
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
                self.authentication.methods(EndpointName::TOKEN).into(),
            );
            let algorithms = self.authentication.signing_algorithms(EndpointName::TOKEN);
            if !algorithms.is_empty() {
                document.insert(
                    "token_endpoint_auth_signing_alg_values_supported".into(),
                    algorithms.into(),
                );
            }
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
        let auth_methods = |endpoint: &str| self.authentication.methods(endpoint);
        let auth_signing_algorithms =
            |endpoint: &str| self.authentication.signing_algorithms(endpoint);
        let context = MetadataContext {
            env: &self.env,
            auth_methods: &auth_methods,
            auth_signing_algorithms: &auth_signing_algorithms,
        };
        for endpoint in &self.endpoints {
            endpoint.metadata(&context, &mut document);
        }
        for extension in &self.extensions {
            extension.metadata(&mut document);
        }
        if self.env.pairwise.is_some() {
            if let Some(Value::Array(types)) = document.get_mut("subject_types_supported") {
                if !types.iter().any(|t| t == crate::subject::PAIRWISE) {
                    types.push(crate::subject::PAIRWISE.into());
                }
            }
        }
        Ok(document)
    }

    /// Replaces the clock (tests move time with [`ManualClock`](crate::ManualClock)).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.env.clock = clock;
        self
    }

    /// Replaces the source of random bytes.
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.env.random = random;
        self
    }

    /// Sets the issuer identifier, sent as `iss` in every authorization response
    /// (RFC 9207).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.env.issuer = Some(issuer.into());
        self
    }

    /// Gives pairwise subjects (OpenID Connect Core §8.1) to the clients that
    /// registered `subject_type: pairwise`, and adds `pairwise` to the
    /// `subject_types_supported` an OpenID provider publishes. See
    /// [`subject`](crate::subject).
    pub fn with_pairwise_subjects(mut self, pairwise: crate::subject::PairwiseSubjects) -> Self {
        self.env.pairwise = Some(pairwise);
        self
    }

    /// Sets how redirect URIs are matched beyond the exact rule: with
    /// [`RedirectUriMatching::with_localhost_port_leeway`](crate::redirect_uri::RedirectUriMatching::with_localhost_port_leeway),
    /// `http://localhost` redirects may vary in port. Strict by default. Clients
    /// implementing [`Client::check_redirect_uri_with`] honour it
    /// ([`ClientRecord`](crate::ClientRecord) does).
    pub fn with_redirect_uri_matching(
        mut self,
        matching: crate::redirect_uri::RedirectUriMatching,
    ) -> Self {
        self.env.redirect_matching = matching;
        self
    }

    /// Replaces the bearer token generator (lifetimes, token strategy).
    pub fn with_bearer_tokens(mut self, bearer: BearerTokenGenerator) -> Self {
        self.env.bearer = bearer;
        self
    }

    /// Registers a grant: `AuthorizationCodeGrant`, `ClientCredentialsGrant`,
    /// `RefreshTokenGrant`, `PasswordGrant`, `ImplicitGrant` or your own.
    pub fn register_grant<G: Grant<S>>(&mut self, grant: G) -> &mut Self {
        grant.register(&mut self.grants);
        self.env.refresh_registered = self.grants.token_grant("refresh_token").is_some();
        for grant in &self.grants.token {
            for name in grant.repeatable_parameters() {
                if !self.repeatable.contains(name) {
                    self.repeatable.push(name);
                }
            }
        }
        self
    }

    /// The storage.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// What the server is configured with (clock, randomness, issuer, tokens).
    pub fn env(&self) -> &Environment {
        &self.env
    }

    /// The current time from the injected clock (UTC seconds).
    pub fn now(&self) -> i64 {
        self.env.now()
    }

    /// The injected clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.env.clock
    }

    /// The injected source of random bytes.
    pub fn random(&self) -> &dyn RandomSource {
        self.env.random()
    }

    /// The issuer identifier, if configured.
    pub fn issuer(&self) -> Option<&str> {
        self.env.issuer()
    }

    /// The bearer token generator.
    pub fn bearer(&self) -> &BearerTokenGenerator {
        &self.env.bearer
    }

    /// True when a refresh token may be issued to `client`: the `refresh_token` grant
    /// is registered and the client may use it.
    pub fn may_issue_refresh_token(&self, client: &S::Client) -> bool {
        self.env.may_issue_refresh_token(client)
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

    /// The client authentication methods usable at `endpoint` (an [`EndpointName`]).
    pub fn client_auth_methods(&self, endpoint: &str) -> Vec<&'static str> {
        self.authentication.methods(endpoint)
    }

    /// A resource protector that validates bearer tokens against this server's store,
    /// with its token strategy.
    pub fn resource_protector(&self) -> ResourceProtector
    where
        S: TokenStore,
    {
        ResourceProtector::new(Arc::new(StoreTokenValidator::with_strategy(
            self.store.clone(),
            self.env.clock.clone(),
            self.env.bearer.strategy().clone(),
        )))
    }

    fn authorization_context(&self) -> AuthorizationContext<'_, S> {
        AuthorizationContext {
            store: &*self.store,
            env: &self.env,
        }
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
        http_request: &OAuthRequest,
        grant_user: Option<&dyn User>,
    ) -> Result<OAuthResponse, OAuthError>
    where
        S: TokenStore,
    {
        let (request, client, grant) = self
            .validate_authorization_request(http_request, grant_user)
            .await?;
        let Some(user) = grant_user else {
            return Err(request.redirect_error(OAuthError::new(
                ErrorCode::AccessDenied,
                "the resource owner denied the request",
            )));
        };
        let outcome = grant
            .create_authorization_response(&self.authorization_context(), &request, &client, user)
            .await
            .map_err(|e| request.redirect_error(e))?;
        let mut params = outcome.params;
        if let Some(issuance) = outcome.tokens {
            let context = TokenContext {
                request: http_request,
                params: request.params(),
                client: Some(&client),
                store: &*self.store,
                env: &self.env,
            };
            let tokens = self
                .issue(&context, &client, issuance)
                .await
                .map_err(|e| request.redirect_error(e))?;
            params.extend(tokens.into_params());
        }
        let context = self.authorization_context();
        for extension in &self.extensions {
            extension
                .authorization_response(&context, &request, &client, user, &mut params)
                .await
                .map_err(|e| request.redirect_error(e))?;
        }
        if let Some(state) = &request.state {
            params.push(("state".to_owned(), state.clone()));
        }
        if let Some(issuer) = &self.env.issuer {
            params.push(("iss".to_owned(), issuer.clone()));
        }
        tracing::debug!(
            client_id = %client.client_id(),
            response_type = %request.response_type,
            "authorization granted"
        );
        Ok(redirect_with(
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
        let params = Params::from_query_and_form_allowing(http_request, &self.repeatable)?;
        let client_id = params.require("client_id")?;
        let client = self
            .store
            .find_client(client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the client_id is not registered"))?;

        // Until the redirect URI is verified, no error may redirect. A registered URI
        // must also be safe to send a browser to (no CR/LF, no `\@` or userinfo, no
        // response parameter): one registered before validation existed, or by code
        // that skipped it, is refused here too.
        let (redirect_uri, redirect_uri_given) = match params.get("redirect_uri") {
            Some(uri)
                if !uri.contains('#')
                    && client.check_redirect_uri_with(uri, self.env.redirect_matching) =>
            {
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
            issuer: self.env.issuer.clone(),
            params: params.clone(),
            extras: crate::model::Extras::new(),
        };

        let sent = params
            .require("response_type")
            .map_err(|e| request.redirect_error(e))?;
        // Compared as a set (OAuth 2.0 Multiple Response Type Encoding Practices §5):
        // `id_token code` is `code id_token`.
        let response_type =
            crate::response_type::canonical_response_type(sent).ok_or_else(|| {
                request.redirect_error(OAuthError::invalid_request(
                    "the response_type names a value twice or has an empty value",
                ))
            })?;
        let response_type = response_type.as_str();
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
        if let Some(name) = params.get("response_mode") {
            let Some(mode) = ResponseMode::from_name(name) else {
                return Err(request.redirect_error(OAuthError::invalid_request(format!(
                    "response_mode '{}' is not supported; use 'query', 'fragment' or 'form_post'",
                    name.chars().take(40).collect::<String>()
                ))));
            };
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
        // OpenID Connect Core §11: offline_access is ignored unless the response type
        // returns a code (only the token endpoint issues refresh tokens).
        if request.scope.contains(crate::extensions::openid::OPENID)
            && !response_type.split(' ').any(|part| part == "code")
        {
            request.scope = Scope::from_tokens(
                request
                    .scope
                    .iter()
                    .filter(|s| *s != crate::grants::OFFLINE_ACCESS),
            );
        }
        check_request_parameters(&params).map_err(|e| request.redirect_error(e))?;
        // OpenID Connect Core §3.1.2.1: an OpenID request names its redirect URI.
        if request.scope.contains("openid") && !request.redirect_uri_given {
            return Err(request.redirect_error(OAuthError::invalid_request(
                "redirect_uri is required in OpenID Connect requests (scope openid)",
            )));
        }
        let context = self.authorization_context();
        for extension in &self.extensions {
            // Borrowed apart: the extension records into the request it reads.
            let mut extras = std::mem::take(&mut request.extras);
            let checked = extension
                .validate_authorization_request(&context, &request, &client, &mut extras)
                .await;
            request.extras = extras;
            checked.map_err(|e| request.redirect_error(e))?;
        }
        grant
            .validate_authorization_request(
                &self.authorization_context(),
                &request,
                &client,
                end_user,
            )
            .map_err(|e| request.redirect_error(e))?;
        Ok((request, client, grant))
    }

    /// Answers a token request (RFC 6749 §3.2): every outcome, success or error, is a
    /// JSON response with `Cache-Control: no-store`.
    pub async fn create_token_response(&self, request: &OAuthRequest) -> OAuthResponse
    where
        S: TokenStore,
    {
        match self.token_response(request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(error = %error.code(), "token request refused");
                error.into_response()
            }
        }
    }

    async fn token_response(&self, request: &OAuthRequest) -> Result<OAuthResponse, OAuthError>
    where
        S: TokenStore,
    {
        if request.method() != Method::POST {
            return Err(OAuthError::method_not_allowed("POST"));
        }
        let params = Params::from_form_allowing(request, &self.repeatable)?;
        params.require("grant_type")?;
        let handler = self.grants.token_handler(&params).ok_or_else(|| {
            let disabled = params
                .get("grant_type")
                .and_then(|grant_type| self.disabled_grants.get(grant_type));
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                disabled.map_or(
                    Cow::Borrowed("this grant_type is not supported by the authorization server"),
                    |description| Cow::Owned(description.clone()),
                ),
            )
        })?;
        let client = if handler.skips_client_authentication(&params) {
            None
        } else {
            let client = self
                .authentication
                .authenticate(&*self.store, request, &params, EndpointName::TOKEN)
                .await?;
            if !client.check_grant_type(handler.grant_type()) {
                return Err(OAuthError::unauthorized_client(
                    "this client is not allowed to use this grant_type",
                ));
            }
            Some(client)
        };
        let context = TokenContext {
            request,
            params: &params,
            client: client.as_ref(),
            store: &*self.store,
            env: &self.env,
        };
        let issuance = handler.handle(&context).await?;
        // The authenticated client, or (for a handler that skipped authentication) the
        // one the issuance names: borrowed, never copied, on every token request.
        let found;
        let issued_for = match &client {
            Some(client) => client,
            None => {
                found = self
                    .store
                    .find_client(&issuance.client_id)
                    .await?
                    .ok_or_else(|| OAuthError::invalid_client("the client is not registered"))?;
                &found
            }
        };
        let response = self.issue(&context, issued_for, issuance).await?;
        tracing::debug!(client_id = %issued_for.client_id(), grant_type = %handler.grant_type(), "token issued");
        Ok(response.into_response())
    }

    /// The one issuance sequence of every grant: extensions before, minting,
    /// extensions after, saving (or rotating: a lost race is a reuse, and revokes the
    /// grant), and the response to serialize.
    async fn issue(
        &self,
        context: &TokenContext<'_, S>,
        client: &S::Client,
        mut issuance: Issuance,
    ) -> Result<TokenResponse, OAuthError>
    where
        S: TokenStore,
    {
        for extension in &self.extensions {
            extension.before_issue(context, &mut issuance).await?;
        }
        let subject = match issuance.subject.as_deref() {
            Some(local) => Some(self.env.subject_for(client, local)?),
            None => None,
        };
        let mut issued = self.env.bearer.issue_as(
            self.env.random(),
            self.env.clock(),
            self.env.issuer(),
            client,
            &issuance,
            subject.as_deref(),
        )?;
        let mut response = TokenResponse::for_token(&issued);
        for extension in &self.extensions {
            extension
                .after_issue(context, &issuance, &mut issued, &mut response)
                .await?;
        }
        match &issuance.persist {
            Persist::Save => self.store.save_token(issued.record).await?,
            Persist::Rotate { presented } => {
                if !self
                    .store
                    .rotate_refresh_token(presented, issued.record)
                    .await?
                {
                    // Another request rotated it between the handler's read and this
                    // write: a reuse.
                    self.store.revoke_grant(&issuance.grant_id).await?;
                    return Err(OAuthError::invalid_grant(REUSED));
                }
            }
        }
        Ok(response)
    }
}

impl<S: ClientStore> MetadataSource for AuthorizationServer<S> {
    fn metadata(&self) -> Result<Map<String, Value>, OAuthError> {
        AuthorizationServer::metadata(self)
    }
}

fn unsafe_redirect_uri() -> OAuthError {
    OAuthError::invalid_request(
        "the registered redirect_uri is not a safe redirect target (it holds control characters, a backslash, user information or a response parameter); register a corrected URI",
    )
}

/// Pending authorization requests (see [`crate::authorization`]).
impl<S: ClientStore + AuthorizationRequestStore> AuthorizationServer<S> {
    /// Stores `grant`'s validated request for the sign-in and consent pages to
    /// continue, bound to the browser that holds `binding` (a random value in a
    /// cookie, say), for the pending-request lifetime. Returns its id: unguessable,
    /// for the pages' URLs; the store keeps only its hash.
    pub async fn save_pending_request(
        &self,
        grant: &ConsentGrant<S::Client>,
        binding: &str,
    ) -> Result<String, OAuthError> {
        let id = random_token(self.random());
        let now = self.now();
        let params = grant
            .request
            .params()
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let mut pending = PendingAuthorization::new(
            token_key(&id),
            grant.request.client_id(),
            params,
            token_key(binding),
            now,
            now.saturating_add(self.pending_lifetime),
        );
        pending.scope = grant.scope().clone();
        self.store
            .save_authorization_request(pending)
            .await
            .map_err(OAuthError::from)?;
        Ok(id)
    }

    /// The pending request `id`, when it exists, has not expired and is bound to the
    /// browser holding `binding`; `None` otherwise (to the caller, all three look
    /// alike: start again from the client).
    pub async fn find_pending_request(
        &self,
        id: &str,
        binding: &str,
    ) -> Result<Option<PendingAuthorization>, OAuthError> {
        let found = self
            .store
            .find_authorization_request(&token_key(id))
            .await
            .map_err(OAuthError::from)?;
        Ok(found.filter(|p| p.is_usable(binding, self.now())))
    }

    /// Like [`find_pending_request`](Self::find_pending_request), and removes it: the
    /// decision that completes a request takes it, so it completes once.
    pub async fn take_pending_request(
        &self,
        id: &str,
        binding: &str,
    ) -> Result<Option<PendingAuthorization>, OAuthError> {
        // Checked before it is taken: a request is not used up by someone who only
        // knows its id.
        if self.find_pending_request(id, binding).await?.is_none() {
            return Ok(None);
        }
        let taken = self
            .store
            .take_authorization_request(&token_key(id))
            .await
            .map_err(OAuthError::from)?;
        Ok(taken.filter(|p| p.is_usable(binding, self.now())))
    }
}

/// What every authorization request is checked for besides its client, redirect URI,
/// response type and scope: `prompt`, `max_age` and `claims` well-formed, and no request object
/// (`request`, `request_uri`: OpenID Connect Core §6, RFC 9101), which this server does
/// not take yet and must not ignore, since its content would override the parameters.
fn check_request_parameters(params: &Params) -> Result<(), OAuthError> {
    if params.get("request").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects (the request parameter) are not supported; send the parameters directly",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "the request_uri parameter is not supported; send the parameters directly",
        ));
    }
    if let Some(claims) = params.get("claims") {
        crate::claims::parse_claims_request(claims)?;
    }
    crate::authorization::check_prompt_and_max_age(params)
}
