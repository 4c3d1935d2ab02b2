//! The interactive endpoints, one file per page: the authorization endpoint
//! ([`authorize`]), sign-in ([`login`]), consent ([`consent`]) and sign-out
//! ([`logout`]), with the extractors they share ([`extract`]: the session, the
//! browser binding, a form checked against the session's CSRF token).
//!
//! `/authorize` validates the request once (an unknown client or an unregistered
//! redirect URI gets an error page, never a redirect) and asks the core what it needs
//! next. When that is a page, the request is stored server-side, bound to the browser,
//! and the sign-in and consent pages continue it by its id (`?request_id=`); the
//! consent decision takes it, once, and finishes it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{self, HeaderValue};
use http::StatusCode;
use portcullis_axum::into_response;
use portcullis_core::{OAuthError, OAuthRequest, OAuthResponse};

use crate::state::AppState;
use crate::templates::{ErrorPage, Page};

pub mod authorize;
pub mod consent;
pub mod extract;
pub mod home;
pub mod login;
pub mod logout;

/// The query parameter that names a pending authorization request.
pub const REQUEST_ID: &str = "request_id";

/// The pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home::show))
        .route(
            "/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route("/consent", get(consent::show).post(consent::decide))
        .route("/cancel", get(consent::cancel))
        .route("/login", get(login::show).post(login::submit))
        .route("/logout", get(logout::show).post(logout::submit))
}

/// Renders `page` with `status`; a template that fails is a plain 500.
pub(crate) fn render<P: Page>(state: &AppState, status: StatusCode, page: &P) -> Response {
    match state.templates().render_page(page) {
        Ok(body) => (status, Html(body)).into_response(),
        Err(error) => {
            tracing::error!(%error, "template rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: a page template failed to render",
            )
                .into_response()
        }
    }
}

/// Renders the error page.
pub fn error_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    code: Option<&str>,
) -> Response {
    let page = ErrorPage {
        title: title.to_owned(),
        message: message.to_owned(),
        detail: None,
        code: code.map(str::to_owned),
    };
    render(state, status, &page)
}

/// A failure of ours (the database, say): logged, and a page that says so.
pub(crate) fn server_error(state: &AppState, error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "request failed");
    error_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not complete this request. Please try again in a moment.",
        Some("server_error"),
    )
}

/// An authorization error: back to the client when its redirect URI is verified,
/// otherwise an error page for the user.
pub(crate) fn authorization_error(state: &AppState, error: OAuthError) -> Response {
    if error.is_redirect() {
        return into_response(error.into_response());
    }
    let page = ErrorPage {
        title: "This sign-in request cannot be completed".to_owned(),
        message: "The application that sent you here made a request this server cannot \
                  accept, so you cannot sign in to it from here. Go back to the application \
                  and try again; if it happens again, its developers can read the details \
                  below."
            .to_owned(),
        detail: Some(error.description().to_owned()),
        code: Some(error.code().as_str().to_owned()),
    };
    let mut page = render(state, error.status(), &page);
    // For the access log, as the core's own error responses carry it.
    page.extensions_mut().insert(error.code());
    page
}

/// The core's answer to an authorization request: a redirect to the client, or an
/// error (see [`authorization_error`]).
pub(crate) fn finish(state: &AppState, result: Result<OAuthResponse, OAuthError>) -> Response {
    match result {
        Ok(response) => into_response(response),
        Err(error) => authorization_error(state, error),
    }
}

/// A pending request that cannot be continued: unknown, expired, already answered,
/// or started in another browser. The user starts again from the application.
pub(crate) fn request_gone(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "This sign-in request has expired",
        "It was already answered, it timed out, or it was started in another browser. Go back to the application and sign in again.",
        Some("invalid_request"),
    )
}

/// A form that was not ours, or not this session's.
pub(crate) fn forged(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::FORBIDDEN,
        "This form could not be verified",
        "The form was not submitted from this site, or it has expired. Go back, reload the page and try again.",
        None,
    )
}

/// `303 See Other` to a local `location`.
pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `value` form-urlencoded.
pub(crate) fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `path?request_id=ID`.
pub(crate) fn with_request_id(path: &str, id: &str) -> String {
    format!("{path}?{REQUEST_ID}={}", encode(id))
}

/// The keys of the RFC 8707 `resource` values a request names (values that are not
/// resources are left out: the core refuses them).
pub(crate) fn resource_keys<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut keys: Vec<String> = values
        .into_iter()
        .filter_map(|value| portcullis_core::extensions::resource_key(value).ok())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// What `subject` consented to for `client_id`, if it covers `resources` (resource
/// keys) too: a remembered consent is for a scope and the resources consented with
/// it, so a request naming another resource is asked again.
pub(crate) async fn remembered_consent(
    state: &AppState,
    subject: &str,
    client_id: &str,
    resources: &[String],
) -> Result<Option<portcullis_core::Scope>, portcullis_sql::SqlError> {
    let Some(scope) = state.store().get_consent(subject, client_id).await? else {
        return Ok(None);
    };
    if resources.is_empty() {
        return Ok(Some(scope));
    }
    let consented = state
        .store()
        .consented_resources(subject, client_id)
        .await?;
    Ok(resources
        .iter()
        .all(|resource| consented.contains(resource))
        .then_some(scope))
}

/// The client's address, for throttling and the password hashing queue.
pub(crate) fn peer_ip(request: &OAuthRequest) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}
