//! The routes, by area: the OAuth protocol endpoints ([`oauth`]), the interactive
//! pages (`crate::pages`), and operations ([`ops`]: health, the stylesheet).

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub mod cors;
pub mod oauth;
pub mod ops;
pub mod registration;

/// Every route of `portcullis serve`, before the server-wide layers.
///
/// An issuer with a path (`https://example.com/auth`) has every route under that path
/// (`/auth/token`, `/auth/healthz`, the home page at `/auth` and `/auth/`), the two
/// metadata documents at the appended locations (`/auth/.well-known/…`, OpenID
/// Connect Discovery §4) and at the path-inserted ones too
/// (`/.well-known/oauth-authorization-server/auth`, RFC 8414 §3.1, and
/// `/.well-known/openid-configuration/auth`, as RFC 8414 §5 suggests); anything else
/// outside the path is 404.
pub fn router(state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .merge(oauth::routes(state))
        .merge(crate::pages::routes())
        .merge(ops::routes());
    let routes = if state.config().dynamic_registration.enabled() {
        routes.merge(registration::routes())
    } else {
        routes
    };
    let base = state.base_path();
    if base.is_empty() {
        return routes;
    }
    Router::new()
        // Nested, `/` is `/auth` only: `/auth/` is the home page too.
        .route(&format!("{base}/"), get(crate::pages::home::show))
        .nest(base, routes)
        .merge(oauth::path_inserted_metadata(state, base))
}
