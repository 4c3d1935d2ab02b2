//! The registration endpoint (RFC 7591) at `/register`, and each registered client's
//! configuration endpoint (RFC 7592) at `/register/{client_id}`, when the setting
//! `registration` is not `disabled`.
//!
//! - `POST /register` with a JSON client metadata document registers a client: with
//!   an initial access token (`Authorization: Bearer`, made by `portcullis
//!   registration-token create`) when `registration = "initial_access_token"`, by
//!   anyone when it is `open` — then at most `registration_rate_limit` clients per
//!   address and hour, per instance. The answer is `201` with the metadata as
//!   registered, the `client_id`, a `client_secret` for a confidential client (shown
//!   once: only its hash is kept), and the `registration_access_token` (also kept as
//!   a hash) with the `registration_client_uri`.
//! - `GET`, `PUT` and `DELETE` at the `registration_client_uri` with that token read,
//!   replace (the token is then rotated: the answer carries the new one) and delete
//!   the registration. A wrong token, or a client that is not there, is `401
//!   invalid_token` either way, so nobody learns which client_ids exist.
//!
//! Refused metadata is `400` with `invalid_redirect_uri` or `invalid_client_metadata`
//! ([`crate::registration`]); nothing is written then. Registrations that never
//! obtain a token, or stop using it, are removed after
//! `registration_unclaimed_lifetime` / `registration_unused_lifetime`
//! ([`remove_stale_registrations`]).

// The helpers' errors are the HTTP answers themselves, returned at once on a path
// that is not hot: their size does not matter.
#![allow(clippy::result_large_err)]

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::header::{self, HeaderValue};
use http::{HeaderMap, StatusCode};
use portcullis_core::random::random_token;
use portcullis_core::secret::constant_time_eq;
use portcullis_core::{hash_secret, AuthMethod, ClientRecord};
use portcullis_sql::SqlStore;
use serde_json::{json, Value};

use crate::clients;
use crate::config::RegistrationConfig;
use crate::registration::{self, Policy, Refusal, MAX_METADATA_BYTES, REGISTRATION_PATH};
use crate::state::AppState;

/// The registration routes, when registration is enabled.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            REGISTRATION_PATH,
            post(register).layer(axum::middleware::from_fn_with_state(
                "POST",
                crate::routes::cors::cors,
            )),
        )
        .route(
            "/register/{client_id}",
            get(read)
                .put(update)
                .delete(delete)
                .layer(axum::middleware::from_fn_with_state(
                    "GET, PUT, DELETE",
                    crate::routes::cors::cors,
                )),
        )
}

/// A JSON answer that is never cached (RFC 7591 §3.2.1: it carries secrets).
fn answer(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn refused(refusal: &Refusal) -> Response {
    answer(StatusCode::BAD_REQUEST, &refusal.body())
}

fn invalid_request(description: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        &json!({"error": "invalid_request", "error_description": description}),
    )
}

/// `401` with an RFC 6750 challenge: the bearer token is missing or not valid here.
fn invalid_token(description: &str) -> Response {
    let mut response = answer(
        StatusCode::UNAUTHORIZED,
        &json!({"error": "invalid_token", "error_description": description}),
    );
    let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn server_error(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "registration failed");
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({"error": "server_error", "error_description": "the registration could not be stored; try again"}),
    )
}

/// The bearer token of `headers`: `Ok(None)` without an `Authorization` header,
/// `Err` for one of another scheme or malformed.
fn bearer(headers: &HeaderMap) -> Result<Option<String>, Response> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| invalid_token("the Authorization header is not valid"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(invalid_token(
            "send the token as Authorization: Bearer TOKEN",
        )),
    }
}

