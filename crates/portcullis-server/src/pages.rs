//! The interactive endpoints: authorization, sign-in, consent and sign-out pages.
//!
//! `/authorize` validates the request first (an unknown client or an unregistered
//! redirect URI gets an error page, never a redirect), then sends a visitor who is not
//! signed in to `/login` and back, then skips the consent page when the user already
//! granted this client every requested scope (unless `prompt=consent`), and otherwise
//! sends them to `/consent`. Each form posts back to its own URL with the session's
//! CSRF token.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::response::{Html, IntoResponse, Response};
use http::header::{self, HeaderValue};
use http::StatusCode;
use minijinja::context;
use portcullis_axum::{into_response, OAuth};
use portcullis_core::{Client, OAuthError, OAuthRequest, OAuthResponse, Params, User};
use portcullis_sql::SqlError;

use crate::app::AppState;
use crate::session::{set_cookie, Session};
use crate::throttle::{Admission, AttemptKeys};

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

fn render(
    state: &AppState,
    status: StatusCode,
    template: &str,
    context: minijinja::Value,
) -> Response {
    match state.templates().render(template, context) {
        Ok(body) => html(status, body),
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
    render(
        state,
        status,
        "error.html",
        context! { title => title, message => message, code => code },
    )
}

fn server_error(state: &AppState, error: impl std::fmt::Display) -> Response {
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
fn authorization_error(state: &AppState, error: OAuthError) -> Response {
    if error.is_redirect() {
        return into_response(error.into_response());
    }
    error_page(
        state,
        error.status(),
        "This sign-in request cannot be completed",
        error.description(),
        Some(error.code().as_str()),
    )
}

fn finish(state: &AppState, result: Result<OAuthResponse, OAuthError>) -> Response {
    match result {
        Ok(response) => into_response(response),
        Err(error) => authorization_error(state, error),
    }
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The request's OAuth parameters (query, plus form on POST) as one query string.
fn canonical_query(request: &OAuthRequest) -> String {
    let params = Params::from_query_and_form(request).unwrap_or_default();
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params.iter() {
        out.append_pair(name, value);
    }
    out.finish()
}

/// A local path to return to after sign-in; anything else becomes `/`.
fn safe_return_to(value: Option<&str>) -> String {
    match value {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn path_and_query(request: &OAuthRequest) -> String {
    request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned())
}

fn login_redirect(return_to: &str) -> Response {
    redirect(&format!("/login?return_to={}", encode(return_to)))
}

fn form(request: &OAuthRequest) -> Params {
    Params::parse(request.body()).unwrap_or_default()
}

async fn load_session(
    state: &AppState,
    request: &OAuthRequest,
) -> Result<Option<Session>, Response> {
    state
        .sessions()
        .load(request.headers(), state.now())
        .await
        .map_err(|e| server_error(state, e))
}

fn forged(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::FORBIDDEN,
        "This form could not be verified",
        "The form was not submitted from this site, or it has expired. Go back, reload the page and try again.",
        None,
    )
}

/// `GET, POST /authorize`: the authorization endpoint.
pub async fn authorize(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    let session = match load_session(&state, &request).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let user = session.as_ref().and_then(Session::user);
    let grant = match state
        .server()
        .get_consent_grant(&request, user.as_ref().map(|u| u as &dyn User))
        .await
    {
        Ok(grant) => grant,
        Err(error) => return authorization_error(&state, error),
    };
    let query = canonical_query(&request);
    let Some(user) = user else {
        return login_redirect(&format!("/authorize?{query}"));
    };
    let prompt_consent = grant
        .request
        .params()
        .get("prompt")
        .is_some_and(|p| p.split(' ').any(|v| v == "consent"));
    if !prompt_consent {
        match state
            .store()
            .get_consent(&user.subject, grant.client.client_id())
            .await
        {
            Ok(Some(remembered)) if grant.scope().is_subset_of(&remembered) => {
                tracing::debug!(client_id = %grant.client.client_id(), "consent remembered");
                let result = state
                    .server()
                    .create_authorization_response(&request, Some(&user))
                    .await;
                return finish(&state, result);
            }
            Ok(_) => {}
            Err(error) => return server_error(&state, error),
        }
    }
    redirect(&format!("/consent?{query}"))
}

fn scope_description(state: &AppState, scope: &str) -> String {
    if let Some(text) = state.config().scope_descriptions.get(scope) {
        return text.clone();
    }
    match scope {
        "openid" => "Confirm who you are",
        "profile" => "See your name and profile",
        "email" => "See your email address",
        "address" => "See your postal address",
        "phone" => "See your phone number",
        "offline_access" => "Keep access while you are not using it",
        other => return format!("Use the \u{201c}{other}\u{201d} permission"),
    }
    .to_owned()
}

/// `GET /consent`: shows what the client asks for.
pub async fn consent(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    let session = match load_session(&state, &request).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let Some((session, user)) = session.and_then(|s| s.user().map(|u| (s, u))) else {
        return login_redirect(&path_and_query(&request));
    };
    let grant = match state
        .server()
        .get_consent_grant(&request, Some(&user))
        .await
    {
        Ok(grant) => grant,
        Err(error) => return authorization_error(&state, error),
    };
    let username = match state.store().find_user_by_subject(&user.subject).await {
        Ok(Some(record)) => record.username,
        Ok(None) => user.subject.clone(),
        Err(error) => return server_error(&state, error),
    };
    let scopes: Vec<minijinja::Value> = grant
        .scope()
        .iter()
        .map(|s| context! { name => s, description => scope_description(&state, s) })
        .collect();
    render(
        &state,
        StatusCode::OK,
        "consent.html",
        context! {
            action => path_and_query(&request),
            csrf_token => session.record.csrf_token,
            client_name => grant.client.client_name(),
            username => username,
            scopes => scopes,
        },
    )
}

/// `POST /consent`: the user allows or denies.
pub async fn consent_submit(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    let session = match load_session(&state, &request).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let form = form(&request);
    let Some((session, user)) = session.and_then(|s| s.user().map(|u| (s, u))) else {
        return forged(&state);
    };
    if !session.check_csrf(form.get("csrf_token")) {
        tracing::warn!("consent form with a missing or wrong CSRF token");
        return forged(&state);
    }
    match form.get("decision") {
        Some("allow") => {
            let grant = match state
                .server()
                .get_consent_grant(&request, Some(&user))
                .await
            {
                Ok(grant) => grant,
                Err(error) => return authorization_error(&state, error),
            };
            let result = state
                .server()
                .create_authorization_response(&request, Some(&user))
                .await;
            if result.is_ok() {
                if let Err(error) = state
                    .store()
                    .save_consent(
                        &user.subject,
                        grant.client.client_id(),
                        grant.scope(),
                        state.now(),
                    )
                    .await
                {
                    return server_error(&state, error);
                }
            }
            finish(&state, result)
        }
        Some("deny") => {
            let result = state
                .server()
                .create_authorization_response(&request, None)
                .await;
            finish(&state, result)
        }
        _ => error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "No decision",
            "Choose Allow or Deny.",
            Some("invalid_request"),
        ),
    }
}

/// `GET /login`: the sign-in form. It creates no session: the form's CSRF token
/// lives in a cookie of its own until the visitor signs in.
pub async fn login(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    let query = Params::from_query(&request).unwrap_or_default();
    let return_to = safe_return_to(query.get("return_to"));
    let (csrf_token, cookie) = state.sessions().login_csrf(request.headers());
    let mut response = login_page(&state, StatusCode::OK, &csrf_token, &return_to, None, "");
    if let Some(cookie) = cookie {
        set_cookie(response.headers_mut(), cookie);
    }
    response
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    csrf_token: &str,
    return_to: &str,
    error: Option<&str>,
    username: &str,
) -> Response {
    render(
        state,
        status,
        "login.html",
        context! {
            action => format!("/login?return_to={}", encode(return_to)),
            csrf_token => csrf_token,
            error => error,
            username => username,
        },
    )
}

/// The sign-in page with `message`, `status` and `Retry-After: wait`.
fn try_again_later(
    state: &AppState,
    status: StatusCode,
    message: &str,
    csrf_token: &str,
    return_to: &str,
    username: &str,
    wait: i64,
) -> Response {
    let mut response = login_page(
        state,
        status,
        csrf_token,
        return_to,
        Some(message),
        username,
    );
    if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The sign-in page saying to wait `wait` seconds, with `Retry-After`.
fn throttled(
    state: &AppState,
    csrf_token: &str,
    return_to: &str,
    username: &str,
    wait: i64,
) -> Response {
    let message = format!("Too many failed sign-in attempts. Wait {wait} seconds and try again.");
    try_again_later(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        &message,
        csrf_token,
        return_to,
        username,
        wait,
    )
}

/// The client's address, for throttling and the password hashing queue.
fn peer_ip(request: &OAuthRequest) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// `POST /login`: checks the credentials, with throttling, and starts a new session.
pub async fn login_submit(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    let query = Params::from_query(&request).unwrap_or_default();
    let return_to = safe_return_to(query.get("return_to"));
    let form = form(&request);
    if !state
        .sessions()
        .check_login_csrf(request.headers(), form.get("csrf_token"))
    {
        tracing::warn!("sign-in form with a missing or wrong CSRF token");
        return forged(&state);
    }
    let csrf_token = form.get("csrf_token").unwrap_or_default();
    let (Some(username), Some(password)) = (form.get("username"), form.get("password")) else {
        return login_page(
            &state,
            StatusCode::BAD_REQUEST,
            csrf_token,
            &return_to,
            Some("Enter your username and password."),
            form.get("username").unwrap_or(""),
        );
    };
    let ip = peer_ip(&request);
    let keys = AttemptKeys::new(username, ip);
    let now = state.now();
    // Counted before the password is checked, so parallel guesses cannot all slip
    // under the limits.
    let attempt = match state.throttle().begin(&keys, now).await {
        Ok(Admission::Allowed(attempt)) => attempt,
        Ok(Admission::Refused { wait }) => {
            tracing::warn!(%ip, wait, "sign-in throttled");
            return throttled(&state, csrf_token, &return_to, username, wait);
        }
        Err(error) => return server_error(&state, error),
    };
    let user = match state
        .store()
        .verify_user_password_from(username, password, keys.address())
        .await
    {
        Ok(user) => user,
        Err(SqlError::Busy(reason)) => {
            tracing::warn!(%ip, %reason, "sign-in refused: password checks are queued up");
            return try_again_later(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy. Try again in a moment.",
                csrf_token,
                &return_to,
                username,
                1,
            );
        }
        Err(error) => return server_error(&state, error),
    };
    let Some(user) = user else {
        if let Err(error) = attempt.failed().await {
            return server_error(&state, error);
        }
        tracing::info!(%ip, "sign-in failed");
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            csrf_token,
            &return_to,
            Some("The username or password is incorrect."),
            username,
        );
    };
    if let Err(error) = attempt.succeeded().await {
        return server_error(&state, error);
    }
    // A new session on every sign-in: an id planted earlier is worthless.
    match load_session(&state, &request).await {
        Ok(Some(previous)) => {
            if let Err(error) = state.sessions().end(&previous).await {
                return server_error(&state, error);
            }
        }
        Ok(None) => {}
        Err(response) => return response,
    }
    let cookie = match state.sessions().start(user.subject.clone(), now).await {
        Ok((_, cookie)) => cookie,
        Err(error) => return server_error(&state, error),
    };
    tracing::info!(subject = %user.subject, "signed in");
    let mut response = redirect(&return_to);
    set_cookie(response.headers_mut(), cookie);
    response
}

/// `GET /logout`: asks to confirm.
pub async fn logout(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    let session = match load_session(&state, &request).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let Some(session) = session.filter(|s| s.user().is_some()) else {
        return render(&state, StatusCode::OK, "signed_out.html", context! {});
    };
    let username = match &session.record.subject {
        Some(subject) => match state.store().find_user_by_subject(subject).await {
            Ok(Some(user)) => user.username,
            _ => String::new(),
        },
        None => String::new(),
    };
    render(
        &state,
        StatusCode::OK,
        "logout.html",
        context! { action => "/logout", csrf_token => session.record.csrf_token, username => username },
    )
}

/// `POST /logout`: ends the session.
pub async fn logout_submit(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    let session = match load_session(&state, &request).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let form = form(&request);
    let Some(session) = session else {
        return render(&state, StatusCode::OK, "signed_out.html", context! {});
    };
    if !session.check_csrf(form.get("csrf_token")) {
        return forged(&state);
    }
    let cookie = match state.sessions().end(&session).await {
        Ok(cookie) => cookie,
        Err(error) => return server_error(&state, error),
    };
    let mut response = render(&state, StatusCode::OK, "signed_out.html", context! {});
    set_cookie(response.headers_mut(), cookie);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_site() {
        assert_eq!(safe_return_to(Some("/authorize?a=1")), "/authorize?a=1");
        assert_eq!(safe_return_to(Some("//evil.example/x")), "/");
        assert_eq!(safe_return_to(Some("/\\evil.example")), "/");
        assert_eq!(safe_return_to(Some("https://evil.example")), "/");
        assert_eq!(safe_return_to(None), "/");
    }
}
