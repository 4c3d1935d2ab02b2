//! [`AppState`]: everything the handlers share, built once from the configuration —
//! the composition root of `portcullis serve`, where the clock and the source of
//! randomness are chosen and handed to everything that needs them.

use std::sync::Arc;

use portcullis_core::jose::JwtAccessTokens;
use portcullis_core::redirect_uri::RedirectUriMatching;
use portcullis_core::{
    AuthorizationCodeGrant, AuthorizationServer, BearerTokenGenerator, ClientCredentialsGrant,
    Clock, ImplicitGrant, IntrospectionEndpoint, JwksEndpoint, MetadataEndpoint, OpenIdConnect,
    OpenIdImplicitAndHybrid, PasswordGrant, RandomSource, RefreshTokenGrant, ResourceIndicators,
    RevocationEndpoint, UserInfoEndpoint,
};
use portcullis_sql::SqlStore;

use crate::client_id_metadata::ClientDocuments;
use crate::config::Config;
use crate::keys::{KeyError, KeyManager};
use crate::session::Sessions;
use crate::templates::{Branding, Logo, Templates};
use crate::throttle::Throttle;
use portcullis_core::subject::PairwiseSubjects;

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("issuer", &self.inner.config.issuer())
            .field("database", &self.inner.store.describe())
            .finish_non_exhaustive()
    }
}

struct Inner {
    server: Arc<AuthorizationServer<SqlStore>>,
    keys: Arc<KeyManager>,
    store: SqlStore,
    config: Config,
    base_path: String,
    templates: Templates,
    sessions: Sessions,
    throttle: Throttle,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    registration_limiter: crate::registration::RegistrationLimiter,
    client_documents: Option<Arc<ClientDocuments>>,
}

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The configuration is not valid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The templates directory cannot be used.
    #[error("cannot load templates: {0}")]
    Templates(#[from] std::io::Error),
    /// The configured logo cannot be used.
    #[error("{0} (the setting logo, or PORTCULLIS_LOGO)")]
    Logo(#[source] std::io::Error),
    /// The signing keys cannot be used.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// Client ID metadata documents cannot be fetched as configured.
    #[error("client ID metadata documents: {0}")]
    ClientDocuments(String),
}

impl AppState {
    /// The state for `config` over `store`, reading time from `clock` and random bytes
    /// from `random`, giving the clients that registered them pairwise subjects salted
    /// by `pairwise` (see [`crate::keys::pairwise_salt`]).
    pub fn new(
        mut config: Config,
        store: SqlStore,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        pairwise: Option<PairwiseSubjects>,
    ) -> Result<Self, AppError> {
        config.validate()?;
        if config.http.issuer.is_none() {
            // Embedded without an issuer: the one of the (loopback) bind address.
            config.http.issuer = Some(config.issuer_for(config.bind_addr()?)?);
        }
        let keys = Arc::new(KeyManager::new(
            store.clone(),
            &config.keys,
            clock.clone(),
            random.clone(),
        )?);
        let base_path = config.base_path();
        // Client ID metadata documents: `https` client ids resolve through their
        // documents, for every clone of the store made from here on.
        let client_documents = if config.dynamic_registration.client_id_metadata_documents {
            Some(Arc::new(
                ClientDocuments::new(&config, clock.clone()).map_err(AppError::ClientDocuments)?,
            ))
        } else {
            None
        };
        let store = match &client_documents {
            Some(documents) => store.with_url_client_resolver(documents.clone()),
            None => store,
        };
        let mut server = authorization_server(
            &config,
            store.clone(),
            clock.clone(),
            random.clone(),
            keys.clone(),
        );
        if let Some(pairwise) = pairwise {
            server = server.with_pairwise_subjects(pairwise);
        }
        if let Some(documents) = &client_documents {
            documents.accept_methods_of(
                &server.client_auth_methods(portcullis_core::EndpointName::TOKEN),
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                server: Arc::new(server),
                keys,
                templates: Templates::with_base_path(
                    config.pages.templates_dir.clone(),
                    Branding {
                        name: config.pages.service_name.clone(),
                        logo: config
                            .pages
                            .logo
                            .as_deref()
                            .map(Logo::load)
                            .transpose()
                            .map_err(AppError::Logo)?,
                    },
                    &base_path,
                )?,
                sessions: Sessions::new(
                    store.clone(),
                    config.secure_cookies(),
                    config.sign_in.session_lifetime,
                    config.sign_in.authorization_request_lifetime,
                    random.clone(),
                )
                .with_path(&base_path),
                throttle: Throttle::new(
                    store.clone(),
                    config.sign_in.login_free_attempts,
                    config.sign_in.login_max_delay,
                    config.sign_in.login_address_failures,
                ),
                store,
                config,
                base_path,
                clock,
                random,
                registration_limiter: Default::default(),
                client_documents,
            }),
        })
    }

    /// Counts open registrations per address (`registration_rate_limit`).
    pub fn registration_limiter(&self) -> &crate::registration::RegistrationLimiter {
        &self.inner.registration_limiter
    }

    /// The OAuth engine.
    pub fn server(&self) -> &Arc<AuthorizationServer<SqlStore>> {
        &self.inner.server
    }

    /// The signing keys.
    pub fn keys(&self) -> &Arc<KeyManager> {
        &self.inner.keys
    }

    /// The database.
    pub fn store(&self) -> &SqlStore {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The path every endpoint is served under: the issuer's (`/auth` for
    /// `https://example.com/auth`), `""` for an issuer without a path.
    pub fn base_path(&self) -> &str {
        &self.inner.base_path
    }

    /// `path` (`/login`) under the issuer's path (`/auth/login`): what the pages link,
    /// post and redirect to.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base_path)
    }

    /// The page templates.
    pub fn templates(&self) -> &Templates {
        &self.inner.templates
    }

    /// The session manager.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// The sign-in throttle.
    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    /// The current time (UTC seconds), from the injected clock.
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// The injected source of random bytes.
    pub fn random(&self) -> &dyn RandomSource {
        &*self.inner.random
    }

    /// The client ID metadata documents, when the setting
    /// `client_id_metadata_documents` is on.
    pub fn client_documents(&self) -> Option<&ClientDocuments> {
        self.inner.client_documents.as_deref()
    }
}