/// The metadata document of a request: a JSON object, sent as `application/json`.
fn document(headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(invalid_request(
            "send the client metadata as a JSON object with Content-Type: application/json",
        ));
    }
    if body.len() > MAX_METADATA_BYTES {
        return Err(refused(&Refusal::metadata(format!(
            "the client metadata is over {MAX_METADATA_BYTES} bytes"
        ))));
    }
    serde_json::from_slice(body).map_err(|e| {
        refused(&Refusal::metadata(format!(
            "the client metadata is not valid JSON: {e}"
        )))
    })
}

fn policy(state: &AppState) -> Policy {
    Policy {
        scopes: state.config().registration_scopes(),
        signing_algorithms: state.config().keys.signing_algorithms.clone(),
        auth_methods: state
            .server()
            .client_auth_methods(portcullis_core::EndpointName::TOKEN)
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

/// Checks `document` into a client record: the metadata rules, then the URLs the
/// server fetches (`sector_identifier_uri`) through the fetch guard.
async fn checked_client(state: &AppState, document: &Value) -> Result<ClientRecord, Response> {
    let client = registration::client_from_metadata(document, &policy(state))
        .map_err(|refusal| refused(&refusal))?;
    clients::check_remote_urls(&client, &state.config().fetch_policy())
        .await
        .map_err(|e| refused(&Refusal::metadata(e.to_string())))?;
    Ok(client)
}

fn client_uri(state: &AppState, client_id: &str) -> String {
    format!(
        "{}{REGISTRATION_PATH}/{client_id}",
        state.config().issuer().trim_end_matches('/')
    )
}

/// `POST /register` (RFC 7591 §3.1).
async fn register(State(state): State<AppState>, request: Request) -> Response {
    let settings: &RegistrationConfig = &state.config().dynamic_registration;
    let ip = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_METADATA_BYTES + 1).await {
        Ok(body) => body,
        Err(_) => {
            return refused(&Refusal::metadata(format!(
                "the client metadata is over {MAX_METADATA_BYTES} bytes"
            )))
        }
    };
    let now = state.now();
    let token = match bearer(&parts.headers) {
        Ok(token) => token,
        Err(response) => return response,
    };
    let initial_token_hash = match (settings.mode.as_str(), token) {
        (_, Some(token)) => {
            let hash = hash_secret(&token);
            match state.store().use_registration_token(&hash, now).await {
                Ok(true) => Some(hash),
                Ok(false) => {
                    tracing::info!(
                        "registration refused: unknown, expired or used-up initial access token"
                    );
                    return invalid_token(
                        "the initial access token is not valid (unknown, expired or used up)",
                    );
                }
                Err(error) => return server_error(&error),
            }
        }
        ("open", None) => None,
        (_, None) => return invalid_token(
            "registering a client needs an initial access token: send Authorization: Bearer TOKEN",
        ),
    };
    let give_back = |hash: Option<String>| {
        let store = state.store().clone();
        async move {
            if let Some(hash) = hash {
                if let Err(error) = store.unuse_registration_token(&hash).await {
                    tracing::warn!(%error, "could not give back an initial access token's use");
                }
            }
        }
    };
    let document = match document(&parts.headers, &body) {
        Ok(document) => document,
        Err(response) => {
            give_back(initial_token_hash).await;
            return response;
        }
    };
    if initial_token_hash.is_none() {
        if let Err(wait) =
            state
                .registration_limiter()
                .count(ip, now, settings.registration_rate_limit)
        {
            tracing::warn!(%ip, "registration refused: rate limit reached");
            let mut response = answer(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"error": "temporarily_unavailable",
                    "error_description": "too many clients were registered from this address; try again later"}),
            );
            if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
    }
    let mut client = match checked_client(&state, &document).await {
        Ok(client) => client,
        Err(response) => {
            give_back(initial_token_hash).await;
            return response;
        }
    };
    client.client_id = clients::new_client_id(state.random());
    let secret = registration::uses_secret(&client.token_endpoint_auth_method)
        .then(|| clients::new_client_secret(state.random()));
    client.client_secret_hash = secret.as_deref().map(hash_secret);
    if let Some(secret) = &secret {
        if let Err(response) = seal_if_needed(&state, &mut client, secret) {
            give_back(initial_token_hash).await;
            return response;
        }
    }
    let registration_token = random_token(state.random());
    if let Err(error) = state
        .store()
        .insert_registered_client(&client, &hash_secret(&registration_token), now)
        .await
    {
        give_back(initial_token_hash).await;
        return server_error(&error);
    }
    tracing::info!(
        client_id = %client.client_id,
        auth_method = %client.token_endpoint_auth_method,
        with_initial_token = initial_token_hash.is_some(),
        "client registered dynamically"
    );
    let body = registration::registration_response(
        &client,
        now,
        secret.as_deref(),
        &registration_token,
        &client_uri(&state, &client.client_id),
    );
    let mut response = answer(StatusCode::CREATED, &body);
    if let Ok(location) = HeaderValue::from_str(&client_uri(&state, &client.client_id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Seals `secret` into `client`'s metadata when it authenticates with
/// `client_secret_jwt` (the server needs the secret itself to check the MAC); refused
/// when no key-encryption key is configured.
fn seal_if_needed(
    state: &AppState,
    client: &mut ClientRecord,
    secret: &str,
) -> Result<(), Response> {
    if client.token_endpoint_auth_method != AuthMethod::CLIENT_SECRET_JWT {
        return Ok(());
    }
    let kek = match crate::keys::Kek::from_config(&state.config().keys) {
        Ok(Some(kek)) => kek,
        Ok(None) => {
            return Err(refused(&Refusal::metadata(
                "token_endpoint_auth_method client_secret_jwt is not available: this server \
                 keeps no key-encryption key to hold such secrets; use private_key_jwt, \
                 client_secret_basic or client_secret_post",
            )))
        }
        Err(error) => return Err(server_error(&error)),
    };
    let sealed = crate::client_assertions::seal_client_secret(
        &kek,
        state.random(),
        &client.client_id,
        secret,
    )
    .map_err(|e| server_error(&e))?;
    client
        .metadata
        .extras
        .insert_raw(portcullis_core::SEALED_CLIENT_SECRET, sealed.into());
    Ok(())
}

/// The client `client_id` when `headers` carry its registration access token.
async fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    client_id: &str,
) -> Result<ClientRecord, Response> {
    let denied = || invalid_token("the registration access token is not valid for this client");
    let token = bearer(headers)?.ok_or_else(|| {
        invalid_token("send the registration access token as Authorization: Bearer TOKEN")
    })?;
    let stored = state
        .store()
        .registration_token_hash(client_id)
        .await
        .map_err(|e| server_error(&e))?;
    let Some(stored) = stored else {
        return Err(denied());
    };
    if !constant_time_eq(hash_secret(&token).as_bytes(), stored.as_bytes()) {
        tracing::info!(%client_id, "registration management refused: wrong registration access token");
        return Err(denied());
    }
    state
        .store()
        .get_client(client_id)
        .await
        .map_err(|e| server_error(&e))?
        .ok_or_else(denied)
}

/// `GET /register/{client_id}` (RFC 7592 §2.1): the registration as it stands. The
/// secret is not in it: only its hash is kept.
async fn read(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let client = match authorized(&state, &headers, &client_id).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let mut body = client.registration_metadata();
    body.insert("client_id".into(), client.client_id.clone().into());
    body.insert(
        "registration_client_uri".into(),
        client_uri(&state, &client.client_id).into(),
    );
    answer(StatusCode::OK, &Value::Object(body))
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): replaces the registration with the
/// document sent (which must name the same `client_id`, and may carry the current
/// `client_secret`, which must then be right), and rotates the registration access
/// token. A client that becomes confidential gets a secret; one that becomes public
/// loses its own.
async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let old = match authorized(&state, &headers, &client_id).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let document = match document(&headers, &body) {
        Ok(document) => document,
        Err(response) => return response,
    };
    match document.get("client_id") {
        Some(Value::String(id)) if *id == client_id => {}
        _ => {
            return invalid_request(
                "the document must name this client's client_id (RFC 7592 §2.2)",
            )
        }
    }
    if let Some(sent) = document.get("client_secret") {
        let right = sent
            .as_str()
            .is_some_and(|secret| portcullis_core::Client::check_client_secret(&old, secret));
        if !right {
            return invalid_request("the client_secret sent is not this client's secret");
        }
    }
    let mut client = match checked_client(&state, &document).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    client.client_id = client_id.clone();
    let mut new_secret = None;
    if registration::uses_secret(&client.token_endpoint_auth_method) {
        client.client_secret_hash = old.client_secret_hash.clone();
        let jwt = client.token_endpoint_auth_method == AuthMethod::CLIENT_SECRET_JWT;
        let sealed = old
            .metadata
            .extras
            .get_raw(portcullis_core::SEALED_CLIENT_SECRET)
            .cloned();
        match (jwt, sealed) {
            // client_secret_jwt keeps the sealed secret it has.
            (true, Some(sealed)) => client
                .metadata
                .extras
                .insert_raw(portcullis_core::SEALED_CLIENT_SECRET, sealed),
            // A client becoming client_secret_jwt needs a secret the server can read
            // back, which a hash is not: it gets a new one.
            (true, None) => client.client_secret_hash = None,
            (false, _) => {}
        }
        if client.client_secret_hash.is_none() {
            let secret = clients::new_client_secret(state.random());
            client.client_secret_hash = Some(hash_secret(&secret));
            if let Err(response) = seal_if_needed(&state, &mut client, &secret) {
                return response;
            }
            new_secret = Some(secret);
        }
    }
    let registration_token = random_token(state.random());
    match state
        .store()
        .update_registered_client(&client, &hash_secret(&registration_token))
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return invalid_token("the registration access token is not valid for this client")
        }
        Err(error) => return server_error(&error),
    }
    tracing::info!(%client_id, "dynamically registered client updated");
    let mut body = registration::registration_response(
        &client,
        state.now(),
        new_secret.as_deref(),
        &registration_token,
        &client_uri(&state, &client_id),
    );
    // When it was issued is not known again here: leave the member out.
    if let Value::Object(map) = &mut body {
        map.remove("client_id_issued_at");
    }
    answer(StatusCode::OK, &body)
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3): deletes the client with its
/// tokens, codes and consents; `204`.
async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorized(&state, &headers, &client_id).await {
        return response;
    }
    match state.store().delete_client(&client_id).await {
        Ok(_) => {
            tracing::info!(%client_id, "dynamically registered client deleted by itself");
            let mut response = StatusCode::NO_CONTENT.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => server_error(&error),
    }
}

/// How many stale registrations one sweep removes at most.
const SWEEP_BATCH: i64 = 500;

/// Removes the dynamically registered clients that never obtained a token within
/// `registration_unclaimed_lifetime` of registering, or obtained none for
/// `registration_unused_lifetime`, with their tokens, codes and consents, in batches
/// of one client per transaction; how many were removed.
pub async fn remove_stale_registrations(
    store: &SqlStore,
    settings: &RegistrationConfig,
    now: i64,
) -> Result<u64, portcullis_sql::SqlError> {
    let mut removed = 0;
    loop {
        let stale = store
            .stale_registrations(
                now,
                settings.registration_unclaimed_lifetime,
                settings.registration_unused_lifetime,
                SWEEP_BATCH,
            )
            .await?;
        for client_id in &stale {
            if store.delete_client(client_id).await? {
                tracing::info!(%client_id, "unused dynamically registered client removed");
                removed += 1;
            }
        }
        if (stale.len() as i64) < SWEEP_BATCH {
            return Ok(removed);
        }
    }
}
