//! The HTTP application: routes, shared state, security headers, and `serve`.
//!
//! | route | what |
//! |---|---|
//! | `GET, POST /authorize` | the authorization endpoint (RFC 6749 §3.1) |
//! | `POST /token` | the token endpoint (RFC 6749 §3.2) |
//! | `POST /revoke` | token revocation (RFC 7009) |
//! | `POST /introspect` | token introspection (RFC 7662) |
//! | `GET /.well-known/oauth-authorization-server` | server metadata (RFC 8414) |
//! | `GET, POST /login` | the sign-in page |
//! | `GET, POST /consent` | the consent page |
//! | `GET, POST /logout` | sign out |
//! | `GET /healthz` | liveness and database check |
//! | `GET /static/portcullis.css` | the pages' stylesheet |

use std::sync::Arc;

use axum::extract::State;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{self, HeaderValue};
use http::StatusCode;
use portcullis_axum::{into_response, OAuth};
use portcullis_core::{
    AuthorizationCodeGrant, AuthorizationServer, BearerTokenGenerator, ClientCredentialsGrant,
    Clock, ImplicitGrant, IntrospectionEndpoint, MetadataEndpoint, PasswordGrant,
    RefreshTokenGrant, RevocationEndpoint, SystemClock,
};
use portcullis_sql::SqlStore;

use crate::config::Config;
use crate::listener::Limits;
use crate::pages;
use crate::session::Sessions;
use crate::templates::Templates;
use crate::throttle::Throttle;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    server: AuthorizationServer<SqlStore>,
    store: SqlStore,
    config: Config,
    templates: Templates,
    sessions: Sessions,
    throttle: Throttle,
    clock: Arc<dyn Clock>,
}

impl AppState {
    /// The OAuth engine.
    pub fn server(&self) -> &AuthorizationServer<SqlStore> {
        &self.inner.server
    }

    /// The database.
    pub fn store(&self) -> &SqlStore {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
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

    /// The current time (UTC seconds).
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }
}

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration is not valid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The templates directory cannot be used.
    #[error("cannot load templates: {0}")]
    Templates(#[from] std::io::Error),
}

/// Builds the OAuth engine from the configuration.
pub fn authorization_server(
    config: &Config,
    store: SqlStore,
    clock: Arc<dyn Clock>,
) -> AuthorizationServer<SqlStore> {
    let store_for_usernames = store.clone();
    let bearer = BearerTokenGenerator::default()
        .with_access_token_lifetime(config.access_token_lifetime)
        .with_refresh_token_lifetime(Some(config.refresh_token_lifetime))
        .with_max_grant_lifetime(Some(config.grant_lifetime));
    let mut server = AuthorizationServer::new(store)
        .with_issuer(config.issuer.clone())
        .with_clock(clock)
        .with_bearer_tokens(bearer);
    server
        .register_grant(
            AuthorizationCodeGrant::new().with_code_lifetime(config.authorization_code_lifetime),
        )
        .register_grant(ClientCredentialsGrant::new())
        .register_grant(RefreshTokenGrant::new());
    if config.enable_password_grant {
        server.register_grant(PasswordGrant::new());
    }
    if config.enable_implicit_grant {
        server.register_grant(ImplicitGrant::new());
    }
    let mut metadata = MetadataEndpoint::new();
    if let Some(scopes) = &config.scopes_supported {
        metadata = metadata.with_scopes_supported(scopes.clone());
    }
    if let Some(url) = &config.service_documentation {
        metadata = metadata.with_service_documentation(url.clone());
    }
    let usernames = Arc::new(store_for_usernames);
    server
        .register_endpoint(RevocationEndpoint::new())
        .register_endpoint(IntrospectionEndpoint::new().with_usernames(usernames))
        .register_endpoint(metadata);
    server
}