/// Builds the OAuth engine from the configuration, publishing the JWK Set of `keys`.
pub fn authorization_server(
    config: &Config,
    store: SqlStore,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    keys: Arc<KeyManager>,
) -> AuthorizationServer<SqlStore> {
    let tokens = &config.tokens;
    let usernames = Arc::new(store.clone());
    let claims = Arc::new(store.clone());
    let strategy =
        JwtAccessTokens::new(keys.clone()).jwt_by_default(tokens.access_token_format == "jwt");
    let bearer = BearerTokenGenerator::default()
        .with_strategy(strategy)
        .with_access_token_lifetime(tokens.access_token_lifetime)
        .with_refresh_token_lifetime(Some(tokens.refresh_token_lifetime))
        .with_max_grant_lifetime(Some(tokens.grant_lifetime));
    let mut server = AuthorizationServer::new(store)
        .with_issuer(config.issuer().to_owned())
        .with_clock(clock.clone())
        .with_random(random)
        .with_bearer_tokens(bearer)
        .with_pending_request_lifetime(config.sign_in.authorization_request_lifetime)
        .with_redirect_uri_matching(
            RedirectUriMatching::new()
                .with_localhost_port_leeway(tokens.localhost_redirect_port_leeway),
        )
        .with_disabled_grant(
            "password",
            "the password grant is turned off on this server (its operator can turn it on \
             with enable_password_grant = true)",
        );
    let code_grant =
        AuthorizationCodeGrant::new().with_code_lifetime(tokens.authorization_code_lifetime);
    server
        .register_grant(code_grant.clone())
        .register_grant(ClientCredentialsGrant::new())
        .register_grant(RefreshTokenGrant::new());
    if tokens.enable_password_grant {
        server.register_grant(PasswordGrant::new());
    }
    if tokens.enable_implicit_grant {
        // OAuth's `token` and OpenID Connect's implicit and hybrid response types.
        server
            .register_grant(ImplicitGrant::new())
            .register_grant(OpenIdImplicitAndHybrid::new(code_grant));
    }
    let mut metadata = MetadataEndpoint::new();
    if let Some(scopes) = &config.metadata.scopes_supported {
        metadata = metadata.with_scopes_supported(scopes.clone());
    }
    if let Some(url) = &config.metadata.service_documentation {
        metadata = metadata.with_service_documentation(url.clone());
    }
    if config.dynamic_registration.enabled() {
        metadata = metadata.with_member(
            "registration_endpoint",
            format!(
                "{}{}",
                config.issuer().trim_end_matches('/'),
                crate::registration::REGISTRATION_PATH
            ),
        );
    }
    if config.dynamic_registration.client_id_metadata_documents {
        // draft-ietf-oauth-client-id-metadata-document §4.
        metadata = metadata.with_member("client_id_metadata_document_supported", true);
    }
    server
        .register_endpoint(RevocationEndpoint::new())
        .register_endpoint(
            IntrospectionEndpoint::new()
                .with_usernames(usernames)
                .with_jwt_responses(keys.clone()),
        )
        .register_endpoint(
            UserInfoEndpoint::new(claims.clone()).with_signed_responses(keys.clone()),
        )
        .register_endpoint(JwksEndpoint::new(keys.clone()))
        .register_endpoint(metadata);
    // Resource indicators (RFC 8707); the default resource was checked with the
    // configuration.
    let mut resources = ResourceIndicators::new();
    if let Some(default) = &tokens.default_resource {
        match resources.clone().with_default_resource(default.clone()) {
            Ok(with_default) => resources = with_default,
            Err(error) => {
                tracing::error!(%error, "default_resource is not a resource indicator; ignored")
            }
        }
    }
    server.register_extension(resources);
    // OpenID Connect: ID tokens for the `openid` scope, signed with each client's
    // algorithm (RS256 unless it registered another).
    let end_session = format!("{}/logout", config.issuer().trim_end_matches('/'));
    server.register_extension(
        OpenIdConnect::new(keys)
            .with_id_token_lifetime(tokens.id_token_lifetime)
            .with_claims_source(claims)
            .with_end_session_endpoint(end_session)
            // The pages send logout tokens when a session ends (crate::backchannel).
            .with_backchannel_logout(),
    );
    // JWT client authentication (private_key_jwt, client_secret_jwt), after the
    // endpoints, whose URLs an assertion's aud may name.
    let kek = crate::keys::Kek::from_config(&config.keys).unwrap_or_else(|error| {
        tracing::error!(%error, "client_secret_jwt secrets cannot be opened");
        None
    });
    crate::client_assertions::register(
        &mut server,
        config.issuer(),
        clock,
        config.fetch_policy(),
        kek,
        config.tokens.client_assertion_max_lifetime,
    );
    server
}
