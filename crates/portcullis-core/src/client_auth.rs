//! Client authentication (RFC 6749 §2.3) as a registered, pluggable set of
//! [`ClientAuthenticator`]s.
//!
//! Three are built in: `client_secret_basic` (HTTP Basic, with client_id and secret
//! form-urlencoded first, §2.3.1), `client_secret_post` (both in the body) and `none`
//! (a public client sends only its client_id). JWT assertions (RFC 7523 §2.2, OpenID
//! Connect Core §9) are two more, registered when wanted: [`PrivateKeyJwt`] and
//! [`ClientSecretJwt`] (see [`jwt`] for what they check); mutual TLS
//! (RFC 8705) would plug in the same way. Each says whether a request
//! presents its kind of credentials; exactly one may (a request that uses more than one
//! method is refused, §2.3). The client decides which method it may use where, and
//! compares its secret in constant time: a [`ClientRecord`](crate::ClientRecord)
//! registered with either secret method may use both, unless it registered
//! [`STRICT_AUTH_METHOD`](crate::STRICT_AUTH_METHOD); `none` and the secret methods
//! never stand in for each other. The metadata's `*_auth_methods_supported`
//! lists exactly the registered authenticators.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header;

use crate::error::OAuthError;
use crate::http::{OAuthRequest, Params};
use crate::model::{AuthMethod, Client, EndpointName};
use crate::store::ClientStore;

pub mod jwt;

pub use jwt::{
    ClientSecretJwt, ClientSecretSource, JwksFetcher, JwtClientAuthConfig, PrivateKeyJwt,
    JWT_BEARER_ASSERTION_TYPE,
};

/// The client authentication methods built in, for metadata.
pub const SUPPORTED_AUTH_METHODS: &[&str] = &[
    AuthMethod::CLIENT_SECRET_BASIC,
    AuthMethod::CLIENT_SECRET_POST,
    AuthMethod::NONE,
];

/// A way for a client to authenticate (RFC 6749 §2.3): one registered method.
#[async_trait]
pub trait ClientAuthenticator<S: ClientStore>: Send + Sync + 'static {
    /// The method's name (`token_endpoint_auth_method`).
    fn method(&self) -> &'static str;

    /// True when `request` presents this method's credentials.
    fn presented(&self, request: &OAuthRequest, params: &Params) -> bool;

    /// Checks the credentials for `endpoint` (an [`EndpointName`]): the client, or
    /// `invalid_client` (`invalid_request` for a malformed request).
    async fn authenticate(
        &self,
        store: &S,
        request: &OAuthRequest,
        params: &Params,
        endpoint: &str,
    ) -> Result<S::Client, OAuthError>;

    /// True when the method may be used at `endpoint` at all (for metadata): `none`
    /// is never accepted at the introspection endpoint, for one.
    fn usable_at(&self, endpoint: &str) -> bool {
        let _ = endpoint;
        true
    }

    /// The JWS algorithms this method accepts (for the metadata's
    /// `*_endpoint_auth_signing_alg_values_supported`); none by default, for the
    /// methods that sign nothing.
    fn signing_algorithms(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

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

/// Finds the client, checks that it may use `method` at `endpoint`, and checks the
/// secret when one was presented: the part every secret-based method shares.
async fn check<S: ClientStore>(
    store: &S,
    credentials: Credentials,
    endpoint: &str,
) -> Result<S::Client, OAuthError> {
    let Some(client) = store.find_client(&credentials.client_id).await? else {
        tracing::debug!(
            method = credentials.method,
            "client authentication failed: unknown client"
        );
        return Err(failed());
    };
    if !client.check_endpoint_auth_method(credentials.method, endpoint) {
        tracing::debug!(client_id = %client.client_id(), method = credentials.method, "client authentication failed: method not allowed");
        // Whoever knows the secret learns why: the client keeps to one method (it
        // was registered as strict). Anyone else gets the words that reveal nothing.
        if let Some(secret) = &credentials.secret {
            if client.check_client_secret(secret) {
                return Err(OAuthError::invalid_client(format!(
                    "this client may not authenticate with {} here: it was registered to use one method only (strict); send the secret the way it was registered",
                    credentials.method
                )));
            }
        }
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

/// `client_secret_basic` (RFC 6749 §2.3.1): HTTP Basic with the form-urlencoded
/// client_id and secret.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct ClientSecretBasic;

/// `client_secret_post` (RFC 6749 §2.3.1): client_id and client_secret in the body.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct ClientSecretPost;

/// `none` (RFC 6749 §2.1): a public client, client_id only.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct PublicClient;

fn authorization(request: &OAuthRequest) -> Option<&http::HeaderValue> {
    request.headers().get(header::AUTHORIZATION)
}

fn is_basic(request: &OAuthRequest) -> bool {
    authorization(request)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
}

#[async_trait]
impl<S: ClientStore> ClientAuthenticator<S> for ClientSecretBasic {
    fn method(&self) -> &'static str {
        AuthMethod::CLIENT_SECRET_BASIC
    }

    fn presented(&self, request: &OAuthRequest, _params: &Params) -> bool {
        is_basic(request)
    }

    async fn authenticate(
        &self,
        store: &S,
        request: &OAuthRequest,
        params: &Params,
        endpoint: &str,
    ) -> Result<S::Client, OAuthError> {
        check(store, credentials(request, params)?, endpoint).await
    }
}

#[async_trait]
impl<S: ClientStore> ClientAuthenticator<S> for ClientSecretPost {
    fn method(&self) -> &'static str {
        AuthMethod::CLIENT_SECRET_POST
    }

    fn presented(&self, _request: &OAuthRequest, params: &Params) -> bool {
        params.contains("client_secret")
    }

    async fn authenticate(
        &self,
        store: &S,
        request: &OAuthRequest,
        params: &Params,
        endpoint: &str,
    ) -> Result<S::Client, OAuthError> {
        check(store, credentials(request, params)?, endpoint).await
    }
}

#[async_trait]
impl<S: ClientStore> ClientAuthenticator<S> for PublicClient {
    fn method(&self) -> &'static str {
        AuthMethod::NONE
    }

    fn presented(&self, request: &OAuthRequest, params: &Params) -> bool {
        authorization(request).is_none()
            && params.contains("client_id")
            && !params.contains("client_secret")
    }

    async fn authenticate(
        &self,
        store: &S,
        request: &OAuthRequest,
        params: &Params,
        endpoint: &str,
    ) -> Result<S::Client, OAuthError> {
        check(store, credentials(request, params)?, endpoint).await
    }

    fn usable_at(&self, endpoint: &str) -> bool {
        endpoint != EndpointName::INTROSPECTION
    }
}

