//! The access log: one `info` line per request (target `portcullis::access`) with the
//! method, the path (never the query, which may hold a code or state), the status, the
//! latency, the client_id the request named (by HTTP Basic, its form or its query) and
//! the RFC error code of a refusal. Never a secret, a token or a code. `RUST_LOG`
//! decides whether it is written (`RUST_LOG=info,portcullis::access=off` silences it); when
//! it is not, nothing is extracted.

use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header;
use portcullis_core::{ErrorCode, Params};

/// The log target of the access log.
pub const TARGET: &str = "portcullis::access";

/// The longest client_id written, in characters.
const MAX_CLIENT_ID: usize = 128;

/// Middleware: logs the request once it is answered. It runs inside the body reader,
/// so a form body is already in memory.
pub async fn log_request(request: Request, next: Next) -> Response {
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return next.run(request).await;
    }
    // A duration for the log, never a protocol time: the injected clock is not for this.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    // The body is whole already (read_body); this only takes it back.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let client_id = client_id(&parts, &bytes);
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let error = response
        .extensions()
        .get::<ErrorCode>()
        .map(|code| code.as_str());
    tracing::info!(
        target: TARGET,
        %method,
        path = %path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        client_id = client_id.as_deref(),
        error,
        "request"
    );
    response
}

/// The client_id a request names: the user of HTTP Basic (RFC 6749 §2.3.1), else its
/// form's or query's `client_id`; printable characters only, cut to 128.
fn client_id(parts: &http::request::Parts, body: &[u8]) -> Option<String> {
    let named = basic_user(parts)
        .or_else(|| {
            let is_form = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            is_form
                .then(|| {
                    Params::parse(body)
                        .ok()?
                        .get("client_id")
                        .map(str::to_owned)
                })
                .flatten()
        })
        .or_else(|| {
            let query = parts.uri.query()?;
            Params::parse(query.as_bytes())
                .ok()?
                .get("client_id")
                .map(str::to_owned)
        })?;
    Some(
        named
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_CLIENT_ID)
            .collect(),
    )
}

/// The user part of an `Authorization: Basic` header, form-decoded; the password is
/// never looked at beyond the separator.
fn basic_user(parts: &http::request::Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let user = decoded.split(|b| *b == b':').next()?;
    let user: String = form_urlencoded::parse(&[b"u=", user].concat())
        .next()
        .map(|(_, v)| v.into_owned())?;
    Some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(request: http::Request<()>) -> http::request::Parts {
        request.into_parts().0
    }

    #[test]
    fn the_client_id_comes_from_basic_the_form_or_the_query_and_never_the_secret() {
        let basic = parts(
            http::Request::post("/token")
                .header(
                    header::AUTHORIZATION,
                    format!("Basic {}", STANDARD.encode("my%20app:s3cret")),
                )
                .body(())
                .unwrap(),
        );
        assert_eq!(client_id(&basic, b"").as_deref(), Some("my app"));
        let form = parts(
            http::Request::post("/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(())
                .unwrap(),
        );
        assert_eq!(
            client_id(&form, b"client_id=web&client_secret=s3cret").as_deref(),
            Some("web")
        );
        let query = parts(
            http::Request::get("/authorize?client_id=spa&code_challenge=x")
                .body(())
                .unwrap(),
        );
        assert_eq!(client_id(&query, b"").as_deref(), Some("spa"));
        let hostile = parts(
            http::Request::get("/authorize?client_id=a%0Ab%1Bc")
                .body(())
                .unwrap(),
        );
        assert_eq!(
            client_id(&hostile, b"").as_deref(),
            Some("abc"),
            "no control characters"
        );
        let none = parts(http::Request::get("/healthz").body(()).unwrap());
        assert_eq!(client_id(&none, b""), None);
    }
}
