//! The one guard of everything the validators (and the server: a client's
//! `sector_identifier_uri`) fetch or post to: the URL check ([`check_url`]), an HTTP
//! client that follows no redirect and times out ([`client`]), a size-bounded body
//! read ([`read_body`]), and the three together ([`get_document`]).
//!
//! A redirect is never followed: for a `GET` it could lead anywhere the URL check
//! would refuse, and for the introspection `POST` a `307`/`308` would re-send the token
//! (and the resource server's credentials) to wherever it points.

use std::net::IpAddr;
use std::time::Duration;

/// How long one request may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A URL that may be fetched: `https`, or `http` to a loopback host (`localhost`,
/// `127.0.0.0/8`, `::1`), for development; no user information. The one check every
/// URL fetched by [`JwtValidator`](crate::jwt::JwtValidator) or posted to by
/// [`RemoteIntrospection`](crate::remote::RemoteIntrospection) goes through.
pub fn check_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url}: not a URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{url}: a URL with credentials is not fetched"));
    }
    let host = parsed.host_str().filter(|host| !host.is_empty());
    let loopback = host.is_some_and(|host| {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    match parsed.scheme() {
        "https" if host.is_some() => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!(
            "{url}: only https URLs are fetched (http only for a loopback host)"
        )),
    }
}

/// An HTTP client that follows no redirect and gives up after [`TIMEOUT`]. Its
/// failure to build is reported, never replaced by a default client (which would
/// follow redirects).
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("the HTTP client cannot be built ({e})"))
}

/// The body of `response`, refused once it is over `limit` bytes — as soon as its
/// `Content-Length` announces more, or as soon as more has arrived.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(format!("{what}: the document is too large"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{what}: {e}"))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("{what}: the document is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of a `GET` of `url` (as [`check_url`] allows, answered `200`, redirects
/// not followed, within [`TIMEOUT`]), refused over `limit` bytes. Errors name the URL
/// and say what went wrong.
pub async fn get_document(url: &str, limit: usize) -> Result<Vec<u8>, String> {
    let checked = check_url(url)?;
    let response = client()?
        .get(checked)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("{url}: HTTP {status}"));
    }
    read_body(response, limit, url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        for good in [
            "https://auth.example.com/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.1.2.3/jwks",
            "http://[::1]:8080/jwks",
            "http://localhost/jwks",
            "http://LOCALHOST:99/introspect",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://auth.example.com/jwks",
            "http://10.0.0.1/jwks",
            "http://[::2]/jwks",
            "http://localhost.example.com/jwks",
            "http://127.0.0.1.nip.io/jwks",
            "file:///etc/passwd",
            "gopher://127.0.0.1/",
            "https://user:pw@auth.example.com/jwks",
            "https://user@auth.example.com/jwks",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_builds() {
        assert!(client().is_ok());
    }
}
