//! The HTTP application: the router with its server-wide layers (security headers,
//! the body deadline, the access log), and `serve`. The state is in `crate::state`, the routes by area
//! in `crate::routes` and `crate::pages`.
//!
//! | route | what |
//! |---|---|
//! | `GET, POST /authorize` | the authorization endpoint (RFC 6749 §3.1) |
//! | `POST /token` | the token endpoint (RFC 6749 §3.2) |
//! | `POST /revoke` | token revocation (RFC 7009) |
//! | `POST /introspect` | token introspection (RFC 7662) |
//! | `GET /.well-known/oauth-authorization-server` | server metadata (RFC 8414) |
//! | `GET /jwks` | the JWK Set of the signing keys (RFC 7517) |
//! | `GET, POST /login` | the sign-in page |
//! | `GET, POST /consent` | the consent page |
//! | `GET, POST /logout` | sign out |
//! | `GET /healthz` | liveness and database check |
//! | `GET /version` | the name and version |
//! | `GET /static/portcullis.css` | the pages' stylesheet |
//! | `GET /static/logo` | the configured logo (setting `logo`), 404 without one |
//!
//! For an issuer with a path (`https://example.com/auth`) every route is under that
//! path (`/auth/token`, `/auth/healthz`, …) and the metadata is also at the
//! path-inserted `/.well-known/oauth-authorization-server/auth` and
//! `/.well-known/openid-configuration/auth`; see `crate::routes::router`.
//!
//! The endpoints browser-based clients call (token, revocation, both metadata
//! documents, JWKS, UserInfo) answer CORS preflights and allow every origin; the
//! authorization endpoint, the pages and the operations routes do not (see
//! `crate::routes::cors`).

use std::sync::Arc;

use axum::extract::State;
use axum::middleware;
use axum::response::Response;
use axum::Router;
use http::header::{self, HeaderValue};
use portcullis_core::subject::PairwiseSubjects;
use portcullis_core::{Clock, RandomSource};
use portcullis_sql::SqlStore;

use crate::config::Config;
use crate::listener::Limits;
pub use crate::state::{AppError, AppState};

/// Builds the router for `config` over `store`, with the system clock and the
/// operating system's random generator: the composition root of an embedded server.
/// The signing keys are loaded (created on the first start) before it returns.
pub async fn build_app(config: Config, store: SqlStore) -> Result<Router, AppError> {
    #[allow(clippy::disallowed_types)] // the composition root
    let random: Arc<dyn RandomSource> = Arc::new(portcullis_core::OsRandom::default());
    build_app_with(
        config,
        store,
        Arc::new(portcullis_core::SystemClock),
        random,
    )
    .await
}

/// Builds the router for `config` over `store`, reading time from `clock` and random
/// bytes from `random` (tests move the clock). The signing keys are loaded (created on
/// the first start) before it returns, so that JWT access tokens can be signed at once
/// and a missing or wrong key-encryption key is an error here; a task reloads them
/// every `signing_key_refresh` seconds from then on (it must be called inside a tokio
/// runtime).
pub async fn build_app_with(
    config: Config,
    store: SqlStore,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
) -> Result<Router, AppError> {
    Ok(app_for(started_state(config, store, clock, random).await?))
}

/// The state, with its signing keys loaded (and created on the first start) and a
/// task reloading them: a missing or wrong key-encryption key is an error here,
/// before anything is served; without one, a warning says how to set it.
async fn started_state(
    config: Config,
    store: SqlStore,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
) -> Result<AppState, AppError> {
    let salt = crate::keys::pairwise_salt(&store, &config.keys, &*random, clock.now()).await?;
    let pairwise = PairwiseSubjects::new(salt)
        .map_err(|e| crate::keys::KeyError::Config(format!("the pairwise subject salt: {e}")))?;
    let state = AppState::new(config, store, clock, random, Some(pairwise))?;
    let keys = state.keys();
    keys.sync().await?;
    if !keys.encrypts() {
        tracing::warn!(
            "signing keys are stored unencrypted: set PORTCULLIS_KEY_ENCRYPTION_KEY to 32 random \
             bytes in base64 (for example from `openssl rand -base64 32`), or \
             key_encryption_key_file; the keys are sealed with it at the next start"
        );
    }
    tokio::spawn(keys.clone().refresh_periodically());
    Ok(state)
}

