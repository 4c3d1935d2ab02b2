//! Shared helpers: a server over `MemoryStore` with a `ManualClock`, two registered
//! clients, request builders and response parsers (redirects and form_post pages).

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http::{header, Method, StatusCode};
use portcullis_core::random::random_token;
use portcullis_core::{
    hash_secret, AuthorizationCodeGrant, AuthorizationServer, BearerError, BearerTokenGenerator,
    ClientCredentialsGrant, ClientRecord, EndpointName, ImplicitGrant, IntrospectionEndpoint,
    ManualClock, MemoryStore, MetadataEndpoint, OAuthError, OAuthRequest, OAuthResponse, OsRandom,
    PasswordGrant, Pkce, RefreshTokenGrant, RevocationEndpoint, Scope, TokenInfo,
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
    /// The issuer identifier; `None`: the server has none.
    pub(crate) issuer: Option<&'static str>,
    /// The introspection endpoint resolves usernames through the store.
    pub(crate) usernames: bool,
    /// OpenID Connect: ID tokens signed by these keys, and a UserInfo endpoint
    /// reading these claims.
    pub(crate) openid: Option<(
        Arc<dyn portcullis_core::jose::SigningKeys>,
        Arc<dyn portcullis_core::claims::ClaimsSource>,
    )>,
    /// Pairwise subjects for the clients that registered them.
    pub(crate) pairwise: Option<portcullis_core::subject::PairwiseSubjects>,
    /// How redirect URIs are matched beyond the exact rule.
    pub(crate) redirect_matching: portcullis_core::redirect_uri::RedirectUriMatching,
    /// Resource indicators (RFC 8707).
    pub(crate) resources: Option<portcullis_core::ResourceIndicators>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            pkce: Pkce::default(),
            refresh: true,
            password: false,
            implicit: false,
            bearer: None,
            issuer: Some(ISSUER),
            usernames: false,
            openid: None,
            pairwise: None,
            redirect_matching: Default::default(),
            resources: None,
        }
    }
}

pub(crate) struct TestServer {
    pub(crate) server: Arc<AuthorizationServer<MemoryStore>>,
    pub(crate) clock: Arc<ManualClock>,
}

