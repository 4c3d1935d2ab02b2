//! `GET /`: the home page — what this server is, its issuer, the discovery documents,
//! who is signed in (with a way out), and on an empty server the commands that create
//! the first user and client. A sign-in without a pending request lands here.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;

use crate::pages::extract::CurrentSession;
use crate::pages::{render, server_error};
use crate::state::AppState;
use crate::templates::HomePage;

/// `GET /`.
pub async fn show(State(state): State<AppState>, session: CurrentSession) -> Response {
    let username = match session.user() {
        Some(user) => match state.store().find_user_by_subject(&user.subject).await {
            Ok(found) => found.map(|user| user.username),
            Err(error) => return server_error(&state, error),
        },
        None => None,
    };
    // One row read each, however many users and clients there are.
    let (users, clients) = match (
        state.store().has_users().await,
        state.store().has_clients().await,
    ) {
        (Ok(users), Ok(clients)) => (!users, !clients),
        (Err(error), _) | (_, Err(error)) => return server_error(&state, error),
    };
    let page = HomePage {
        issuer: state.config().issuer().to_owned(),
        username,
        needs_user: users,
        needs_client: clients,
        version: crate::config::SERVER.to_owned(),
    };
    render(&state, StatusCode::OK, &page)
}