/// The router over `state`, with the server-wide layers.
fn app_for(state: AppState) -> Router {
    let hsts = config_hsts(state.config());
    let server = state
        .config()
        .http
        .server_header
        .then(|| HeaderValue::from_static(crate::config::SERVER));
    let body_timeout = std::time::Duration::from_secs(state.config().http.http_body_timeout);
    crate::routes::router(&state)
        .layer(middleware::from_fn(crate::access_log::log_request))
        .layer(middleware::from_fn_with_state(
            body_timeout,
            crate::listener::read_body,
        ))
        .layer(middleware::map_response_with_state(
            (hsts, server),
            security_headers,
        ))
        .with_state(state)
}

/// The `Strict-Transport-Security` header value, when one is sent.
fn config_hsts(config: &Config) -> Option<HeaderValue> {
    config
        .hsts()
        .and_then(|value| HeaderValue::from_str(&value).ok())
}

/// The content security policy of every HTML page: nothing but our own stylesheet, and
/// no framing.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Adds the security headers to every response — `Strict-Transport-Security` too when
/// the issuer is https; HTML pages also get the CSP and are never cached (they carry
/// CSRF tokens).
async fn security_headers(
    State((hsts, server)): State<(Option<HeaderValue>, Option<HeaderValue>)>,
    mut response: Response,
) -> Response {
    let headers = response.headers_mut();
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    if let Some(server) = server {
        headers.insert(header::SERVER, server);
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
pub async fn serve(
    mut config: Config,
    store: SqlStore,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
) -> Result<(), Box<dyn std::error::Error>> {
    let addr = config.bind_addr()?;
    // Bound first: without a configured issuer, the issuer is the address it listens
    // on, the port the system chose for port 0 included.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (is another server using the port? change it with --bind)"))?;
    let local = listener.local_addr()?;
    if config.http.issuer.is_none() {
        let issuer = config.issuer_for(local)?;
        tracing::info!(
            %issuer,
            "no issuer is configured: using the loopback address the server listens on \
             (set --issuer or PORTCULLIS_ISSUER to the public URL when there is one)"
        );
        config.http.issuer = Some(issuer);
    }
    let issuer = config.issuer().to_owned();
    let limits = Limits::from_config(&config);
    let registration_settings = config.dynamic_registration.clone();
    let app = app_for(started_state(config, store.clone(), clock.clone(), random).await?);
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
    tokio::spawn(purge_periodically(
        store.clone(),
        clock,
        registration_settings,
    ));
    crate::listener::serve(listener, app, limits, shutdown_signal()).await;
    tracing::info!("Portcullis stopped");
    Ok(())
}

/// Deletes expired codes, sessions and tokens every ten minutes. Every instance does
/// it; the deletes are idempotent. Removes the dynamically registered clients left
/// unused too ([`remove_stale_registrations`](crate::routes::registration::remove_stale_registrations)).
async fn purge_periodically(
    store: SqlStore,
    clock: Arc<dyn Clock>,
    registration: crate::config::RegistrationConfig,
) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        interval.tick().await;
        match store.purge_expired(clock.now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired rows purged"),
            Err(error) => tracing::warn!(%error, "purging expired rows failed"),
        }
        match crate::routes::registration::remove_stale_registrations(
            &store,
            &registration,
            clock.now(),
        )
        .await
        {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "unused registered clients removed"),
            Err(error) => tracing::warn!(%error, "removing unused registered clients failed"),
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