/// Builds the router for `config` over `store`.
pub fn build_app(config: Config, store: SqlStore) -> Result<Router, AppError> {
    config.validate()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = AppState {
        inner: Arc::new(Inner {
            server: authorization_server(&config, store.clone(), clock.clone()),
            templates: Templates::new(config.templates_dir.clone())?,
            sessions: Sessions::new(
                store.clone(),
                config.secure_cookies(),
                config.session_lifetime,
            ),
            throttle: Throttle::new(
                store.clone(),
                config.login_free_attempts,
                config.login_max_delay,
                config.login_address_failures,
            ),
            store,
            config,
            clock,
        }),
    };
    let hsts = config_hsts(&state.inner.config);
    let body_timeout = std::time::Duration::from_secs(state.inner.config.http_body_timeout);
    Ok(Router::new()
        .route("/authorize", get(pages::authorize).post(pages::authorize))
        .route("/consent", get(pages::consent).post(pages::consent_submit))
        .route("/login", get(pages::login).post(pages::login_submit))
        .route("/logout", get(pages::logout).post(pages::logout_submit))
        .route("/token", axum::routing::any(token))
        .route("/revoke", axum::routing::any(revoke))
        .route("/introspect", axum::routing::any(introspect))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/healthz", get(healthz))
        .route("/static/portcullis.css", get(stylesheet))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .layer(middleware::from_fn_with_state(
            body_timeout,
            crate::listener::read_body,
        ))
        .layer(middleware::map_response_with_state(hsts, security_headers))
        .with_state(state))
}

/// The `Strict-Transport-Security` header value, when one is sent.
fn config_hsts(config: &Config) -> Option<HeaderValue> {
    config
        .hsts()
        .and_then(|value| HeaderValue::from_str(&value).ok())
}

async fn token(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    into_response(state.server().create_token_response(&request).await)
}

async fn revoke(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    into_response(
        state
            .server()
            .create_endpoint_response("revocation", &request)
            .await,
    )
}

async fn introspect(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    into_response(
        state
            .server()
            .create_endpoint_response("introspection", &request)
            .await,
    )
}

/// RFC 8414 metadata: the engine's document, built from its registrations, with
/// `scopes_supported` when the configuration names them. The scopes registered clients
/// may request are theirs to know, not the public's (issue 9, finding 15): they are
/// never published by default.
async fn metadata(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    let mut response = into_response(
        state
            .server()
            .create_endpoint_response("metadata", &request)
            .await,
    );
    if response.status() == StatusCode::OK {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
    }
    response
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store().get_client("healthz").await {
        Ok(_) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "database unavailable"})),
            )
                .into_response()
        }
    }
}

async fn stylesheet(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        state.templates().css().to_owned(),
    )
        .into_response()
}

/// The content security policy of every HTML page: nothing but our own stylesheet, and
/// no framing.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Adds the security headers to every response — `Strict-Transport-Security` too when
/// the issuer is https; HTML pages also get the CSP and are never cached (they carry
/// CSRF tokens).
async fn security_headers(
    State(hsts): State<Option<HeaderValue>>,
    mut response: Response,
) -> Response {
    let headers = response.headers_mut();
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Runs the server until SIGTERM or SIGINT, then finishes in-flight requests within
/// `shutdown_grace_period` and returns.
pub async fn serve(config: Config, store: SqlStore) -> Result<(), Box<dyn std::error::Error>> {
    let addr = config.bind_addr()?;
    let issuer = config.issuer.clone();
    let limits = Limits::from_config(&config);
    let app = build_app(config, store.clone())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (is another server using the port? change it with --bind)"))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, %issuer, database = %store.describe(), "Portcullis is listening");
    if store
        .list_clients()
        .await
        .map(|c| c.is_empty())
        .unwrap_or(false)
    {
        tracing::info!("no clients yet: register one with `portcullis client create --name my-app --redirect-uri https://my-app.example/callback`");
    }
    if store
        .list_users()
        .await
        .map(|u| u.is_empty())
        .unwrap_or(false)
    {
        tracing::info!(
            "no users yet: add one with `portcullis user create --username alice --password-stdin`"
        );
    }
    tokio::spawn(purge_periodically(store.clone()));
    crate::listener::serve(listener, app, limits, shutdown_signal()).await;
    tracing::info!("Portcullis stopped");
    Ok(())
}

/// Deletes expired codes, sessions and tokens every ten minutes. Every instance does
/// it; the deletes are idempotent.
async fn purge_periodically(store: SqlStore) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        interval.tick().await;
        match store.purge_expired(SystemClock.now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired rows purged"),
            Err(error) => tracing::warn!(%error, "purging expired rows failed"),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
