//! `GET, POST /login`: the sign-in page.
//!
//! It continues a pending authorization request (`?request_id=`, then on to the
//! consent page) or returns to a local path (`?return_to=`, `/` by default). It
//! creates no session until the password checks out: the form's CSRF token lives in a
//! cookie of its own. Every attempt is counted by the throttle before the password is
//! checked, and a new session starts on every sign-in.

use axum::extract::State;
use axum::response::Response;
use http::header::{self, HeaderValue};
use http::StatusCode;
use portcullis_axum::OAuth;
use portcullis_sql::SqlError;

use crate::pages::extract::{form, query, BrowserBinding, CurrentSession};
use crate::pages::{
    encode, forged, peer_ip, redirect, render, request_gone, server_error, with_request_id,
    REQUEST_ID,
};
use crate::session::set_cookie;
use crate::state::AppState;
use crate::templates::{ClientLine, LoginPage};
use crate::throttle::{Admission, AttemptKeys};

/// Where a sign-in goes on to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    /// The consent step of a pending authorization request.
    Request(String),
    /// A local path.
    Path(String),
}

impl Next {
    /// The destination `query` names, on a server under `base` (the issuer's path).
    fn of(query: &portcullis_core::Params, base: &str) -> Self {
        match query.get(REQUEST_ID) {
            Some(id) => Next::Request(id.to_owned()),
            None => Next::Path(safe_return_to(query.get("return_to"), base)),
        }
    }

    /// The form's action: back to this page with the same destination.
    fn action(&self, base: &str) -> String {
        match self {
            Next::Request(id) => with_request_id(&format!("{base}/login"), id),
            Next::Path(path) => format!("{base}/login?return_to={}", encode(path)),
        }
    }

    /// Where the browser goes once signed in.
    fn location(&self, base: &str) -> String {
        match self {
            Next::Request(id) => with_request_id(&format!("{base}/consent"), id),
            Next::Path(path) => path.clone(),
        }
    }
}

