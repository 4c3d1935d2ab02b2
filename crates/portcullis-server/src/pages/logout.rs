//! `GET, POST /logout`: sign out, after a confirmation (a GET never signs anyone out,
//! so a link or an image cannot).

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use portcullis_axum::OAuth;

use crate::pages::extract::{form, CurrentSession};
use crate::pages::{forged, render, server_error};
use crate::session::set_cookie;
use crate::state::AppState;
use crate::templates::{LogoutPage, SignedOutPage};

/// `GET /logout`: asks to confirm.
pub async fn show(State(state): State<AppState>, session: CurrentSession) -> Response {
    let Some((session, user)) = session.signed_in() else {
        return render(&state, StatusCode::OK, &SignedOutPage {});
    };
    let username = match state.store().find_user_by_subject(&user.subject).await {
        Ok(Some(user)) => user.username,
        _ => String::new(),
    };
    let page = LogoutPage {
        action: "/logout".to_owned(),
        csrf_token: session.record.csrf_token.clone(),
        username,
    };
    render(&state, StatusCode::OK, &page)
}

/// `POST /logout`: ends the session.
pub async fn submit(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    OAuth(request): OAuth,
) -> Response {
    let Some(session) = session else {
        return render(&state, StatusCode::OK, &SignedOutPage {});
    };
    if !session.check_csrf(form(&request).get("csrf_token")) {
        return forged(&state);
    }
    let cookie = match state.sessions().end(&session).await {
        Ok(cookie) => cookie,
        Err(error) => return server_error(&state, error),
    };
    let mut response = render(&state, StatusCode::OK, &SignedOutPage {});
    set_cookie(response.headers_mut(), cookie);
    response
}
