//! `GET, POST /authorize`: the authorization endpoint (RFC 6749 §3.1).
//!
//! The request is validated here, once. The core then says what it needs next: a
//! request that is ready (the user is signed in and consented to this scope before,
//! and `prompt=consent` was not asked) is answered at once; otherwise it is stored,
//! bound to this browser, and the visitor goes to the sign-in or consent page with
//! its id.

use axum::extract::State;
use axum::response::Response;
use portcullis_axum::OAuth;
use portcullis_core::{Client, NextStep, User};

use crate::pages::extract::CurrentSession;
use crate::pages::{authorization_error, finish, redirect, server_error, with_request_id};
use crate::session::set_cookie;
use crate::state::AppState;

/// `GET, POST /authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    session: CurrentSession,
    OAuth(request): OAuth,
) -> Response {
    let user = session.user();
    let grant = match state
        .server()
        .get_consent_grant(&request, user.as_ref().map(|u| u as &dyn User))
        .await
    {
        Ok(grant) => grant,
        Err(error) => return authorization_error(&state, error),
    };
    let remembered = match &user {
        Some(user) => match state
            .store()
            .get_consent(&user.subject, grant.client.client_id())
            .await
        {
            Ok(remembered) => remembered,
            Err(error) => return server_error(&state, error),
        },
        None => None,
    };
    let page = match grant.next_step(user.is_some(), remembered.as_ref()) {
        NextStep::Ready => {
            tracing::debug!(client_id = %grant.client.client_id(), "consent remembered");
            let result = state
                .server()
                .create_authorization_response(&request, user.as_ref().map(|u| u as &dyn User))
                .await;
            return finish(&state, result);
        }
        NextStep::SignIn => "/login",
        _ => "/consent",
    };
    let (binding, cookie) = state.sessions().browser_binding(request.headers());
    let id = match state.server().save_pending_request(&grant, &binding).await {
        Ok(id) => id,
        Err(error) => return authorization_error(&state, error),
    };
    let mut response = redirect(&with_request_id(page, &id));
    set_cookie(response.headers_mut(), cookie);
    response
}