impl TestServer {
    /// authorization_code (PKCE default), client_credentials, refresh_token; the
    /// revocation, introspection and metadata endpoints.
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
        let store = Arc::new(MemoryStore::new());
        store.insert_client(confidential_client()).unwrap();
        store.insert_client(public_client()).unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let mut server = AuthorizationServer::from_arc(store.clone()).with_clock(clock.clone());
        if let Some(issuer) = config.issuer {
            server = server.with_issuer(issuer);
        }
        if let Some(bearer) = config.bearer {
            server = server.with_bearer_tokens(bearer);
        }
        if let Some(pairwise) = config.pairwise {
            server = server.with_pairwise_subjects(pairwise);
        }
        server = server.with_redirect_uri_matching(config.redirect_matching);
        server.register_grant(AuthorizationCodeGrant::new().with_pkce(config.pkce));
        server.register_grant(ClientCredentialsGrant::new());
        if config.refresh {
            server.register_grant(RefreshTokenGrant::new());
        }
        if config.password {
            server.register_grant(PasswordGrant::new());
        }
        if config.implicit {
            server.register_grant(ImplicitGrant::new());
            server.register_grant(portcullis_core::OpenIdImplicitAndHybrid::new(
                AuthorizationCodeGrant::new().with_pkce(config.pkce),
            ));
        }
        if let Some(resources) = config.resources {
            server.register_extension(resources);
        }
        let mut introspection = IntrospectionEndpoint::new();
        if config.usernames {
            introspection = introspection.with_usernames(store);
        }
        server.register_endpoint(RevocationEndpoint::new());
        server.register_endpoint(introspection);
        server.register_endpoint(MetadataEndpoint::new());
        if let Some((keys, claims)) = config.openid {
            server.register_extension(
                portcullis_core::OpenIdConnect::new(keys.clone())
                    .with_claims_source(claims.clone()),
            );
            server.register_endpoint(
                portcullis_core::UserInfoEndpoint::new(claims).with_signed_responses(keys),
            );
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

    /// The whole code flow for the public client (S256 PKCE, client_id only at the
    /// token endpoint); returns the token response.
    pub(crate) async fn public_tokens(&self, scope: &str) -> Value {
        let pkce = PkcePair::new();
        let code = self.public_code(scope, &pkce).await;
        let response = self
            .post_token(
                PUBLIC,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", PUBLIC_REDIRECT),
                    ("code_verifier", &pkce.verifier),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            body_text(&response)
        );
        json(&response)
    }

    /// A client_credentials token for the confidential client `client_id`/`secret`
    /// (HTTP Basic).
    pub(crate) async fn client_credentials_token(
        &self,
        client_id: &str,
        secret: &str,
        scope: &str,
    ) -> String {
        let response = self
            .post_token(
                Auth::Basic(client_id, secret),
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            body_text(&response)
        );
        field(&json(&response), "access_token").to_owned()
    }

    /// The answer of the registered endpoint `name` to `request`.
    pub(crate) async fn endpoint(&self, name: &str, request: &OAuthRequest) -> OAuthResponse {
        self.server.create_endpoint_response(name, request).await
    }

    /// POSTs `params` to the revocation endpoint (RFC 7009) with `auth`.
    pub(crate) async fn revoke(&self, auth: Auth<'_>, params: &[(&str, &str)]) -> OAuthResponse {
        let request = form_request("/revoke", auth, params);
        self.endpoint(EndpointName::REVOCATION, &request).await
    }

    /// POSTs `params` to the introspection endpoint (RFC 7662) with `auth`.
    pub(crate) async fn introspect(
        &self,
        auth: Auth<'_>,
        params: &[(&str, &str)],
    ) -> OAuthResponse {
        let request = form_request("/introspect", auth, params);
        self.endpoint(EndpointName::INTROSPECTION, &request).await
    }

    /// The introspection response for `token` asked by the confidential client: 200,
    /// no-store, JSON.
    pub(crate) async fn introspect_ok(&self, auth: Auth<'_>, token: &str) -> Value {
        let response = self.introspect(auth, &[("token", token)]).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            body_text(&response)
        );
        assert_eq!(
            header_str(&response, header::CACHE_CONTROL),
            Some("no-store")
        );
        json(&response)
    }

    /// The authorization endpoint's answer as the client receives it: the response of
    /// a granted request, or the rendered error of a refused one (which must redirect).
    pub(crate) async fn authorize_response(
        &self,
        params: &[(&str, &str)],
        user: Option<&str>,
    ) -> OAuthResponse {
        match self.authorize(&authorize_request(params), user).await {
            Ok(response) => response,
            Err(error) => {
                assert!(
                    error.is_redirect(),
                    "expected a redirect error, got {error}"
                );
                error.into_response()
            }
        }
    }
}

pub(crate) fn confidential_client() -> ClientRecord {
    ClientRecord::new(CONF_ID)
        .with_secret_hash(hash_secret(CONF_SECRET))
        .with_name("Confidential web app")
        .with_redirect_uris(vec![CONF_REDIRECT, CONF_REDIRECT_2])
        .with_scope(Scope::parse("read write profile").unwrap())
        .with_grant_types(strings(&[
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
        ]))
        .with_response_types(strings(&["code", "token"]))
        .with_auth_method("client_secret_basic")
}

pub(crate) fn public_client() -> ClientRecord {
    ClientRecord::new(PUBLIC_ID)
        .with_name("Native app")
        .with_redirect_uris(vec![PUBLIC_REDIRECT])
        .with_scope(Scope::parse("read profile").unwrap())
        .with_grant_types(strings(&["authorization_code", "refresh_token"]))
        .with_response_types(strings(&["code", "token"]))
        .with_auth_method("none")
}

