//! Client authentication at the token endpoint (RFC 6749 §2.3).
//!
//! Three methods: `client_secret_basic` (HTTP Basic, with client_id and secret
//! form-urlencoded first, §2.3.1), `client_secret_post` (both in the body) and `none`
//! (a public client sends only its client_id). A request that uses more than one
//! method is refused (§2.3). The client decides which method it may use where, and
//! compares its secret in constant time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header;

use crate::error::OAuthError;
use crate::http::{OAuthRequest, Params};
use crate::model::{AuthMethod, Client};
use crate::store::ClientStore;

/// The client authentication methods this module implements, for metadata.
pub const SUPPORTED_AUTH_METHODS: &[&str] = &[
    AuthMethod::CLIENT_SECRET_BASIC,
    AuthMethod::CLIENT_SECRET_POST,
    AuthMethod::NONE,
];

/// Credentials a request presents, before they are checked.
#[derive(Debug, PartialEq, Eq)]
struct Credentials {
    method: &'static str,
    client_id: String,
    secret: Option<String>,
}

fn failed() -> OAuthError {
    OAuthError::invalid_client("client authentication failed (unknown client, wrong secret, or an authentication method this client may not use)")
}

fn credentials(request: &OAuthRequest, params: &Params) -> Result<Credentials, OAuthError> {
    let basic = match request.headers().get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| OAuthError::invalid_client("the Authorization header is not valid"))?;
            match value.split_once(' ') {
                Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                    Some(decode_basic(encoded.trim())?)
                }
                _ => {
                    return Err(OAuthError::invalid_client(
                        "the Authorization header must use the Basic scheme",
                    ))
                }
            }
        }
        None => None,
    };
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    match (basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "use one client authentication method only: either HTTP Basic or client_secret in the body",
        )),
        (Some((id, _)), Some(body_id), None) if body_id != id => Err(OAuthError::invalid_request(
            "the client_id in the body differs from the one in the Authorization header",
        )),
        (Some((client_id, secret)), _, None) => Ok(Credentials {
            method: AuthMethod::CLIENT_SECRET_BASIC,
            client_id,
            secret: Some(secret),
        }),
        (None, Some(id), Some(secret)) => Ok(Credentials {
            method: AuthMethod::CLIENT_SECRET_POST,
            client_id: id.to_owned(),
            secret: Some(secret.to_owned()),
        }),
        (None, Some(id), None) => Ok(Credentials {
            method: AuthMethod::NONE,
            client_id: id.to_owned(),
            secret: None,
        }),
        (None, None, _) => Err(OAuthError::invalid_client(
            "client authentication is required: send HTTP Basic credentials or client_id",
        )),
    }
}

fn decode_basic(encoded: &str) -> Result<(String, String), OAuthError> {
    let malformed = || OAuthError::invalid_client("the Basic credentials are malformed");
    let decoded = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let id = unescape(id);
    if id.is_empty() {
        return Err(malformed());
    }
    Ok((id, unescape(secret)))
}

/// Authenticates the client of `request` for `endpoint` and returns it.
///
/// Fails with `invalid_client` (401, `WWW-Authenticate`) for an unknown client, a
/// wrong secret, or a method the client may not use there; with `invalid_request`
/// when the request mixes methods.
pub async fn authenticate_client<S: ClientStore>(
    store: &S,
    request: &OAuthRequest,
    params: &Params,
    endpoint: &str,
) -> Result<S::Client, OAuthError> {
    let credentials = credentials(request, params)?;
    let Some(client) = store.find_client(&credentials.client_id).await? else {
        tracing::debug!(
            method = credentials.method,
            "client authentication failed: unknown client"
        );
        return Err(failed());
    };
    if !client.check_endpoint_auth_method(credentials.method, endpoint) {
        tracing::debug!(client_id = %client.client_id(), method = credentials.method, "client authentication failed: method not allowed");
        return Err(failed());
    }
    if let Some(secret) = &credentials.secret {
        if !client.check_client_secret(secret) {
            tracing::debug!(client_id = %client.client_id(), "client authentication failed: wrong secret");
            return Err(failed());
        }
    }
    Ok(client)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn request(auth: Option<&str>, body: &str) -> (OAuthRequest, Params) {
        let mut builder = http::Request::post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(auth) = auth {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        let request = builder.body(Bytes::from(body.to_owned())).unwrap();
        let params = Params::from_form(&request).unwrap();
        (request, params)
    }

    #[test]
    fn basic_is_form_decoded() {
        // "my%20id:p%3Ass" -> id "my id", secret "p:ss"
        let header = format!("Basic {}", STANDARD.encode("my%20id:p%3Ass"));
        let (req, params) = request(Some(&header), "grant_type=x");
        let creds = credentials(&req, &params).unwrap();
        assert_eq!(creds.client_id, "my id");
        assert_eq!(creds.secret.as_deref(), Some("p:ss"));
        assert_eq!(creds.method, AuthMethod::CLIENT_SECRET_BASIC);
    }

    #[test]
    fn two_methods_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("a:b"));
        let (req, params) = request(Some(&header), "client_id=a&client_secret=b");
        let error = credentials(&req, &params).unwrap_err();
        assert_eq!(error.code(), crate::ErrorCode::InvalidRequest);
    }

    #[test]
    fn post_and_none() {
        let (req, params) = request(None, "client_id=a&client_secret=b");
        assert_eq!(
            credentials(&req, &params).unwrap().method,
            AuthMethod::CLIENT_SECRET_POST
        );
        let (req, params) = request(None, "client_id=a");
        assert_eq!(credentials(&req, &params).unwrap().method, AuthMethod::NONE);
        let (req, params) = request(None, "grant_type=x");
        assert_eq!(
            credentials(&req, &params).unwrap_err().code(),
            crate::ErrorCode::InvalidClient
        );
    }

    #[test]
    fn malformed_basic_is_invalid_client() {
        let (req, params) = request(Some("Basic !!!"), "");
        assert_eq!(
            credentials(&req, &params).unwrap_err().code(),
            crate::ErrorCode::InvalidClient
        );
        let (req, params) = request(Some("Bearer abc"), "");
        assert_eq!(
            credentials(&req, &params).unwrap_err().code(),
            crate::ErrorCode::InvalidClient
        );
    }
}
