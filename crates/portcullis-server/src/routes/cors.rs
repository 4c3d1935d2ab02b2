//! Cross-origin requests (the Fetch standard's CORS protocol) for the endpoints
//! browser-based clients call: both metadata documents, the JWK Set, the token,
//! revocation and UserInfo endpoints. A preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) is answered here, 204, without reaching the
//! endpoint; every other response of these endpoints carries
//! `Access-Control-Allow-Origin: *`.
//!
//! `*`, and never `Access-Control-Allow-Credentials`: these endpoints read no cookie
//! and no ambient credential. The token and revocation endpoints authenticate the
//! client by what the request carries (its secret, or only its client_id and the PKCE
//! verifier), UserInfo by the access token in `Authorization`; a page of another
//! origin can send those only if it holds them already. Browsers refuse credentialed
//! requests to `*`, which is what we want: the session cookie of the sign-in pages is
//! never sent along.
//!
//! Not here: the authorization endpoint, the sign-in, consent and sign-out pages (the
//! browser navigates to them; RFC 9700 §2.6 keeps them off CORS), the introspection
//! endpoint (resource servers call it, not browsers), health and admin routes.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

/// The request headers a cross-origin client may send: client authentication and
/// bearer tokens, JSON or form bodies, DPoP proofs (RFC 9449) and the header MCP
/// clients send on every request.
pub const ALLOWED_HEADERS: &str = "Authorization, Content-Type, DPoP, MCP-Protocol-Version";

/// The response headers a cross-origin client may read besides the safelisted ones:
/// the challenge of a 401 and a DPoP nonce (RFC 9449 §8).
pub const EXPOSED_HEADERS: &str = "WWW-Authenticate, DPoP-Nonce";

/// How long a browser may keep a preflight's answer, seconds (browsers cap it: Chrome
/// at two hours).
pub const MAX_AGE: &str = "86400";

/// The CORS middleware for an endpoint answering `methods` (`"POST"`, `"GET"`,
/// `"GET, POST"`).
pub async fn cors(State(methods): State<&'static str>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let preflight = request.method() == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        return response;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    response
}
