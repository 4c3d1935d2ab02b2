//! Shared helpers: a server over `MemoryStore` with a `ManualClock`, two registered
//! clients, request builders and response parsers.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http::{header, Method, StatusCode};
use portcullis_core::random::random_token;
use portcullis_core::{
    hash_secret, AuthorizationCodeGrant, AuthorizationServer, BearerError, BearerTokenGenerator,
    ClientCredentialsGrant, ClientRecord, ImplicitGrant, ManualClock, MemoryStore, OAuthError,
    OAuthRequest, OAuthResponse, OsRandom, PasswordGrant, Pkce, RefreshTokenGrant, Scope,
    TokenInfo,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

pub(crate) const ISSUER: &str = "https://as.example";
pub(crate) const START: i64 = 1_700_000_000;
pub(crate) const USER: &str = "alice";
pub(crate) const STATE: &str = "st-8f3a";

pub(crate) const CONF_ID: &str = "conf-app";
pub(crate) const CONF_SECRET: &str = "conf-secret-7c1e9a44b2d0";
pub(crate) const CONF_REDIRECT: &str = "https://app.example/cb";
pub(crate) const CONF_REDIRECT_2: &str = "https://app.example/cb2";

pub(crate) const PUBLIC_ID: &str = "native-app";
pub(crate) const PUBLIC_REDIRECT: &str = "http://127.0.0.1/cb";

/// How a token request authenticates its client.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth<'a> {
    /// `client_secret_basic`.
    Basic(&'a str, &'a str),
    /// `client_secret_post`.
    Post(&'a str, &'a str),
    /// `none`: client_id only.
    Public(&'a str),
    /// No client authentication at all.
    Anonymous,
}

pub(crate) const CONF: Auth<'static> = Auth::Basic(CONF_ID, CONF_SECRET);
pub(crate) const PUBLIC: Auth<'static> = Auth::Public(PUBLIC_ID);

/// What the test server registers.
pub(crate) struct Config {
    pub(crate) pkce: Pkce,
    pub(crate) refresh: bool,
    pub(crate) password: bool,
    pub(crate) implicit: bool,
    pub(crate) bearer: Option<BearerTokenGenerator>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            pkce: Pkce::default(),
            refresh: true,
            password: false,
            implicit: false,
            bearer: None,
        }
    }
}

pub(crate) struct TestServer {
    pub(crate) server: Arc<AuthorizationServer<MemoryStore>>,
    pub(crate) clock: Arc<ManualClock>,
}

impl TestServer {
    /// authorization_code (PKCE default), client_credentials, refresh_token.
    pub(crate) fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// Every grant the core ships, the legacy ones included.
    pub(crate) fn with_all_grants() -> Self {
        Self::with_config(Config {
            password: true,
            implicit: true,
            ..Config::default()
        })
    }

    pub(crate) fn with_pkce(pkce: Pkce) -> Self {
        Self::with_config(Config {
            pkce,
            ..Config::default()
        })
    }

    pub(crate) fn with_config(config: Config) -> Self {
        let store = MemoryStore::new();
        store.insert_client(confidential_client()).unwrap();
        store.insert_client(public_client()).unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let mut server = AuthorizationServer::new(store)
            .with_clock(clock.clone())
            .with_issuer(ISSUER);
        if let Some(bearer) = config.bearer {
            server = server.with_bearer_tokens(bearer);
        }
        server.register_grant(AuthorizationCodeGrant::new().with_pkce(config.pkce));
        server.register_grant(ClientCredentialsGrant);
        if config.refresh {
            server.register_grant(RefreshTokenGrant);
        }
        if config.password {
            server.register_grant(PasswordGrant);
        }
        if config.implicit {
            server.register_grant(ImplicitGrant);
        }
        Self {
            server: Arc::new(server),
            clock,
        }
    }

    pub(crate) fn store(&self) -> &MemoryStore {
        self.server.store()
    }

    pub(crate) fn add_client(&self, client: ClientRecord) {
        self.store().insert_client(client).unwrap();
    }

    pub(crate) async fn token(&self, request: &OAuthRequest) -> OAuthResponse {
        self.server.create_token_response(request).await
    }

    /// POSTs `params` to the token endpoint with `auth`.
    pub(crate) async fn post_token(
        &self,
        auth: Auth<'_>,
        params: &[(&str, &str)],
    ) -> OAuthResponse {
        self.token(&token_request(auth, params)).await
    }