/// A local path under `base` (the issuer's path, `""` for none) to return to after
/// sign-in; anything else becomes the home page (`base`, or `/`).
fn safe_return_to(value: Option<&str>, base: &str) -> String {
    // A browser resolves dot segments (`/auth/../x` is `/x`), `%2e` too.
    let dotted = |path: &str| {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        path.split('/').any(|segment| {
            let segment = segment.to_ascii_lowercase().replace("%2e", ".");
            segment == "." || segment == ".."
        })
    };
    let under_base = |path: &str| {
        base.is_empty()
            || (!dotted(path)
                && path
                    .strip_prefix(base)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?'])))
    };
    match value {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(char::is_control)
                && under_base(path) =>
        {
            path.to_owned()
        }
        _ if base.is_empty() => "/".to_owned(),
        _ => base.to_owned(),
    }
}

/// The longest `login_hint` put in the username field.
const MAX_USERNAME_HINT: usize = 256;

/// `GET /login`: the sign-in form, its username filled in from the request's
/// `login_hint`.
pub async fn show(
    State(state): State<AppState>,
    BrowserBinding(binding): BrowserBinding,
    OAuth(request): OAuth,
) -> Response {
    let next = Next::of(&query(&request), state.base_path());
    // The client may suggest who signs in (OpenID Connect's `login_hint`).
    let mut hint = String::new();
    let mut client = None;
    if let Next::Request(id) = &next {
        match state
            .server()
            .find_pending_request(id, binding.as_deref().unwrap_or_default())
            .await
        {
            Ok(Some(pending)) => {
                if let Some(value) = pending.param("login_hint") {
                    hint = value.chars().take(MAX_USERNAME_HINT).collect();
                }
                client = match client_line(&state, &pending).await {
                    Ok(line) => line,
                    Err(error) => return server_error(&state, error),
                };
            }
            Ok(None) => return request_gone(&state),
            Err(error) => return server_error(&state, error),
        }
    }
    let (csrf_token, cookie) = state.sessions().login_csrf(request.headers());
    let mut response = page(
        &state,
        StatusCode::OK,
        &csrf_token,
        &next,
        None,
        &hint,
        client,
    );
    if let Some(cookie) = cookie {
        set_cookie(response.headers_mut(), cookie);
    }
    response
}

/// The application pending request `pending` signs in to: its name, and the host of
/// the redirect URI it returns to (the request's, else the one registered).
pub(crate) async fn client_line(
    state: &AppState,
    pending: &portcullis_core::PendingAuthorization,
) -> Result<Option<ClientLine>, portcullis_core::StoreError> {
    use portcullis_core::{Client, ClientStore};
    let Some(client) = state.store().find_client(&pending.client_id).await? else {
        return Ok(None);
    };
    let redirect_uri = pending
        .param("redirect_uri")
        .or_else(|| client.default_redirect_uri());
    // A client known by its metadata document is named by its URL's host: its
    // `client_name` is only what the document says of itself.
    let name = crate::client_id_metadata::document_host(&client)
        .unwrap_or_else(|| client.client_name().to_owned());
    Ok(Some(ClientLine::new(&name, redirect_uri)))
}

/// The application the pending request behind `next` signs in to, for a sign-in page
/// shown again (a wrong password); `None` when there is none or it cannot be read.
async fn requesting_client(state: &AppState, next: &Next, binding: &str) -> Option<ClientLine> {
    let Next::Request(id) = next else {
        return None;
    };
    let pending = state
        .server()
        .find_pending_request(id, binding)
        .await
        .ok()
        .flatten()?;
    client_line(state, &pending).await.ok().flatten()
}

fn page(
    state: &AppState,
    status: StatusCode,
    csrf_token: &str,
    next: &Next,
    error: Option<&str>,
    username: &str,
    client: Option<ClientLine>,
) -> Response {
    let page = LoginPage {
        action: next.action(state.base_path()),
        csrf_token: csrf_token.to_owned(),
        error: error.map(str::to_owned),
        username: username.to_owned(),
        cancel: match next {
            Next::Request(id) => Some(with_request_id(&state.path("/cancel"), id)),
            Next::Path(_) => None,
        },
        client,
    };
    render(state, status, &page)
}

/// `response` with `Retry-After: wait`.
fn retry_after(mut response: Response, wait: i64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `POST /login`: checks the credentials, with throttling, and starts a new session.
pub async fn submit(
    State(state): State<AppState>,
    session: CurrentSession,
    BrowserBinding(binding): BrowserBinding,
    OAuth(request): OAuth,
) -> Response {
    let next = Next::of(&query(&request), state.base_path());
    let binding = binding.unwrap_or_default();
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
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            csrf_token,
            &next,
            Some("Enter your username and password."),
            form.get("username").unwrap_or(""),
            requesting_client(&state, &next, &binding).await,
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
            let message =
                format!("Too many failed sign-in attempts. Wait {wait} seconds and try again.");
            let client = requesting_client(&state, &next, &binding).await;
            return retry_after(
                page(
                    &state,
                    StatusCode::TOO_MANY_REQUESTS,
                    csrf_token,
                    &next,
                    Some(&message),
                    username,
                    client,
                ),
                wait,
            );
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
            let client = requesting_client(&state, &next, &binding).await;
            return retry_after(
                page(
                    &state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    csrf_token,
                    &next,
                    Some("The server is busy. Try again in a moment."),
                    username,
                    client,
                ),
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
        return page(
            &state,
            StatusCode::UNAUTHORIZED,
            csrf_token,
            &next,
            Some("The username or password is incorrect."),
            username,
            requesting_client(&state, &next, &binding).await,
        );
    };
    if let Err(error) = attempt.succeeded().await {
        return server_error(&state, error);
    }
    // A new session on every sign-in: an id planted earlier is worthless. The same
    // user signing in again keeps the session's `sid` (the applications it signed
    // into stay signed in); another user's session ends, and its applications hear so
    // (Back-Channel Logout).
    let mut sid = None;
    if let CurrentSession(Some(previous)) = &session {
        let same_user = previous.record.subject.as_deref() == Some(user.subject.as_str());
        let ended = if same_user {
            sid = previous.record.sid.clone();
            state.sessions().end(previous).await
        } else {
            crate::backchannel::end_session(&state, previous).await
        };
        if let Err(error) = ended {
            return server_error(&state, error);
        }
    }
    let cookie = match state
        .sessions()
        .start(user.subject.clone(), now, sid.clone())
        .await
    {
        Ok((started, cookie)) => {
            // The applications signed into stay recorded for as long as the session
            // now lasts.
            if let Some(sid) = &sid {
                if let Err(error) = state
                    .store()
                    .extend_session_clients(sid, started.record.expires_at)
                    .await
                {
                    return server_error(&state, error);
                }
            }
            cookie
        }
        Err(error) => return server_error(&state, error),
    };
    tracing::info!(subject = %user.subject, "signed in");
    let mut response = redirect(&next.location(state.base_path()));
    set_cookie(response.headers_mut(), cookie);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_site() {
        assert_eq!(safe_return_to(Some("/authorize?a=1"), ""), "/authorize?a=1");
        assert_eq!(safe_return_to(Some("//evil.example/x"), ""), "/");
        assert_eq!(safe_return_to(Some("/\\evil.example"), ""), "/");
        assert_eq!(safe_return_to(Some("https://evil.example"), ""), "/");
        assert_eq!(safe_return_to(None, ""), "/");
    }

    #[test]
    fn return_to_stays_under_the_issuer_path() {
        assert_eq!(safe_return_to(Some("/auth/x?a=1"), "/auth"), "/auth/x?a=1");
        assert_eq!(safe_return_to(Some("/auth"), "/auth"), "/auth");
        assert_eq!(safe_return_to(Some("/auth?a"), "/auth"), "/auth?a");
        assert_eq!(safe_return_to(Some("/authx"), "/auth"), "/auth");
        assert_eq!(safe_return_to(Some("/other"), "/auth"), "/auth");
        assert_eq!(
            safe_return_to(Some("//evil.example/auth"), "/auth"),
            "/auth"
        );
        assert_eq!(safe_return_to(None, "/auth"), "/auth");
        assert_eq!(safe_return_to(Some("/auth/../x"), "/auth"), "/auth");
        assert_eq!(safe_return_to(Some("/auth/%2E%2e/x"), "/auth"), "/auth");
        assert_eq!(
            safe_return_to(Some("/auth/x?to=../y"), "/auth"),
            "/auth/x?to=../y"
        );
        let query = portcullis_core::Params::parse(b"request_id=abc").unwrap();
        let next = Next::of(&query, "/auth");
        assert_eq!(next.action("/auth"), "/auth/login?request_id=abc");
        assert_eq!(next.location("/auth"), "/auth/consent?request_id=abc");
    }

    #[test]
    fn a_request_id_goes_on_to_consent() {
        let query = portcullis_core::Params::parse(b"request_id=abc%2Fd&return_to=%2Fx").unwrap();
        let next = Next::of(&query, "");
        assert_eq!(next.action(""), "/login?request_id=abc%2Fd");
        assert_eq!(next.location(""), "/consent?request_id=abc%2Fd");
    }
}