/// A confidential client like `conf-app`, with another id, secret and method.
pub(crate) fn other_client(
    client_id: &str,
    secret: &str,
    method: &str,
    grant_types: &[&str],
) -> ClientRecord {
    ClientRecord::new(client_id)
        .with_secret_hash(hash_secret(secret))
        .with_name(client_id)
        .with_redirect_uris(vec![CONF_REDIRECT])
        .with_scope(Scope::parse("read write profile").unwrap())
        .with_grant_types(strings(grant_types))
        .with_response_types(strings(&["code"]))
        .with_auth_method(method)
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
        let verifier = random_token(&OsRandom::default());
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
    form_request("/token", auth, params)
}

/// A form POST to `uri`, with the client authenticated with `auth` as at the token
/// endpoint (RFC 6749 §2.3.1).
pub(crate) fn form_request(uri: &str, auth: Auth<'_>, params: &[(&str, &str)]) -> OAuthRequest {
    let mut params: Vec<(&str, &str)> = params.to_vec();
    let mut builder = http::Request::builder()
        .method(Method::POST)
        .uri(uri)
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

/// Asserts a JSON answer of the revocation endpoint that did its job or revealed
/// nothing (RFC 7009 §2.2): `200`, no-store.
pub(crate) fn assert_revocation_ok(response: &OAuthResponse) {
    assert_eq!(response.status(), StatusCode::OK, "{}", body_text(response));
    assert_eq!(
        header_str(response, header::CACHE_CONTROL),
        Some("no-store")
    );
}

/// Reverses `html_escape` of the five characters HTML escapes.
pub(crate) fn html_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in the tag text `tag`, unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(html_unescape(&tag[start..start + len]))
}

/// What a form_post page (OAuth 2.0 Form Post Response Mode) delivers.
#[derive(Debug)]
pub(crate) struct FormPost {
    /// The page itself.
    pub(crate) html: String,
    /// The form's `action`, unescaped.
    pub(crate) action: String,
    /// The form's `method`.
    pub(crate) method: String,
    /// The hidden inputs, unescaped.
    pub(crate) params: HashMap<String, String>,
}

/// Parses a form_post page: `200`, HTML, one form, its hidden inputs.
pub(crate) fn form_post(response: &OAuthResponse) -> FormPost {
    assert_eq!(response.status(), StatusCode::OK, "{}", body_text(response));
    assert!(
        header_str(response, header::CONTENT_TYPE).is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        response.headers()
    );
    assert!(response.headers().get(header::LOCATION).is_none());
    let html = body_text(response);
    assert_eq!(html.matches("<form").count(), 1, "{html}");
    let form_start = html.find("<form").unwrap();
    let form_tag = &html[form_start..form_start + html[form_start..].find('>').unwrap()];
    let form_end = html.find("</form>").expect("a closed form");
    let mut params = HashMap::new();
    for (at, _) in html[form_start..form_end].match_indices("<input") {
        let at = form_start + at;
        let tag = &html[at..at + html[at..].find('>').unwrap()];
        if attribute(tag, "type").as_deref() != Some("hidden") {
            continue;
        }
        let name = attribute(tag, "name").expect("an input name");
        let value = attribute(tag, "value").expect("an input value");
        assert!(params.insert(name.clone(), value).is_none(), "{name} twice");
    }
    FormPost {
        action: attribute(form_tag, "action").expect("a form action"),
        method: attribute(form_tag, "method").expect("a form method"),
        params,
        html,
    }
}

/// Where the authorization response went and what it carried, whatever the response
/// mode: a `302` with parameters in the query or the fragment, or a form_post page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Query,
    Fragment,
    FormPost,
}

/// The parameters an authorization response (success or error) delivers, and how.
pub(crate) fn delivered(response: &OAuthResponse) -> (Delivery, HashMap<String, String>) {
    if response.status() == StatusCode::FOUND {
        let url = location(response);
        let query = query_params(&url);
        let fragment = fragment_params(&url);
        match (query.is_empty(), fragment.is_empty()) {
            (false, true) => (Delivery::Query, query),
            (true, false) => (Delivery::Fragment, fragment),
            _ => panic!("parameters in neither or both of query and fragment: {url}"),
        }
    } else {
        (Delivery::FormPost, form_post(response).params)
    }
}
