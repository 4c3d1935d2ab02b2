//! `GET, POST /authorize`: the authorization endpoint (RFC 6749 §3.1).
//!
//! The request is validated here, once. The core then says what it needs next: a
//! request that is ready (the user is signed in recently enough for `prompt` and
//! `max_age`, and consented to this scope before, and `prompt=consent` was not asked)
//! is answered at once; one with `prompt=none` that would need a page is answered
//! with the error (`login_required`, `consent_required`); otherwise it is stored,
//! bound to this browser, and the visitor goes to the sign-in or consent page with
//! its id.

use axum::extract::State;
use axum::response::Response;
use portcullis_axum::OAuth;
use portcullis_core::extensions::openid::verify_id_token_hint;
use portcullis_core::{Client, NextStep, SignedIn, User};

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
    // An `id_token_hint` names who the client expects: it must be an ID token of ours,
    // and a session of someone else counts as nobody signed in (so prompt=none says
    // login_required, and otherwise the sign-in page comes first).
    let user = match grant.request.params().get("id_token_hint") {
        None => user,
        Some(token) => {
            let issuer = state.config().issuer();
            match verify_id_token_hint(&**state.keys(), issuer, token) {
                Ok(hint) => user.filter(|u| u.subject == hint.subject),
                Err(error) => {
                    return authorization_error(&state, grant.request.redirect_error(error))
                }
            }
        }
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
    let signed_in = user.as_ref().map(|u| SignedIn::at(u.auth_time));
    let step = grant.next_step(signed_in, remembered.as_ref(), state.now());
    let page = match step {
        NextStep::Refused(_) => {
            // prompt=none: the client hears why, and no page is shown.
            let error = step
                .error()
                .unwrap_or_else(portcullis_core::OAuthError::server_error);
            return authorization_error(&state, grant.request.redirect_error(error));
        }
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