/// The registered client authenticators.
pub struct ClientAuthentication<S: ClientStore> {
    authenticators: Vec<Arc<dyn ClientAuthenticator<S>>>,
}

impl<S: ClientStore> fmt::Debug for ClientAuthentication<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.authenticators.iter().map(|a| a.method()))
            .finish()
    }
}

impl<S: ClientStore> Default for ClientAuthentication<S> {
    /// `client_secret_basic`, `client_secret_post` and `none`.
    fn default() -> Self {
        Self {
            authenticators: vec![
                Arc::new(ClientSecretBasic),
                Arc::new(ClientSecretPost),
                Arc::new(PublicClient),
            ],
        }
    }
}

impl<S: ClientStore> ClientAuthentication<S> {
    /// No authenticator: register the ones wanted with [`add`](Self::add).
    pub fn empty() -> Self {
        Self {
            authenticators: Vec::new(),
        }
    }

    /// Adds an authenticator, replacing one of the same method.
    pub fn add(&mut self, authenticator: impl ClientAuthenticator<S>) -> &mut Self {
        let method = authenticator.method();
        self.authenticators.retain(|a| a.method() != method);
        self.authenticators.push(Arc::new(authenticator));
        self
    }

    /// Removes the authenticator of `method`.
    pub fn remove(&mut self, method: &str) -> &mut Self {
        self.authenticators.retain(|a| a.method() != method);
        self
    }

