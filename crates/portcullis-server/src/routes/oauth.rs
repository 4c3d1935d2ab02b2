//! The protocol endpoints, mounted the way any application mounts them with
//! `portcullis-axum`: the token endpoint with `token_route`, and every endpoint the
//! engine has registered (revocation, introspection, metadata — also as the OpenID
//! Connect Discovery document —, JWK Set, UserInfo) with `endpoint_route` at its path.
//! The engine answers wrong methods itself.

use axum::middleware;
use axum::response::Response;
use axum::routing::MethodRouter;
use axum::Router;
use http::header::{self, HeaderValue};
use http::StatusCode;
use portcullis_axum::{endpoint_route, token_route};

use crate::state::AppState;

/// Where each registered endpoint is mounted.
pub const ENDPOINT_PATHS: &[(&str, &str)] = &[
    ("revocation", "/revoke"),
    ("introspection", "/introspect"),
    ("metadata", "/.well-known/oauth-authorization-server"),
    ("metadata", "/.well-known/openid-configuration"),
    ("jwks", "/jwks"),
    ("userinfo", "/userinfo"),
];

/// The methods of the endpoints browser-based clients call, for CORS
/// ([`crate::routes::cors`]); the others (introspection) have none.
fn cors_methods(name: &str) -> Option<&'static str> {
    match name {
        "token" | "revocation" => Some("POST"),
        "metadata" | "jwks" => Some("GET"),
        "userinfo" => Some("GET, POST"),
        _ => None,
    }
}

/// `route` with CORS when endpoint `name` is one browsers call.
fn with_cors(route: MethodRouter<AppState>, name: &str) -> MethodRouter<AppState> {
    match cors_methods(name) {
        Some(methods) => route.layer(middleware::from_fn_with_state(
            methods,
            crate::routes::cors::cors,
        )),
        None => route,
    }
}

/// The token endpoint and every registered endpoint.
pub fn routes(state: &AppState) -> Router<AppState> {
    let server = state.server();
    let mut router = Router::new().route("/token", with_cors(token_route(server.clone()), "token"));
    for name in server.endpoint_names() {
        let mut mounted = false;
        // The metadata is one document at two addresses: RFC 8414's and OpenID
        // Connect Discovery's.
        for (name, path) in ENDPOINT_PATHS.iter().filter(|(known, _)| *known == name) {
            let mut route = endpoint_route(server.clone(), name);
            if *name == "metadata" {
                route = route.layer(middleware::map_response(cache_metadata));
            }
            router = router.route(path, with_cors(route, name));
            mounted = true;
        }
        if !mounted {
            tracing::warn!(
                endpoint = name,
                "a registered endpoint has no path; not mounted"
            );
        }
    }
    router
}

/// The metadata documents of an issuer with the path `base` at their path-inserted
/// locations: `/.well-known/oauth-authorization-server{base}` (RFC 8414 §3.1) and
/// `/.well-known/openid-configuration{base}` (RFC 8414 §5's compatibility note).
pub fn path_inserted_metadata(state: &AppState, base: &str) -> Router<AppState> {
    let server = state.server();
    let mut router = Router::new();
    if !server.endpoint_names().contains(&"metadata") {
        return router;
    }
    for (_, path) in ENDPOINT_PATHS
        .iter()
        .filter(|(name, _)| *name == "metadata")
    {
        let route = endpoint_route(server.clone(), "metadata")
            .layer(middleware::map_response(cache_metadata));
        router = router.route(&format!("{path}{base}"), with_cors(route, "metadata"));
    }
    router
}

/// RFC 8414 metadata changes only with the configuration: caches may keep it five
/// minutes. (`scopes_supported` appears only when configured: the scopes registered
/// clients may request are theirs to know, not the public's — issue 9, finding 15.)
async fn cache_metadata(mut response: Response) -> Response {
    if response.status() == StatusCode::OK {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
    }
    response
}