    /// The authorization endpoint's answer, with `user` granting (or `None`: denying).
    pub(crate) async fn authorize(
        &self,
        request: &OAuthRequest,
        user: Option<&str>,
    ) -> Result<OAuthResponse, OAuthError> {
        let user = user.map(str::to_owned);
        let user_ref = user.as_ref().map(|u| u as &dyn portcullis_core::User);
        self.server
            .create_authorization_response(request, user_ref)
            .await
    }

    /// Authorizes `params` as `alice` and returns the redirect Location.
    pub(crate) async fn authorize_ok(&self, params: &[(&str, &str)]) -> Url {
        let response = self
            .authorize(&authorize_request(params), Some(USER))
            .await
            .unwrap_or_else(|e| panic!("authorization refused: {e}"));
        assert_eq!(response.status(), StatusCode::FOUND);
        location(&response)
    }

    /// Runs an authorization request that must fail with a redirect; returns the
    /// parameters delivered to the client (query or fragment, whichever carries them).
    pub(crate) async fn authorize_redirect_error(
        &self,
        params: &[(&str, &str)],
        expected: &str,
    ) -> HashMap<String, String> {
        let error = self
            .authorize(&authorize_request(params), Some(USER))
            .await
            .expect_err("the authorization request should fail");
        assert!(
            error.is_redirect(),
            "expected a redirect error, got {error}"
        );
        assert_eq!(error.code().as_str(), expected, "{error}");
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::FOUND);
        let url = location(&response);
        let mut found = query_params(&url);
        found.extend(fragment_params(&url));
        assert_eq!(found.get("error").map(String::as_str), Some(expected));
        assert!(found.contains_key("error_description"));
        found
    }

    /// Issues a code for the confidential client with S256 PKCE, `scope` and
    /// `CONF_REDIRECT`.
    pub(crate) async fn conf_code(&self, scope: &str, pkce: &PkcePair) -> String {
        let url = self
            .authorize_ok(&[
                ("response_type", "code"),
                ("client_id", CONF_ID),
                ("redirect_uri", CONF_REDIRECT),
                ("scope", scope),
                ("state", STATE),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        query_params(&url).remove("code").expect("a code")
    }

    /// Issues a code for the public client with S256 PKCE.
    pub(crate) async fn public_code(&self, scope: &str, pkce: &PkcePair) -> String {
        let url = self
            .authorize_ok(&[
                ("response_type", "code"),
                ("client_id", PUBLIC_ID),
                ("redirect_uri", PUBLIC_REDIRECT),
                ("scope", scope),
                ("state", STATE),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ])
            .await;
        query_params(&url).remove("code").expect("a code")
    }

    /// Redeems a confidential-client code.
    pub(crate) async fn redeem_conf(&self, code: &str, verifier: &str) -> OAuthResponse {
        self.post_token(
            CONF,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CONF_REDIRECT),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    /// The whole code flow for the confidential client; returns the token response.
    pub(crate) async fn conf_tokens(&self, scope: &str) -> Value {
        let pkce = PkcePair::new();
        let code = self.conf_code(scope, &pkce).await;
        let response = self.redeem_conf(&code, &pkce.verifier).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            body_text(&response)
        );
        json(&response)
    }

    /// Refreshes with the confidential client.
    pub(crate) async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> OAuthResponse {
        let mut params = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if let Some(scope) = scope {
            params.push(("scope", scope));
        }
        self.post_token(CONF, &params).await
    }

    /// Validates an access token with the server's resource protector.
    pub(crate) async fn validate(
        &self,
        access_token: &str,
        scope: &str,
    ) -> Result<TokenInfo, BearerError> {
        self.server
            .resource_protector()
            .validate_token(access_token, &Scope::parse(scope).unwrap())
            .await
    }

    pub(crate) async fn is_active(&self, access_token: &str) -> bool {
        match self.validate(access_token, "").await {
            Ok(_) => true,
            Err(BearerError::InvalidToken) => false,
            Err(other) => panic!("unexpected validation error {other:?}"),
        }
    }
}

pub(crate) fn confidential_client() -> ClientRecord {
    ClientRecord {
        client_id: CONF_ID.into(),
        client_secret_hash: Some(hash_secret(CONF_SECRET)),
        client_name: "Confidential web app".into(),
        redirect_uris: vec![CONF_REDIRECT.into(), CONF_REDIRECT_2.into()],
        scope: Scope::parse("read write profile").unwrap(),
        grant_types: strings(&[
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
        ]),
        response_types: strings(&["code", "token"]),
        token_endpoint_auth_method: "client_secret_basic".into(),
        audience: vec![],
        resource_server_audience: None,
    }
}

pub(crate) fn public_client() -> ClientRecord {
    ClientRecord {
        client_id: PUBLIC_ID.into(),
        client_secret_hash: None,
        client_name: "Native app".into(),
        redirect_uris: vec![PUBLIC_REDIRECT.into()],
        scope: Scope::parse("read profile").unwrap(),
        grant_types: strings(&["authorization_code", "refresh_token"]),
        response_types: strings(&["code", "token"]),
        token_endpoint_auth_method: "none".into(),
        audience: vec![],
        resource_server_audience: None,
    }
}

/// A confidential client like `conf-app`, with another id, secret and method.
pub(crate) fn other_client(
    client_id: &str,
    secret: &str,
    method: &str,
    grant_types: &[&str],
) -> ClientRecord {
    ClientRecord {
        client_id: client_id.into(),
        client_secret_hash: Some(hash_secret(secret)),
        client_name: client_id.into(),
        redirect_uris: vec![CONF_REDIRECT.into()],
        scope: Scope::parse("read write profile").unwrap(),
        grant_types: strings(grant_types),
        response_types: strings(&["code"]),
        token_endpoint_auth_method: method.into(),
        audience: vec![],
        resource_server_audience: None,
    }
}

pub(crate) fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// A PKCE verifier with 256 bits from the OS CSPRNG, and its S256 challenge.
pub(crate) struct PkcePair {
    pub(crate) verifier: String,
    pub(crate) challenge: String,
}

impl PkcePair {
    pub(crate) fn new() -> Self {
        let verifier = random_token(&OsRandom);
        let challenge = s256(&verifier);
        Self {
            verifier,
            challenge,
        }
    }
}

/// BASE64URL(SHA256(verifier)), computed here independently of the crate.
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub(crate) fn encode(params: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// `GET /authorize?params`.
pub(crate) fn authorize_request(params: &[(&str, &str)]) -> OAuthRequest {
    http::Request::get(format!("/authorize?{}", encode(params)))
        .body(Bytes::new())
        .unwrap()
}

/// `Authorization: Basic` with id and secret form-urlencoded first (RFC 6749 §2.3.1).
pub(crate) fn basic_header(client_id: &str, secret: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// A form POST to the token endpoint, authenticated with `auth`.
pub(crate) fn token_request(auth: Auth<'_>, params: &[(&str, &str)]) -> OAuthRequest {
    let mut params: Vec<(&str, &str)> = params.to_vec();
    let mut builder = http::Request::builder()
        .method(Method::POST)
        .uri("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    match auth {
        Auth::Basic(id, secret) => {
            builder = builder.header(header::AUTHORIZATION, basic_header(id, secret))
        }
        Auth::Post(id, secret) => {
            params.push(("client_id", id));
            params.push(("client_secret", secret));
        }
        Auth::Public(id) => params.push(("client_id", id)),
        Auth::Anonymous => {}
    }
    builder.body(Bytes::from(encode(&params))).unwrap()
}

pub(crate) fn json(response: &OAuthResponse) -> Value {
    serde_json::from_slice(response.body())
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", body_text(response)))
}

pub(crate) fn body_text(response: &OAuthResponse) -> String {
    String::from_utf8_lossy(response.body()).into_owned()
}

pub(crate) fn header_str(response: &OAuthResponse, name: header::HeaderName) -> Option<&str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Asserts a JSON token-endpoint error: status, code, a description, no-store.
pub(crate) fn assert_token_error(
    response: &OAuthResponse,
    status: StatusCode,
    code: &str,
) -> Value {
    assert_eq!(response.status(), status, "{}", body_text(response));
    assert_eq!(
        header_str(response, header::CONTENT_TYPE),
        Some("application/json")
    );
    assert_eq!(
        header_str(response, header::CACHE_CONTROL),
        Some("no-store")
    );
    assert_eq!(header_str(response, header::PRAGMA), Some("no-cache"));
    let body = json(response);
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "missing error_description: {body}"
    );
    body
}

/// Asserts `invalid_grant` (400).
pub(crate) fn assert_invalid_grant(response: &OAuthResponse) -> Value {
    assert_token_error(response, StatusCode::BAD_REQUEST, "invalid_grant")
}

/// The `Location` header of a redirect, parsed.
pub(crate) fn location(response: &OAuthResponse) -> Url {
    let value = header_str(response, header::LOCATION).expect("a Location header");
    Url::parse(value).unwrap_or_else(|e| panic!("Location '{value}' is not a URL: {e}"))
}

pub(crate) fn query_params(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

pub(crate) fn fragment_params(url: &Url) -> HashMap<String, String> {
    form_urlencoded::parse(url.fragment().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// A string field of a JSON body.
pub(crate) fn field<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("'{name}' missing in {body}"))
}