    /// The methods usable at `endpoint`, in registration order (its
    /// `*_auth_methods_supported`).
    pub fn methods(&self, endpoint: &str) -> Vec<&'static str> {
        self.authenticators
            .iter()
            .filter(|a| a.usable_at(endpoint))
            .map(|a| a.method())
            .collect()
    }

    /// The JWS algorithms the methods usable at `endpoint` accept, without
    /// duplicates, in registration order (its `*_auth_signing_alg_values_supported`).
    pub fn signing_algorithms(&self, endpoint: &str) -> Vec<&'static str> {
        let mut algorithms: Vec<&'static str> = Vec::new();
        for authenticator in self.authenticators.iter().filter(|a| a.usable_at(endpoint)) {
            for alg in authenticator.signing_algorithms() {
                if !algorithms.contains(&alg) {
                    algorithms.push(alg);
                }
            }
        }
        algorithms
    }

    /// Authenticates the client of `request` for `endpoint` and returns it.
    ///
    /// Fails with `invalid_client` (401, `WWW-Authenticate`) for an unknown client, a
    /// wrong secret, no credentials, or a method the client may not use there; with
    /// `invalid_request` when the request presents more than one method.
    pub async fn authenticate(
        &self,
        store: &S,
        request: &OAuthRequest,
        params: &Params,
        endpoint: &str,
    ) -> Result<S::Client, OAuthError> {
        let found: Vec<&Arc<dyn ClientAuthenticator<S>>> = self
            .authenticators
            .iter()
            .filter(|a| a.presented(request, params))
            .collect();
        // `none` means "nothing but a client_id": it yields to any other method that
        // is presented (a JWT assertion sends its client_id in the body too).
        let others = found.iter().any(|a| a.method() != AuthMethod::NONE);
        let mut presented = found
            .into_iter()
            .filter(|a| !others || a.method() != AuthMethod::NONE);
        let Some(authenticator) = presented.next() else {
            if authorization(request).is_some() {
                return Err(OAuthError::invalid_client(
                    "the Authorization header must use the Basic scheme",
                ));
            }
            return Err(OAuthError::invalid_client(
                "client authentication is required: send HTTP Basic credentials or client_id",
            ));
        };
        if presented.next().is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method only: HTTP Basic, client_secret in the body, or a client_assertion",
            ));
        }
        authenticator
            .authenticate(store, request, params, endpoint)
            .await
    }
}

/// Authenticates the client of `request` for `endpoint` with the built-in methods
/// (`client_secret_basic`, `client_secret_post`, `none`) and returns it.
pub async fn authenticate_client<S: ClientStore>(
    store: &S,
    request: &OAuthRequest,
    params: &Params,
    endpoint: &str,
) -> Result<S::Client, OAuthError> {
    ClientAuthentication::<S>::default()
        .authenticate(store, request, params, endpoint)
        .await
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

    /// Presented when the body carries a `client_assertion` (as RFC 7523 does, next to
    /// the `client_id`); accepts the assertion `good`.
    struct Assertion;

    #[async_trait]
    impl ClientAuthenticator<crate::MemoryStore> for Assertion {
        fn method(&self) -> &'static str {
            "private_key_jwt"
        }

        fn presented(&self, _request: &OAuthRequest, params: &Params) -> bool {
            params.contains("client_assertion")
        }

        async fn authenticate(
            &self,
            store: &crate::MemoryStore,
            _request: &OAuthRequest,
            params: &Params,
            _endpoint: &str,
        ) -> Result<crate::ClientRecord, OAuthError> {
            if params.get("client_assertion") != Some("good") {
                return Err(failed());
            }
            store
                .find_client(params.require("client_id")?)
                .await?
                .ok_or_else(failed)
        }
    }

    /// `none` ("only a client_id") yields to another method the request presents with
    /// its client_id; two real methods at once are still refused.
    #[tokio::test]
    async fn none_yields_to_a_method_that_sends_the_client_id_too() {
        let store = crate::MemoryStore::new();
        store
            .insert_client(crate::ClientRecord::new("app").with_auth_method("private_key_jwt"))
            .unwrap();
        let mut registry = ClientAuthentication::default();
        registry.add(Assertion);
        let (req, params) = request(None, "client_id=app&client_assertion=good");
        let client = registry
            .authenticate(&store, &req, &params, EndpointName::TOKEN)
            .await
            .unwrap();
        assert_eq!(client.client_id, "app");
        let (req, params) = request(None, "client_id=app&client_assertion=forged");
        let error = registry
            .authenticate(&store, &req, &params, EndpointName::TOKEN)
            .await
            .unwrap_err();
        assert_eq!(error.code(), crate::ErrorCode::InvalidClient);
        let (req, params) = request(None, "client_id=app&client_assertion=good&client_secret=s");
        let error = registry
            .authenticate(&store, &req, &params, EndpointName::TOKEN)
            .await
            .unwrap_err();
        assert_eq!(
            error.code(),
            crate::ErrorCode::InvalidRequest,
            "two methods"
        );
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
