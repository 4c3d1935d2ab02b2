//! The routes, by area: the OAuth protocol endpoints ([`oauth`]), the interactive
//! pages (`crate::pages`), and operations ([`ops`]: health, the stylesheet).

use axum::Router;

use crate::state::AppState;

pub mod oauth;
pub mod ops;

/// Every route of `portcullis serve`, before the server-wide layers.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(oauth::routes(state))
        .merge(crate::pages::routes())
        .merge(ops::routes())
}
