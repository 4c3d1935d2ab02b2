//! Our replay of the OpenID Foundation conformance test plans (issue 12): every module
//! of `oidcc-basic-certification-test-plan`, `oidcc-config-certification-test-plan` and
//! `oidcc-rp-initiated-logout-certification-test-plan` is one test here, named after the
//! module (`oidcc-prompt-none-not-logged-in` is [`oidcc_prompt_none_not_logged_in`]).
//!
//! Each test plays the suite's part: a relying party with the suite's static-client
//! setup (a confidential client authenticating with `client_secret_basic`, another
//! with `client_secret_post` for `oidcc-server-client-secret-post`, and a second client
//! for `oidcc-refresh-token`; PKCE optional for them, since the plan sends PKCE in its
//! PKCE module only), a user with every standard claim, and a browser that signs in
//! and consents. It drives `portcullis serve` in process over real sockets — discovery,
//! the authorization endpoint, the token endpoint, UserInfo, the JWK Set and the end
//! session endpoint — and checks what the module checks. Where the suite waits (one
//! second, two, thirty), the test moves the server's clock instead.
//!
//! Where the suite accepts either of two behaviours (an error page or an error
//! redirect; a request object processed or refused as unsupported), the test accepts
//! exactly the one this server has, so that a change of behaviour is noticed.

use std::collections::HashMap;
use std::sync::Arc;

use portcullis_core::extensions::openid::left_half_hash;
use portcullis_core::jose::{self, aws_lc_rs, Algorithm, JwkSet, KeySet, Validation};
use portcullis_core::{hash_secret, ClientRecord, Clock, ManualClock, Scope};
use portcullis_sql::NewUser;
use serde_json::{json, Map, Value};

use crate::support::*;

/// Where the suite's callbacks live (it registers `…/callback` for the client).
const CALLBACK: &str = "https://suite.example/test/a/portcullis/callback";
/// The post-logout redirect URI the suite registers.
const POST_LOGOUT: &str = "https://suite.example/test/a/portcullis/post_logout_redirect";
/// The scopes the static clients are registered for.
const SCOPES: &str = "openid profile email address phone offline_access";
const USER: &str = "buffy";
const USER_PASSWORD: &str = "buffy's long conformance password";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Auth {
    Basic,
    Post,
}

/// A static client of the suite's configuration.
#[derive(Clone, Copy, Debug)]
struct Rp {
    id: &'static str,
    secret: &'static str,
    auth: Auth,
}

/// The plan's client (`client_secret_basic`).
const CLIENT: Rp = Rp {
    id: "conformance-client",
    secret: "conformance-client-secret-3a9f2c71d04e",
    auth: Auth::Basic,
};
/// The client of `oidcc-server-client-secret-post`.
const POST_CLIENT: Rp = Rp {
    id: "conformance-post-client",
    secret: "conformance-post-secret-81b5e6f0c2d7",
    auth: Auth::Post,
};
/// The second client of `oidcc-refresh-token` (`client2` in the suite's configuration).
const CLIENT2: Rp = Rp {
    id: "conformance-client-2",
    secret: "conformance-client2-secret-5d7e1a9b3c60",
    auth: Auth::Basic,
};

fn record(rp: Rp) -> ClientRecord {
    let mut metadata = portcullis_core::ClientMetadata::new();
    metadata.post_logout_redirect_uris = vec![POST_LOGOUT.into()];
    // The suite's static client sends PKCE only in its PKCE module.
    metadata
        .extras
        .insert_raw(portcullis_core::extensions::REQUIRE_PKCE, false.into());
    ClientRecord::new(rp.id)
        .with_secret_hash(hash_secret(rp.secret))
        .with_name("OpenID conformance suite")
        .with_redirect_uris(vec![CALLBACK])
        .with_scope(Scope::parse(SCOPES).unwrap())
        .with_grant_types(vec!["authorization_code", "refresh_token"])
        .with_response_types(vec!["code"])
        .with_auth_method(match rp.auth {
            Auth::Basic => "client_secret_basic",
            Auth::Post => "client_secret_post",
        })
        .with_metadata(metadata)
}

/// The user, with every standard claim of OpenID Connect Core §5.1.
fn user() -> NewUser {
    let claims = json!({
        "given_name": "Buffy",
        "family_name": "Summers",
        "middle_name": "Anne",
        "nickname": "Buff",
        "profile": "https://sunnydale.example/buffy",
        "picture": "https://sunnydale.example/buffy.png",
        "website": "https://sunnydale.example",
        "gender": "female",
        "birthdate": "1981-01-19",
        "zoneinfo": "America/Los_Angeles",
        "locale": "en-US",
        "updated_at": 1_700_000_000,
        "email_verified": true,
        "phone_number": "+1 555 0100",
        "phone_number_verified": false,
        "address": {
            "formatted": "1630 Revello Drive\nSunnydale, CA 95037\nUSA",
            "street_address": "1630 Revello Drive",
            "locality": "Sunnydale",
            "region": "CA",
            "postal_code": "95037",
            "country": "USA"
        }
    });
    NewUser::new(USER, USER_PASSWORD)
        .with_email(Some("buffy@sunnydale.example".into()))
        .with_name(Some("Buffy Summers".into()))
        .with_claims(claims.as_object().unwrap().clone())
}

/// The provider under test, with a clock the test moves.
struct Op {
    server: TestServer,
    db: TestDb,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
}

impl Op {
    async fn start() -> Op {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut portcullis_server::Config)) -> Op {
        let db = TestDb::sqlite();
        let store = seed(&db).await;
        for rp in [CLIENT, POST_CLIENT, CLIENT2] {
            store.insert_client(&record(rp)).await.unwrap();
        }
        store.create_user(user()).await.unwrap();
        let clock = Arc::new(ManualClock::new(portcullis_core::SystemClock.now()));
        let server = TestServer::start_with_clock(
            &db,
            store,
            |config| {
                config.metadata.scopes_supported =
                    Some(SCOPES.split(' ').map(str::to_owned).collect());
                tweak(config);
            },
            clock.clone(),
        )
        .await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Op {
            server,
            db,
            clock,
            http,
        }
    }

    fn base(&self) -> &str {
        &self.server.base
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The discovery document (GetDynamicServerConfiguration).
    async fn discovery(&self) -> Value {
        let response = self
            .http
            .get(self.server.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "EnsureDiscoveryEndpointResponseStatusCodeIs200"
        );
        assert_json(&response);
        response.json().await.unwrap()
    }

    /// The server's JWK Set, fetched from `jwks_uri` and checked as the suite checks it
    /// (FetchServerKeys, ValidateJwksSequence, CheckForKeyIdInServerJWKs,
    /// CheckDistinctKeyIdValueInServerJWKs).
    async fn jwks(&self) -> JwkSet {
        let discovery = self.discovery().await;
        let response = self
            .http
            .get(discovery["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let raw: Value = response.json().await.unwrap();
        let keys = raw["keys"].as_array().expect("a keys array");
        assert!(!keys.is_empty(), "the JWK Set has keys");
        let mut kids = Vec::new();
        for key in keys {
            assert!(key["kty"].is_string(), "kty: {key}");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(
                    key.get(private).is_none(),
                    "no private part {private}: {key}"
                );
            }
            let kid = key["kid"]
                .as_str()
                .unwrap_or_else(|| panic!("a kid: {key}"));
            assert!(!kids.contains(&kid), "distinct kid values: {kid}");
            kids.push(kid);
            if let Some(usage) = key.get("use") {
                assert_eq!(usage, "sig", "{key}");
            }
        }
        serde_json::from_value(raw).unwrap()
    }

    async fn finish(self) {
        self.db.drop_db().await;
    }
}

/// The suite's `CheckDiscoveryEndpointReturnedJsonContentType` and friends.
fn assert_json(response: &reqwest::Response) {
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "a JSON content type, got {content_type:?}"
    );
}

fn random(len: usize) -> String {
    portcullis_core::random::random_string(&portcullis_core::OsRandom::default(), len)
}

/// An authorization request as CreateAuthorizationEndpointRequestFromClientInformation
/// builds it: response_type, client_id, scope, redirect_uri, then a random state and
/// nonce.
#[derive(Clone, Debug)]
struct AuthRequest {
    params: Vec<(String, String)>,
}

impl AuthRequest {
    fn new(rp: Rp) -> AuthRequest {
        AuthRequest {
            params: vec![
                ("client_id".into(), rp.id.into()),
                ("redirect_uri".into(), CALLBACK.into()),
                ("scope".into(), "openid".into()),
                ("state".into(), random(16)),
                ("nonce".into(), random(16)),
                ("response_type".into(), "code".into()),
            ],
        }
    }

    fn set(mut self, name: &str, value: &str) -> AuthRequest {
        match self.params.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.params.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    fn without(mut self, name: &str) -> AuthRequest {
        self.params.retain(|(k, _)| k != name);
        self
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.params)
            .finish()
    }

    fn url(&self, op: &Op) -> String {
        op.server.url(&format!("/authorize?{}", self.query()))
    }
}

/// What a browser sent through the authorization endpoint brought back.
struct Authorized {
    /// The parameters of the redirect to the client.
    params: HashMap<String, String>,
    /// Whether the sign-in page was shown on the way.
    signed_in: bool,
    /// How many pages (sign-in, consent) were shown on the way.
    pages: usize,
}

/// Takes `browser` from `response` (at `at`) through the sign-in and consent pages, as
/// the person at the keyboard would, to the redirect to the client.
async fn through_pages(
    op: &Op,
    browser: &reqwest::Client,
    mut response: reqwest::Response,
    mut at: String,
) -> Authorized {
    let base = op.base().to_owned();
    let mut signed_in = false;
    let mut pages = 0;
    for _ in 0..4 {
        if response.status() != 200 {
            break;
        }
        pages += 1;
        let html = response.text().await.unwrap();
        let form = parse_form(&html);
        let next = if at.contains("/login") {
            signed_in = true;
            submit(
                browser,
                &base,
                &form,
                &[("username", USER), ("password", USER_PASSWORD)],
            )
            .await
        } else if at.contains("/consent") {
            submit(browser, &base, &form, &[("decision", "allow")]).await
        } else {
            panic!("an unexpected page at {at}: {html}");
        };
        assert!(next.status().is_redirection(), "{at}: {}", next.status());
        let target = location(&base, &next);
        if target.starts_with(&base) {
            (response, at) = follow(browser, &base, target).await;
        } else {
            response = next;
        }
    }
    let target = location(&base, &response);
    assert!(
        target.starts_with(CALLBACK),
        "the authorization ends at the client: {target}"
    );
    // A code flow answers in the query (RejectAuthCodeInUrlFragment's counterpart).
    assert!(!target.contains('#'), "nothing in a fragment: {target}");
    Authorized {
        params: query(&target),
        signed_in,
        pages,
    }
}

/// A GET of `request` by `browser`, through the pages, to the client's callback.
async fn authorize(op: &Op, browser: &reqwest::Client, request: &AuthRequest) -> Authorized {
    let (response, at) = follow(browser, op.base(), request.url(op)).await;
    through_pages(op, browser, response, at).await
}

/// The checks of every authorization response (CheckMatchingCallbackParameters,
/// ValidateIssIfPresentInAuthorizationResponse, CheckIfAuthorizationEndpointError,
/// CheckStateInAuthorizationResponse, ExtractAuthorizationCodeFromAuthorizationResponse);
/// returns the code.
fn expect_code(op: &Op, request: &AuthRequest, authorized: &Authorized) -> String {
    let params = &authorized.params;
    assert!(
        params.get("error").is_none(),
        "CheckIfAuthorizationEndpointError: {params:?}"
    );
    assert_eq!(
        params.get("state").map(String::as_str),
        request.get("state")
    );
    if let Some(iss) = params.get("iss") {
        assert_eq!(
            iss,
            op.base(),
            "ValidateIssIfPresentInAuthorizationResponse"
        );
    }
    params
        .get("code")
        .unwrap_or_else(|| panic!("a code: {params:?}"))
        .clone()
}

/// The checks of an authorization error response
/// (performGenericAuthorizationEndpointErrorResponseValidation); returns the error.
fn expect_error(op: &Op, request: &AuthRequest, params: &HashMap<String, String>) -> String {
    assert_eq!(
        params.get("state").map(String::as_str),
        request.get("state"),
        "CheckStateInAuthorizationResponse"
    );
    if let Some(iss) = params.get("iss") {
        assert_eq!(
            iss,
            op.base(),
            "ValidateIssIfPresentInAuthorizationResponse"
        );
    }
    assert!(
        params.get("code").is_none(),
        "RejectAuthCodeInAuthorizationEndpointResponse: {params:?}"
    );
    for key in params.keys() {
        assert!(
            ["error", "error_description", "error_uri", "state", "iss"].contains(&key.as_str()),
            "CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint: {key}"
        );
    }
    if let Some(description) = params.get("error_description") {
        assert_error_text(description);
    }
    params
        .get("error")
        .unwrap_or_else(|| panic!("EnsureErrorFromAuthorizationEndpointResponse: {params:?}"))
        .clone()
}

/// RFC 6749 §4.1.2.1 / §5.2: error and error_description use %x20-21 / %x23-5B /
/// %x5D-7E only (ValidateErrorDescription…, CheckErrorDescription…ContainsCRLFTAB).
fn assert_error_text(text: &str) {
    assert!(
        text.chars()
            .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
        "error text outside the RFC 6749 character set: {text:?}"
    );
}

/// The user-interface errors CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface
/// permits.
const USER_INTERFACE_ERRORS: [&str; 4] = [
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
];

/// A token endpoint request by `rp`, authenticating as its method says.
async fn token_request(op: &Op, rp: Rp, form: &[(&str, &str)]) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let request = op.http.post(op.server.url("/token"));
    let request = match rp.auth {
        Auth::Basic => request.basic_auth(rp.id, Some(rp.secret)),
        Auth::Post => {
            form.push(("client_id", rp.id));
            form.push(("client_secret", rp.secret));
            request
        }
    };
    request.form(&form).send().await.unwrap()
}

/// The successful-response checks of the token endpoint (CheckTokenEndpointHttpStatus200,
/// CheckTokenEndpointReturnedJsonContentType, CheckTokenEndpointCacheHeaders,
/// CheckForAccessTokenValue, CheckTokenTypeIsBearer, ValidateExpiresIn,
/// EnsureAccessTokenContainsAllowedCharactersOnly).
async fn expect_tokens(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200, "CheckTokenEndpointHttpStatus200");
    assert_json(&response);
    let cache = response.headers().get("cache-control").unwrap();
    assert!(cache.to_str().unwrap().contains("no-store"), "{cache:?}");
    let body: Value = response.json().await.unwrap();
    let access_token = body["access_token"].as_str().expect("access_token");
    assert!(
        access_token.chars().all(|c| ('\x20'..='\x7e').contains(&c)),
        "RFC 6749 A.12"
    );
    assert!(
        body["token_type"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("bearer"),
        "{body}"
    );
    if let Some(expires_in) = body.get("expires_in") {
        assert!(
            expires_in.as_u64().unwrap() > 0,
            "ValidateExpiresIn: {body}"
        );
    }
    if let Some(refresh) = body.get("refresh_token") {
        assert!(
            refresh
                .as_str()
                .unwrap()
                .chars()
                .all(|c| ('\x20'..='\x7e').contains(&c)),
            "EnsureRefreshTokenContainsAllowedCharactersOnly"
        );
    }
    body
}

/// Redeems `code` for `rp` (CreateTokenEndpointRequestForAuthorizationCodeGrant).
async fn redeem(op: &Op, rp: Rp, code: &str) -> Value {
    expect_tokens(
        token_request(
            op,
            rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
            ],
        )
        .await,
    )
    .await
}

/// The token endpoint's error checks (CheckTokenEndpointHttpStatus400,
/// CheckTokenEndpointReturnedJsonContentType,
/// CheckErrorFromTokenEndpointResponseErrorInvalidGrant, ValidateError…FromTokenEndpoint…).
async fn expect_invalid_grant(response: reqwest::Response) {
    assert_eq!(response.status(), 400, "CheckTokenEndpointHttpStatus400");
    assert_json(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    if let Some(description) = body.get("error_description") {
        assert_error_text(description.as_str().unwrap());
    }
    if let Some(uri) = body.get("error_uri") {
        url::Url::parse(uri.as_str().unwrap()).expect("error_uri is a URL");
    }
}

/// The header of a JWT, unverified.
fn jwt_part(jwt: &str, index: usize) -> Map<String, Value> {
    use base64::Engine as _;
    let part = jwt.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// A verified ID token: its header and claims.
struct IdToken {
    raw: String,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl IdToken {
    fn auth_time(&self) -> Option<i64> {
        self.claims.get("auth_time").map(|t| t.as_i64().unwrap())
    }

    fn sub(&self) -> &str {
        self.claims["sub"].as_str().unwrap()
    }
}

/// The ID token of `tokens`, through PerformStandardIdTokenChecks: ValidateIdToken
/// (iss, aud, azp, exp, iat), ValidateIdTokenStandardClaims, ValidateIdTokenNonce,
/// ValidateIdTokenSignature (against the served JWK Set), CheckForSubjectInIdToken,
/// EnsureIdTokenUpdatedAtValid — and at_hash when present (ValidateAtHash).
async fn check_id_token(op: &Op, rp: Rp, tokens: &Value, nonce: Option<&str>) -> IdToken {
    let raw = tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("ExtractIdTokenFromTokenResponse: {tokens}"))
        .to_owned();
    let set = op.jwks().await;
    let keys = KeySet::from_jwk_set(&aws_lc_rs::provider(), &set, &Algorithm::ALL);
    let verified = jose::verify(
        &raw,
        &keys,
        &Validation::new(op.now())
            .with_issuer(op.base().to_owned())
            .with_audience([rp.id]),
    )
    .unwrap_or_else(|e| panic!("ValidateIdTokenSignature / ValidateIdToken: {e}"));
    let claims = verified.claims;
    let now = op.now();
    assert_eq!(claims["iss"], op.base());
    match &claims["aud"] {
        Value::String(aud) => assert_eq!(aud, rp.id),
        Value::Array(auds) => {
            assert!(auds.contains(&Value::from(rp.id)));
            if auds.len() > 1 {
                assert_eq!(claims["azp"], rp.id, "azp with several audiences");
            }
        }
        other => panic!("aud: {other}"),
    }
    if let Some(azp) = claims.get("azp") {
        assert_eq!(azp, rp.id);
    }
    let exp = claims["exp"].as_i64().expect("exp is a number");
    assert!(exp > now, "not expired");
    let iat = claims["iat"].as_i64().expect("iat is a number");
    assert!(
        iat <= now + 300 && iat > now - 300,
        "iat is now: {iat} vs {now}"
    );
    if let Some(auth_time) = claims.get("auth_time") {
        let auth_time = auth_time.as_i64().expect("auth_time is a number");
        assert!(auth_time <= now + 300, "auth_time not in the future");
    }
    let sub = claims["sub"].as_str().expect("CheckForSubjectInIdToken");
    assert!(
        !sub.is_empty() && sub.len() <= 255 && sub.is_ascii(),
        "{sub}"
    );
    match nonce {
        Some(nonce) => assert_eq!(claims["nonce"], nonce, "ValidateIdTokenNonce"),
        None => assert!(claims.get("nonce").is_none(), "no nonce was sent"),
    }
    assert_standard_claims(&claims);
    if let Some(at_hash) = claims.get("at_hash") {
        let access_token = tokens["access_token"].as_str().unwrap();
        assert_eq!(
            *at_hash,
            Value::from(left_half_hash(verified.algorithm, access_token)),
            "ValidateAtHash"
        );
    }
    IdToken {
        header: jwt_part(&raw, 0),
        raw,
        claims,
    }
}

/// ValidateUserInfoStandardClaims / ValidateIdTokenStandardClaims: the standard claims
/// present have their §5.1 types; EnsureUserInfoUpdatedAtValid.
fn assert_standard_claims(claims: &Map<String, Value>) {
    for (name, value) in claims {
        let ok = match name.as_str() {
            "sub" | "name" | "given_name" | "family_name" | "middle_name" | "nickname"
            | "preferred_username" | "profile" | "picture" | "website" | "email" | "gender"
            | "birthdate" | "zoneinfo" | "locale" | "phone_number" => value.is_string(),
            "email_verified" | "phone_number_verified" => value.is_boolean(),
            "updated_at" => value.is_i64() || value.is_u64(),
            "address" => value.as_object().is_some_and(|a| {
                a.iter().all(|(k, v)| {
                    [
                        "formatted",
                        "street_address",
                        "locality",
                        "region",
                        "postal_code",
                        "country",
                    ]
                    .contains(&k.as_str())
                        && v.is_string()
                })
            }),
            _ => true,
        };
        assert!(ok, "the standard claim {name} has the wrong type: {value}");
    }
}

/// The UserInfo endpoint, GET with the token in the header (CallUserInfoEndpoint).
async fn userinfo_get(op: &Op, access_token: &str) -> reqwest::Response {
    op.http
        .get(op.server.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

/// A successful UserInfo response: 200, JSON, EnsureUserInfoContainsSub, standard
/// claim types, the ID token's subject (VerifyUserInfoAndIdTokenInTokenEndpointSameSub).
async fn expect_userinfo(response: reqwest::Response, id_token: &IdToken) -> Map<String, Value> {
    assert_eq!(response.status(), 200, "EnsureHttpStatusCodeIs200");
    assert_json(&response);
    let info: Map<String, Value> = response.json().await.unwrap();
    assert_eq!(info["sub"], id_token.sub(), "the ID token's subject");
    assert_standard_claims(&info);
    info
}

/// One whole flow of AbstractOIDCCServerTest for `request`: authorization through the
/// pages, the code redeemed, the ID token checked, and the protected resource (UserInfo)
/// called with the access token.
struct Flow {
    tokens: Value,
    id_token: IdToken,
    signed_in: bool,
    pages: usize,
}

async fn flow(op: &Op, browser: &reqwest::Client, rp: Rp, request: &AuthRequest) -> Flow {
    let authorized = authorize(op, browser, request).await;
    let code = expect_code(op, request, &authorized);
    let tokens = redeem(op, rp, &code).await;
    let id_token = check_id_token(op, rp, &tokens, request.get("nonce")).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    expect_userinfo(userinfo_get(op, access_token).await, &id_token).await;
    Flow {
        tokens,
        id_token,
        signed_in: authorized.signed_in,
        pages: authorized.pages,
    }
}

/// The checks of the start of every module (CheckServerConfiguration, FetchServerKeys,
/// and the client authentication method of the variant being supported).
async fn configure(op: &Op, rp: Rp) {
    let discovery = op.discovery().await;
    for member in ["issuer", "authorization_endpoint", "token_endpoint"] {
        assert!(
            discovery[member].is_string(),
            "CheckServerConfiguration: {member}"
        );
    }
    let method = match rp.auth {
        Auth::Basic => "client_secret_basic",
        Auth::Post => "client_secret_post",
    };
    let methods = discovery["token_endpoint_auth_methods_supported"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![Value::from("client_secret_basic")]);
    assert!(
        methods.contains(&Value::from(method)),
        "EnsureServerConfigurationSupports {method}: {methods:?}"
    );
    op.jwks().await;
}

// ---------------------------------------------------------------------------------
// oidcc-basic-certification-test-plan (variant: code, client_secret_basic, default
// response mode, static client — except oidcc-server-client-secret-post).
// ---------------------------------------------------------------------------------

/// `oidcc-server`: the happy flow, with the c_hash/at_hash checks of the ID token.
#[tokio::test]
async fn oidcc_server() {
    let op = Op::start().await;
    configure(&op, CLIENT).await;
    let browser = browser();
    let request = AuthRequest::new(CLIENT);
    let flow = flow(&op, &browser, CLIENT, &request).await;
    assert!(flow.signed_in, "a fresh browser signs in");
    assert!(
        flow.tokens.get("expires_in").is_some(),
        "expires_in (a warning when missing)"
    );
    // c_hash is for ID tokens of the authorization endpoint; when the token endpoint's
    // has one it must be right, and this server sends none.
    assert!(flow.id_token.claims.get("c_hash").is_none());
    op.finish().await;
}

/// `oidcc-response-type-missing`: a request without response_type gets an error page,
/// or an error redirect of `invalid_request` / `unsupported_response_type` (this server
/// redirects, its client and redirect URI being verified).
#[tokio::test]
async fn oidcc_response_type_missing() {
    let op = Op::start().await;
    let request = AuthRequest::new(CLIENT).without("response_type");
    let response = browser().get(request.url(&op)).send().await.unwrap();
    // This server answers the client (its redirect URI is verified) with invalid_request.
    assert_eq!(response.status(), 302, "an error redirect");
    let params = query(&location(op.base(), &response));
    let error = expect_error(&op, &request, &params);
    // CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrUnsupportedResponseType
    // accepts either; this server says invalid_request.
    assert_eq!(error, "invalid_request");
    assert!(params["error_description"].contains("response_type"));
    op.finish().await;
}

/// `oidcc-idtoken-signature`: a client that names no algorithm gets RS256 ID tokens with
/// a `kid` (EnsureIdTokenContainsKid, EnsureIdTokenSignatureIsRS256). The suite runs it
/// for dynamically registered clients only; our static client registered no algorithm,
/// which is the case the module is about.
#[tokio::test]
async fn oidcc_idtoken_signature() {
    let op = Op::start().await;
    let browser = browser();
    let flow = flow(&op, &browser, CLIENT, &AuthRequest::new(CLIENT)).await;
    assert_eq!(flow.id_token.header["alg"], "RS256");
    let kid = flow.id_token.header["kid"].as_str().expect("a kid");
    let set: Value = serde_json::to_value(op.jwks().await).unwrap();
    assert!(
        set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid),
        "the kid names a served key"
    );
    op.finish().await;
}

/// `oidcc-idtoken-unsigned`: skipped by the suite when
/// `id_token_signing_alg_values_supported` lacks `none` (and for static clients
/// altogether). This server never issues unsigned ID tokens: the test checks the skip
/// condition holds and that the ID token is signed.
#[tokio::test]
async fn oidcc_idtoken_unsigned() {
    let op = Op::start().await;
    let discovery = op.discovery().await;
    let algs = discovery["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(
        !algs.contains(&Value::from("none")),
        "none is not offered: {algs:?}"
    );
    let browser = browser();
    let flow = flow(&op, &browser, CLIENT, &AuthRequest::new(CLIENT)).await;
    assert_ne!(flow.id_token.header["alg"], "none");
    assert!(!flow.id_token.raw.ends_with('.'), "a signature");
    op.finish().await;
}

/// `oidcc-userinfo-get`: GET with the bearer token in the header.
#[tokio::test]
async fn oidcc_userinfo_get() {
    let op = Op::start().await;
    let browser = browser();
    let request = AuthRequest::new(CLIENT).set("scope", "openid profile email");
    let flow = flow(&op, &browser, CLIENT, &request).await;
    let token = flow.tokens["access_token"].as_str().unwrap();
    let info = expect_userinfo(userinfo_get(&op, token).await, &flow.id_token).await;
    assert_eq!(info["name"], "Buffy Summers");
    op.finish().await;
}

/// `oidcc-userinfo-post-header`: POST with the bearer token in the header.
#[tokio::test]
async fn oidcc_userinfo_post_header() {
    let op = Op::start().await;
    let browser = browser();
    let request = AuthRequest::new(CLIENT).set("scope", "openid email");
    let flow = flow(&op, &browser, CLIENT, &request).await;
    let token = flow.tokens["access_token"].as_str().unwrap();
    let response = op
        .http
        .post(op.server.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let info = expect_userinfo(response, &flow.id_token).await;
    assert_eq!(info["email"], "buffy@sunnydale.example");
    op.finish().await;
}

/// `oidcc-userinfo-post-body`: POST with the token in the form body (RFC 6750 §2.2).
/// Servers need not support it (the suite warns on an HTTP error); this one does.
#[tokio::test]
async fn oidcc_userinfo_post_body() {
    let op = Op::start().await;
    let browser = browser();
    let request = AuthRequest::new(CLIENT).set("scope", "openid email");
    let flow = flow(&op, &browser, CLIENT, &request).await;
    let token = flow.tokens["access_token"].as_str().unwrap();
    let response = op
        .http
        .post(op.server.url("/userinfo"))
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    let info = expect_userinfo(response, &flow.id_token).await;
    assert_eq!(info["email"], "buffy@sunnydale.example");
    op.finish().await;
}

/// `oidcc-ensure-request-without-nonce-succeeds-for-code-flow`: no nonce, and still a
/// code (the module stops at the code).
#[tokio::test]
async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow() {
    let op = Op::start().await;
    let request = AuthRequest::new(CLIENT).without("nonce");
    let authorized = authorize(&op, &browser(), &request).await;
    let code = expect_code(&op, &request, &authorized);
    // Beyond the module: the ID token then carries no nonce.
    let tokens = redeem(&op, CLIENT, &code).await;
    check_id_token(&op, CLIENT, &tokens, None).await;
    op.finish().await;
}

/// The scope modules (AbstractOIDCCReturnedClaimsServerTest): skipped unless
/// `scopes_supported` lists the scopes; otherwise the flow, then UserInfo with the
/// scopes' claims (VerifyScopesReturnedInUserInfoClaims).
async fn scope_module(scope: &str, expected: &[&str]) {
    let op = Op::start().await;
    let discovery = op.discovery().await;
    let supported = discovery["scopes_supported"].as_array().unwrap();
    for token in scope.split(' ') {
        assert!(
            supported.contains(&Value::from(token)),
            "OIDCCCheckScopesSupportedContainScopeTest: {token}"
        );
    }
    let browser = browser();
    let request = AuthRequest::new(CLIENT).set("scope", scope);
    let flow = flow(&op, &browser, CLIENT, &request).await;
    let token = flow.tokens["access_token"].as_str().unwrap();
    let info = expect_userinfo(userinfo_get(&op, token).await, &flow.id_token).await;
    for claim in expected {
        assert!(info.contains_key(*claim), "{scope}: {claim} in {info:?}");
    }
    op.finish().await;
}

const PROFILE_CLAIMS: &[&str] = &[
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];

/// `oidcc-scope-profile`.
#[tokio::test]
async fn oidcc_scope_profile() {
    scope_module("openid profile", PROFILE_CLAIMS).await;
}

/// `oidcc-scope-email`.
#[tokio::test]
async fn oidcc_scope_email() {
    scope_module("openid email", &["email", "email_verified"]).await;
}

/// `oidcc-scope-address`.
#[tokio::test]
async fn oidcc_scope_address() {
    scope_module("openid address", &["address"]).await;
}

/// `oidcc-scope-phone`.
#[tokio::test]
async fn oidcc_scope_phone() {
    scope_module("openid phone", &["phone_number", "phone_number_verified"]).await;
}

/// `oidcc-scope-all`: address, email, phone and profile at once.
#[tokio::test]
async fn oidcc_scope_all() {
    let mut all = PROFILE_CLAIMS.to_vec();
    all.extend([
        "email",
        "email_verified",
        "address",
        "phone_number",
        "phone_number_verified",
    ]);
    scope_module("openid address email phone profile", &all).await;
}

/// `oidcc-alternate-happy-flow`: the scope's tokens reversed and the query parameters
/// in another order.
#[tokio::test]
async fn oidcc_alternate_happy_flow() {
    let op = Op::start().await;
    let mut request = AuthRequest::new(CLIENT).set("scope", "phone address email profile openid");
    request.params.reverse();
    let flow = flow(&op, &browser(), CLIENT, &request).await;
    assert!(flow.signed_in);
    op.finish().await;
}

/// `oidcc-display-page` and `oidcc-display-popup`: `display` must not cause an error;
/// the sign-in page is shown as usual.
async fn display_module(display: &str) {
    let op = Op::start().await;
    let request = AuthRequest::new(CLIENT).set("display", display);
    let flow = flow(&op, &browser(), CLIENT, &request).await;
    assert!(flow.signed_in, "the sign-in page was shown");
    op.finish().await;
}

/// `oidcc-display-page`.
#[tokio::test]
async fn oidcc_display_page() {
    display_module("page").await;
}

/// `oidcc-display-popup`.
#[tokio::test]
async fn oidcc_display_popup() {
    display_module("popup").await;
}

/// `oidcc-prompt-login`: after a first authorization, a second with prompt=login (one
/// second later) shows the sign-in page again (ExpectSecondLoginPage) and its
/// auth_time is later (CheckSecondIdTokenAuthTimeIsLaterIfPresent).
#[tokio::test]
async fn oidcc_prompt_login() {
    let op = Op::start().await;
    let browser = browser();
    let first = flow(&op, &browser, CLIENT, &AuthRequest::new(CLIENT)).await;
    op.clock.advance(1);
    let request = AuthRequest::new(CLIENT).set("prompt", "login");
    let second = flow(&op, &browser, CLIENT, &request).await;
    assert!(second.signed_in, "the sign-in page was shown again");
    assert!(
        second.id_token.auth_time().unwrap() > first.id_token.auth_time().unwrap(),
        "a later auth_time"
    );
    op.finish().await;
}

/// `oidcc-prompt-none-not-logged-in`: prompt=none with nobody signed in redirects back
/// with an error that needs a user interface.
#[tokio::test]
async fn oidcc_prompt_none_not_logged_in() {
    let op = Op::start().await;
    let request = AuthRequest::new(CLIENT).set("prompt", "none");
    let response = browser().get(request.url(&op)).send().await.unwrap();
    assert_eq!(response.status(), 302, "a redirect, no page");
    let target = location(op.base(), &response);
    assert!(target.starts_with(CALLBACK), "{target}");
    let error = expect_error(&op, &request, &query(&target));
    assert!(USER_INTERFACE_ERRORS.contains(&error.as_str()), "{error}");
    op.finish().await;
}

/// The second-authorization checks of AbstractOIDCCSameAuthTwiceServerTest
/// (CheckIdTokenAuthTimeClaimsSameIfPresent, CheckIdTokenSubConsistentForSecondAuthorization).
fn same_authentication(first: &IdToken, second: &IdToken) {
    assert_eq!(first.sub(), second.sub(), "the same subject");
    if let (Some(a), Some(b)) = (first.auth_time(), second.auth_time()) {
        assert_eq!(a, b, "the same auth_time");
    }
}

/// `oidcc-prompt-none-logged-in`: signed in, a second authorization with prompt=none
/// is answered without the sign-in page, for the same subject and sign-in.
#[tokio::test]
async fn oidcc_prompt_none_logged_in() {
    let op = Op::start().await;
    let browser = browser();
    let first = flow(&op, &browser, CLIENT, &AuthRequest::new(CLIENT)).await;
    let request = AuthRequest::new(CLIENT).set("prompt", "none");
    let second = flow(&op, &browser, CLIENT, &request).await;
    assert_eq!(second.pages, 0, "answered at once, no page");
    same_authentication(&first.id_token, &second.id_token);
    op.finish().await;
}

/// `oidcc-max-age-1`: two seconds after a first authorization, max_age=1 makes the
/// server ask for a sign-in again (ExpectSecondLoginPage) and send auth_time
/// (CheckIdTokenAuthTimeClaimPresentDueToMaxAge), later than the first
/// (CheckSecondIdTokenAuthTimeIsLaterIfPresent) and recent
/// (CheckIdTokenAuthTimeIsRecentIfPresent). The suite waits two seconds; the test moves
/// the server's clock.
#[tokio::test]
async fn oidcc_max_age_1() {
    let op = Op::start().await;
    let browser = browser();
    let first = flow(&op, &browser, CLIENT, &AuthRequest::new(CLIENT)).await;
    op.clock.advance(2);
    let request = AuthRequest::new(CLIENT).set("max_age", "1");
    let second = flow(&op, &browser, CLIENT, &request).await;
    assert!(second.signed_in, "the sign-in page was shown again");
    let auth_time = second
        .id_token
        .auth_time()
        .expect("auth_time, as max_age was sent");
    if let Some(before) = first.id_token.auth_time() {
        assert!(auth_time > before, "{auth_time} > {before}");
    }
    assert!(auth_time >= op.now() - 1 - 300, "recent");
    op.finish().await;
}

/// `oidcc-max-age-10000`: a first authorization with max_age=15000 (so auth_time is
/// required), then max_age=10000 is answered without a sign-in, for the same subject
/// and auth_time.
#[tokio::test]
async fn oidcc_max_age_10000() {
    let op = Op::start().await;
    let browser = browser();
    let request = AuthRequest::new(CLIENT).set("max_age", "15000");
    let first = flow(&op, &browser, CLIENT, &request).await;
    assert!(
        first.id_token.auth_time().is_some(),
        "auth_time, as max_age was sent"
    );
    let request = AuthRequest::new(CLIENT).set("max_age", "10000");
    let second = flow(&op, &browser, CLIENT, &request).await;
    assert!(!second.signed_in, "no second sign-in");
    assert!(second.id_token.auth_time().is_some());
    same_authentication(&first.id_token, &second.id_token);
    op.finish().await;
}

/// `oidcc-ensure-request-with-unknown-parameter-succeeds`: extra=foobar is ignored.
#[tokio::test]
async fn oidcc_ensure_request_with_unknown_parameter_succeeds() {
    let op = Op::start().await;
    let request = AuthRequest::new(CLIENT).set("extra", "foobar");
    flow(&op, &browser(), CLIENT, &request).await;
    op.finish().await;
}

/// `oidcc-id-token-hint`: a second authorization with prompt=none and the first ID
/// token as id_token_hint is answered at once, for the same subject and sign-in.
#[tokio::test]
async fn oidcc_id_token_hint() {
    let op = Op::start().await;
    let browser = browser();
    let first = flow(&op, &browser, CLIENT, &AuthRequest::new(CLIENT)).await;
    let request = AuthRequest::new(CLIENT)
        .set("prompt", "none")
        .set("id_token_hint", &first.id_token.raw);
    let second = flow(&op, &browser, CLIENT, &request).await;
    assert_eq!(second.pages, 0, "answered at once, no page");
    same_authentication(&first.id_token, &second.id_token);
    op.finish().await;
}

/// `oidcc-login-hint`: login_hint=buffy@<issuer host> must not cause an error.
#[tokio::test]
async fn oidcc_login_hint() {
    let op = Op::start().await;
    let host = url::Url::parse(op.base())
        .unwrap()
        .host_str()
        .unwrap()
        .to_owned();
    let hint = format!("buffy@{host}");
    let request = AuthRequest::new(CLIENT).set("login_hint", &hint);
    let (page, at) = follow(&browser(), op.base(), request.url(&op)).await;
    assert!(at.contains("/login"), "a fresh sign-in page: {at}");
    assert!(
        page.text().await.unwrap().contains(&hint),
        "the hint fills the field"
    );
    let flow = flow(&op, &browser(), CLIENT, &request).await;
    assert!(flow.signed_in);
    op.finish().await;
}

/// `oidcc-ui-locales`: ui_locales=se must not cause an error.
#[tokio::test]
async fn oidcc_ui_locales() {
    let op = Op::start().await;
    let request = AuthRequest::new(CLIENT).set("ui_locales", "se");
    flow(&op, &browser(), CLIENT, &request).await;
    op.finish().await;
}

/// `oidcc-claims-locales`: claims_locales=se must not cause an error.
#[tokio::test]
async fn oidcc_claims_locales() {
    let op = Op::start().await;
    let request = AuthRequest::new(CLIENT)
        .set("scope", "openid profile")
        .set("claims_locales", "se");
    flow(&op, &browser(), CLIENT, &request).await;
    op.finish().await;
}

/// `oidcc-ensure-request-with-acr-values-succeeds`: acr_values of the advertised
/// `acr_values_supported` (or `1 2` when none are) must succeed; an `acr` claim, when
/// returned, is one of them (the suite warns when there is none).
#[tokio::test]
async fn oidcc_ensure_request_with_acr_values_succeeds() {
    let op = Op::start().await;
    let discovery = op.discovery().await;
    let values = match discovery.get("acr_values_supported") {
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(" "),
        _ => "1 2".to_owned(),
    };
    let request = AuthRequest::new(CLIENT).set("acr_values", &values);
    let flow = flow(&op, &browser(), CLIENT, &request).await;
    // An acr claim SHOULD be one of the requested values; the suite warns when there is
    // none. This server has no authentication classes (no acr_values_supported) and sends
    // no acr: a pass with that warning.
    assert!(discovery.get("acr_values_supported").is_none());
    assert!(
        flow.id_token.claims.get("acr").is_none(),
        "ValidateIdTokenACRClaimAgainstRequest: {:?}",
        flow.id_token.claims.get("acr")
    );
    op.finish().await;
}

/// The code reuse modules (AbstractOIDCCAuthCodeReuse): after the flow, the same code
/// again is invalid_grant; after `wait` seconds, the first access token is revoked too.
async fn code_reuse_module(wait: Option<i64>) {
    let op = Op::start().await;
    let browser = browser();
    let request = AuthRequest::new(CLIENT);
    let authorized = authorize(&op, &browser, &request).await;
    let code = expect_code(&op, &request, &authorized);
    let tokens = redeem(&op, CLIENT, &code).await;
    let id_token = check_id_token(&op, CLIENT, &tokens, request.get("nonce")).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    expect_userinfo(userinfo_get(&op, access_token).await, &id_token).await;
    if let Some(seconds) = wait {
        op.clock.advance(seconds);
    }
    let again = token_request(
        &op,
        CLIENT,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    )
    .await;
    expect_invalid_grant(again).await;
    if wait.is_some() {
        let response = userinfo_get(&op, access_token).await;
        assert!(
            response.status().is_client_error(),
            "the first access token was revoked (RFC 6749 §4.1.2): {}",
            response.status()
        );
    }
    op.finish().await;
}

/// `oidcc-codereuse`: a code used a second time at once.
#[tokio::test]
async fn oidcc_codereuse() {
    code_reuse_module(None).await;
}

/// `oidcc-codereuse-30seconds`: a code used a second time 30 s later (the server's
/// clock moved, no sleep); the access token it gave is revoked.
#[tokio::test]
async fn oidcc_codereuse_30seconds() {
    code_reuse_module(Some(30)).await;
}

/// `oidcc-ensure-registered-redirect-uri`: an unregistered redirect URI (the suite's
/// base with `/callback/<random>`) gets an error page; neither it nor the registered
/// one is redirected to.
#[tokio::test]
async fn oidcc_ensure_registered_redirect_uri() {
    let op = Op::start().await;
    let unregistered = format!(
        "https://suite.example/test/a/portcullis/callback/{}",
        random(10)
    );
    let request = AuthRequest::new(CLIENT).set("redirect_uri", &unregistered);
    let browser = browser();
    // Signed in or not, no redirect: try both.
    for _ in 0..2 {
        let (response, at) = follow(&browser, op.base(), request.url(&op)).await;
        assert_eq!(response.status(), 400, "an error page at {at}");
        assert!(response.headers().get("location").is_none());
        let html = response.text().await.unwrap();
        assert!(
            html.contains("redirect"),
            "the page says the redirect URI is wrong: {html}"
        );
        flow(&op, &browser, CLIENT, &AuthRequest::new(CLIENT)).await;
    }
    op.finish().await;
}

/// `oidcc-ensure-post-request-succeeds`: the authorization request as a form POST.
#[tokio::test]
async fn oidcc_ensure_post_request_succeeds() {
    let op = Op::start().await;
    let browser = browser();
    let request = AuthRequest::new(CLIENT);
    let response = browser
        .post(op.server.url("/authorize"))
        .form(&request.params)
        .send()
        .await
        .unwrap();
    let (response, at) = if response.status().is_redirection()
        && location(op.base(), &response).starts_with(op.base())
    {
        follow(&browser, op.base(), location(op.base(), &response)).await
    } else {
        (response, op.server.url("/authorize"))
    };
    let authorized = through_pages(&op, &browser, response, at).await;
    let code = expect_code(&op, &request, &authorized);
    let tokens = redeem(&op, CLIENT, &code).await;
    check_id_token(&op, CLIENT, &tokens, request.get("nonce")).await;
    op.finish().await;
}

/// `oidcc-server-client-secret-post`: the happy flow with client_secret_post.
#[tokio::test]
async fn oidcc_server_client_secret_post() {
    let op = Op::start().await;
    configure(&op, POST_CLIENT).await;
    let flow = flow(&op, &browser(), POST_CLIENT, &AuthRequest::new(POST_CLIENT)).await;
    assert!(flow.signed_in);
    op.finish().await;
}

/// An unsigned request object (alg none) carrying the request's parameters
/// (ConvertAuthorizationEndpointRequestToRequestObject, SerializeRequestObjectWithNullAlgorithm).
fn unsigned_request_object(op: &Op, request: &AuthRequest) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Map<String, Value> = request
        .params
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    claims.insert("iss".into(), CLIENT.id.into());
    claims.insert("aud".into(), op.base().into());
    format!(
        "{}.{}.",
        engine.encode(br#"{"alg":"none"}"#),
        engine.encode(serde_json::to_vec(&claims).unwrap())
    )
}

/// `oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported`: a
/// request_uri must be processed or refused with `request_uri_not_supported` (then the
/// suite skips the rest, which certification permits). This server refuses it, and its
/// discovery says so.
#[tokio::test]
async fn oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported() {
    let op = Op::start().await;
    let discovery = op.discovery().await;
    // skipTestIfNoneUnsupported: the module runs unless the list exists without none.
    assert!(discovery
        .get("request_object_signing_alg_values_supported")
        .is_none());
    assert_eq!(discovery["request_uri_parameter_supported"], false);
    let request = AuthRequest::new(CLIENT).set(
        "request_uri",
        "https://suite.example/test/a/portcullis/requesturi/x1",
    );
    let response = browser().get(request.url(&op)).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let target = location(op.base(), &response);
    assert!(target.starts_with(CALLBACK), "{target}");
    assert_eq!(
        expect_error(&op, &request, &query(&target)),
        "request_uri_not_supported"
    );
    op.finish().await;
}

/// `oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported`: a
/// request object by value must be processed or refused with `request_not_supported`.
#[tokio::test]
async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported() {
    let op = Op::start().await;
    let discovery = op.discovery().await;
    assert!(discovery
        .get("request_object_signing_alg_values_supported")
        .is_none());
    assert_eq!(discovery["request_parameter_supported"], false);
    let inner = AuthRequest::new(CLIENT);
    let object = unsigned_request_object(&op, &inner);
    let request = AuthRequest::new(CLIENT)
        .set("state", inner.get("state").unwrap())
        .without("nonce")
        .set("request", &object);
    let response = browser().get(request.url(&op)).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let target = location(op.base(), &response);
    assert!(target.starts_with(CALLBACK), "{target}");
    assert_eq!(
        expect_error(&op, &request, &query(&target)),
        "request_not_supported"
    );
    op.finish().await;
}

/// `oidcc-claims-essential`: the `name` claim requested as essential for UserInfo; the
/// request succeeds, UserInfo has name (a warning otherwise) and the ID token does not
/// (EnsureIdTokenDoesNotContainName, a warning).
#[tokio::test]
async fn oidcc_claims_essential() {
    let op = Op::start().await;
    let request =
        AuthRequest::new(CLIENT).set("claims", r#"{"userinfo":{"name":{"essential":true}}}"#);
    let browser = browser();
    let first = flow(&op, &browser, CLIENT, &request).await;
    let token = first.tokens["access_token"].as_str().unwrap();
    let info = expect_userinfo(userinfo_get(&op, token).await, &first.id_token).await;
    // The suite warns (EnsureUserInfoContainsName is a WARNING) when name is missing.
    // This server releases through the claims parameter only what the consented scopes
    // release (Core §5.5 lets an OP leave out claims the user did not authorize, without
    // an error), and scope=openid releases no name: the suite's verdict is a pass with
    // that warning.
    assert!(
        !info.contains_key("name"),
        "name is not released beyond the scope"
    );
    assert!(
        first.id_token.claims.get("name").is_none(),
        "EnsureIdTokenDoesNotContainName"
    );
    // Control: with the profile scope consented, the same request returns name.
    let request = request.set("scope", "openid profile");
    let second = flow(&op, &browser, CLIENT, &request).await;
    let token = second.tokens["access_token"].as_str().unwrap();
    let info = expect_userinfo(userinfo_get(&op, token).await, &second.id_token).await;
    assert_eq!(info["name"], "Buffy Summers", "EnsureUserInfoContainsName");
    assert!(
        second.id_token.claims.get("name").is_none(),
        "EnsureIdTokenDoesNotContainName"
    );
    op.finish().await;
}

/// `oidcc-ensure-request-object-with-redirect-uri`: the request object carries the
/// registered redirect URI and the query an unregistered one; the server must use the
/// object's, or show an invalid redirect_uri page — never answer `request_not_supported`
/// at the registered URI (EnsureOPDoesNotUseDefaultRedirectUriInCaseOfInvalidRedirectUri).
#[tokio::test]
async fn oidcc_ensure_request_object_with_redirect_uri() {
    let op = Op::start().await;
    let inner = AuthRequest::new(CLIENT);
    let object = unsigned_request_object(&op, &inner);
    let request = AuthRequest::new(CLIENT)
        .set(
            "redirect_uri",
            "https://suite.example/test/a/portcullis/invalid-callback",
        )
        .set("request", &object);
    let response = browser().get(request.url(&op)).send().await.unwrap();
    assert_eq!(response.status(), 400, "an invalid redirect_uri page");
    assert!(response.headers().get("location").is_none());
    assert!(response.text().await.unwrap().contains("redirect"));
    op.finish().await;
}

/// The Shannon entropy of `text` (bits per character times its length): the suite's
/// estimate of a token's randomness (EnsureMinimumAccessTokenEntropy,
/// EnsureMinimumRefreshTokenEntropy want more than 96 bits).
fn shannon_bits(text: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n = text.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|&count| {
            let p = count as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

/// `oidcc-refresh-token`: with offline_access (listed in scopes_supported) and
/// prompt=consent, a refresh token; refreshing (with the scope, a second later) gives a
/// new access token that works and an ID token of the same iss/sub/aud/auth_time
/// (CompareIdTokenClaims); then a second client's refresh token is refused to the first
/// client.
#[tokio::test]
async fn oidcc_refresh_token() {
    let op = Op::start().await;
    let discovery = op.discovery().await;
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from("refresh_token")),
        "EnsureServerConfigurationSupportsRefreshToken"
    );
    let browser = browser();
    let scope = "openid offline_access";
    let request = AuthRequest::new(CLIENT)
        .set("scope", scope)
        .set("prompt", "consent");
    let first = flow(&op, &browser, CLIENT, &request).await;
    let refresh = first.tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    op.clock.advance(1);
    let response = token_request(
        &op,
        CLIENT,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", scope),
        ],
    )
    .await;
    let refreshed = expect_tokens(response).await;
    assert_ne!(refreshed["access_token"], first.tokens["access_token"]);
    let access_token = refreshed["access_token"].as_str().unwrap();
    assert!(
        shannon_bits(access_token) > 96.0,
        "EnsureMinimumAccessTokenEntropy"
    );
    if let Some(rotated) = refreshed.get("refresh_token").and_then(Value::as_str) {
        assert!(rotated.len() * 8 >= 128, "EnsureMinimumRefreshTokenLength");
        assert!(
            shannon_bits(rotated) > 96.0,
            "EnsureMinimumRefreshTokenEntropy"
        );
    }
    let second = check_id_token(&op, CLIENT, &refreshed, None).await;
    for claim in ["iss", "sub", "aud"] {
        assert_eq!(
            first.id_token.claims[claim], second.claims[claim],
            "{claim}"
        );
    }
    assert!(
        second.claims["iat"].as_i64() >= first.id_token.claims["iat"].as_i64(),
        "iat"
    );
    if second.claims.contains_key("auth_time") {
        assert_eq!(
            second.claims["auth_time"],
            first.id_token.claims["auth_time"]
        );
    }
    assert_eq!(
        first.id_token.claims.get("azp"),
        second.claims.get("azp"),
        "azp"
    );
    let token = refreshed["access_token"].as_str().unwrap();
    expect_userinfo(userinfo_get(&op, token).await, &second).await;

    // The second client (nonce of 43 characters), whose refresh token the first client
    // then tries (RefreshTokenRequestExpectingErrorSteps).
    let nonce = random(43);
    let request = AuthRequest::new(CLIENT2)
        .set("scope", scope)
        .set("prompt", "consent")
        .set("nonce", &nonce);
    let other = flow(&op, &browser, CLIENT2, &request).await;
    let refresh2 = other.tokens["refresh_token"].as_str().unwrap();
    let response = token_request(
        &op,
        CLIENT,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh2)],
    )
    .await;
    expect_invalid_grant(response).await;
    op.finish().await;
}

/// `oidcc-ensure-request-with-valid-pkce-succeeds`: valid S256 PKCE must succeed.
#[tokio::test]
async fn oidcc_ensure_request_with_valid_pkce_succeeds() {
    let op = Op::start().await;
    let verifier = random(64);
    let challenge = portcullis_core::extensions::s256_challenge(&verifier);
    let request = AuthRequest::new(CLIENT)
        .set("code_challenge", &challenge)
        .set("code_challenge_method", "S256");
    let authorized = authorize(&op, &browser(), &request).await;
    let code = expect_code(&op, &request, &authorized);
    let tokens = expect_tokens(
        token_request(
            &op,
            CLIENT,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
            ],
        )
        .await,
    )
    .await;
    check_id_token(&op, CLIENT, &tokens, request.get("nonce")).await;
    op.finish().await;
}

// ---------------------------------------------------------------------------------
// oidcc-config-certification-test-plan (discovery, static client).
// ---------------------------------------------------------------------------------

/// The issuer of the discovery-only modules: an https URL (the suite requires every
/// endpoint to be https), served behind TLS termination, so the in-process server on
/// plain HTTP publishes https endpoints.
const HTTPS_ISSUER: &str = "https://op.conformance.example";

/// A provider whose issuer is [`HTTPS_ISSUER`].
async fn https_op() -> Op {
    Op::start_with(|config| config.http.issuer = Some(HTTPS_ISSUER.into())).await
}

/// The discovery document of an https-issuer provider, and its JWK Set's URL rebased
/// onto the test server's address.
async fn https_discovery(op: &Op) -> Value {
    let response = op
        .http
        .get(op.server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "EnsureDiscoveryEndpointResponseStatusCodeIs200"
    );
    assert_json(&response);
    response.json().await.unwrap()
}

/// An absolute https URL on nothing but a host and path (AbstractJsonUriIsValidAndHttps).
fn assert_https_url(document: &Value, member: &str) {
    let value = document[member]
        .as_str()
        .unwrap_or_else(|| panic!("{member} is a string: {document}"));
    let url = url::Url::parse(value).unwrap_or_else(|e| panic!("{member}: {e}"));
    assert_eq!(url.scheme(), "https", "{member}: {value}");
    assert!(url.fragment().is_none(), "{member}: {value}");
}

/// CheckDiscEndpointAllEndpointsAreHttps: every `*_endpoint` member and `jwks_uri`.
fn assert_all_endpoints_https(document: &Value) {
    for (member, _) in document.as_object().unwrap() {
        if member.ends_with("_endpoint") || member == "jwks_uri" {
            assert_https_url(document, member);
        }
    }
}

/// `oidcc-discovery-endpoint-verification`.
#[tokio::test]
async fn oidcc_discovery_endpoint_verification() {
    let op = https_op().await;
    let document = https_discovery(&op).await;
    let object = document.as_object().unwrap();
    // OIDCCCheckDiscEndpointResponseTypesSupported (static client).
    let response_types = document["response_types_supported"].as_array().unwrap();
    assert!(
        response_types.iter().any(|t| [
            "code",
            "code id_token",
            "id_token",
            "token id_token",
            "code id_token token",
            "code token"
        ]
        .contains(&t.as_str().unwrap())),
        "{response_types:?}"
    );
    // CheckDiscEndpointDiscoveryUrl, CheckDiscEndpointIssuer, …IssuerIsValidUrl: the
    // document at issuer + /.well-known/openid-configuration names that issuer.
    assert_eq!(document["issuer"], HTTPS_ISSUER);
    let issuer = url::Url::parse(HTTPS_ISSUER).unwrap();
    assert!(issuer.query().is_none() && issuer.fragment().is_none());
    // ValidateServerMetadataAgainstSchema: the types of the members present.
    for (member, value) in object {
        // Booleans: the `…parameter_supported` members, `require_…`, and the logout
        // members of Front- and Back-Channel Logout §2.1/§3 (`…logout_supported`,
        // `…logout_session_supported`).
        let boolean = member.ends_with("parameter_supported")
            || member.starts_with("require_")
            || member.ends_with("logout_supported")
            || member.ends_with("logout_session_supported");
        let ok = if member.ends_with("_supported")
            && !boolean
            && member != "request_uri_parameter_supported"
            && member != "claims_parameter_supported"
            && member != "require_request_uri_registration"
        {
            value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string))
        } else if boolean {
            value.is_boolean()
        } else if member.ends_with("_endpoint")
            || member == "jwks_uri"
            || member == "issuer"
            || member == "service_documentation"
            || member == "op_policy_uri"
            || member == "op_tos_uri"
        {
            value.is_string()
        } else {
            true
        };
        assert!(ok, "{member} has the wrong type: {value}");
    }
    // CheckForUnexpectedParametersInServerMetadata (a warning): every member is one of
    // the registered authorization server metadata names (RFC 8414 §2, Discovery §3,
    // and the RFCs registering more: 7009, 7662, 9207, 9126, 8628, 9449, 8705, 9101,
    // the JWT introspection response, RP-Initiated Logout).
    const REGISTERED: &[&str] = &[
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "registration_endpoint",
        "scopes_supported",
        "response_types_supported",
        "response_modes_supported",
        "grant_types_supported",
        "acr_values_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "id_token_encryption_alg_values_supported",
        "id_token_encryption_enc_values_supported",
        "userinfo_signing_alg_values_supported",
        "userinfo_encryption_alg_values_supported",
        "userinfo_encryption_enc_values_supported",
        "request_object_signing_alg_values_supported",
        "request_object_encryption_alg_values_supported",
        "request_object_encryption_enc_values_supported",
        "token_endpoint_auth_methods_supported",
        "token_endpoint_auth_signing_alg_values_supported",
        "display_values_supported",
        "claim_types_supported",
        "claims_supported",
        "service_documentation",
        "claims_locales_supported",
        "ui_locales_supported",
        "claims_parameter_supported",
        "request_parameter_supported",
        "request_uri_parameter_supported",
        "require_request_uri_registration",
        "op_policy_uri",
        "op_tos_uri",
        "revocation_endpoint",
        "revocation_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
        "introspection_endpoint",
        "introspection_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
        "introspection_signing_alg_values_supported",
        "introspection_encryption_alg_values_supported",
        "introspection_encryption_enc_values_supported",
        "code_challenge_methods_supported",
        "authorization_response_iss_parameter_supported",
        "pushed_authorization_request_endpoint",
        "require_pushed_authorization_requests",
        "device_authorization_endpoint",
        "dpop_signing_alg_values_supported",
        "tls_client_certificate_bound_access_tokens",
        "mtls_endpoint_aliases",
        "require_signed_request_object",
        "end_session_endpoint",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "check_session_iframe",
    ];
    for member in object.keys() {
        assert!(
            REGISTERED.contains(&member.as_str()),
            "CheckForUnexpectedParametersInServerMetadata: {member}"
        );
    }
    // CheckDiscEndpointSubjectTypesSupported.
    let subjects = document["subject_types_supported"].as_array().unwrap();
    assert!(subjects.iter().any(|s| s == "public" || s == "pairwise"));
    // OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported.
    assert!(document["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&Value::from("RS256")));
    // OIDCCCheckDiscEndpointUserinfoSigningAlgValuesSupported, if present.
    if let Some(algs) = document.get("userinfo_signing_alg_values_supported") {
        assert!(algs.as_array().is_some_and(|a| !a.is_empty()), "{algs}");
    }
    // CheckDiscEndpointAuthorizationEndpoint, …TokenEndpoint, …UserinfoEndpoint,
    // …RegistrationEndpoint (if present), CheckJwksUri.
    assert_https_url(&document, "authorization_endpoint");
    assert_https_url(&document, "token_endpoint");
    assert_https_url(&document, "userinfo_endpoint");
    if object.contains_key("registration_endpoint") {
        assert_https_url(&document, "registration_endpoint");
    }
    assert_https_url(&document, "jwks_uri");
    // FetchServerKeys + ValidateJwksSequence, at the jwks_uri's path on this server.
    let jwks_path = url::Url::parse(document["jwks_uri"].as_str().unwrap())
        .unwrap()
        .path()
        .to_owned();
    let set: Value = op
        .http
        .get(op.server.url(&jwks_path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = set["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    assert!(keys
        .iter()
        .all(|k| k["kid"].is_string() && k.get("d").is_none()));
    // CheckDiscEndpointClaimsParameterSupported (info), OIDCCCheckDiscEndpointClaimsSupported.
    let claims = document["claims_supported"].as_array().unwrap();
    assert!(claims.iter().all(Value::is_string) && !claims.is_empty());
    // OIDCCCheckDiscEndpointGrantTypesSupported.
    if let Some(grants) = document.get("grant_types_supported") {
        assert!(grants.as_array().is_some_and(|a| !a.is_empty()));
    }
    // CheckDiscEndpointScopesSupportedContainsOpenId, …ScopesSupportedSyntax.
    if let Some(scopes) = document.get("scopes_supported") {
        let scopes = scopes.as_array().unwrap();
        assert!(scopes.contains(&Value::from("openid")));
        for scope in scopes {
            let scope = scope.as_str().unwrap();
            assert!(
                !scope.is_empty()
                    && scope.chars().all(|c| c == '\x21'
                        || ('\x23'..='\x5b').contains(&c)
                        || ('\x5d'..='\x7e').contains(&c)),
                "scope syntax: {scope:?}"
            );
        }
    }
    // CheckDiscEndpointLocalesSyntax.
    for member in ["ui_locales_supported", "claims_locales_supported"] {
        if let Some(locales) = document.get(member) {
            for locale in locales.as_array().unwrap() {
                let locale = locale.as_str().unwrap();
                assert!(
                    locale
                        .split('-')
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric())),
                    "{member}: {locale}"
                );
            }
        }
    }
    // CheckDiscEndpointAllEndpointsAreHttps.
    assert_all_endpoints_https(&document);
    // EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray.
    if let Some(methods) = document.get("code_challenge_methods_supported") {
        assert!(methods.is_array());
    }
    op.finish().await;
}

// ---------------------------------------------------------------------------------
// oidcc-rp-initiated-logout-certification-test-plan (discovery, client_secret_basic).
// ---------------------------------------------------------------------------------

/// `oidcc-rp-initiated-logout-discovery-endpoint-verification`.
#[tokio::test]
async fn oidcc_rp_initiated_logout_discovery_endpoint_verification() {
    let op = https_op().await;
    let document = https_discovery(&op).await;
    assert_all_endpoints_https(&document);
    assert_https_url(&document, "end_session_endpoint");
    op.finish().await;
}

/// An end session request (CreateEndSessionEndpointRequest): id_token_hint,
/// post_logout_redirect_uri and a state, which a module then changes.
struct EndSession {
    params: Vec<(String, String)>,
}

impl EndSession {
    fn new(id_token: &str) -> EndSession {
        EndSession {
            params: vec![
                ("id_token_hint".into(), id_token.into()),
                ("post_logout_redirect_uri".into(), POST_LOGOUT.into()),
                ("state".into(), random(16)),
            ],
        }
    }

    fn set(mut self, name: &str, value: &str) -> EndSession {
        match self.params.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.params.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    fn without(mut self, name: &str) -> EndSession {
        self.params.retain(|(k, _)| k != name);
        self
    }

    fn state(&self) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.as_str())
    }

    async fn send(&self, op: &Op, browser: &reqwest::Client) -> reqwest::Response {
        let discovery = op.discovery().await;
        let endpoint = discovery["end_session_endpoint"].as_str().unwrap();
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.params)
            .finish();
        browser
            .get(format!("{endpoint}?{query}"))
            .send()
            .await
            .unwrap()
    }
}

/// The start of every logout module: a flow with a 128-character state, so the browser
/// is signed in and the suite holds an ID token.
async fn signed_in(op: &Op, browser: &reqwest::Client) -> Flow {
    let request = AuthRequest::new(CLIENT).set("state", &random(128));
    flow(op, browser, CLIENT, &request).await
}

/// The end of the successful logout modules: a second authorization with prompt=none
/// must fail with an error that needs a user interface (the session ended).
async fn expect_signed_out(op: &Op, browser: &reqwest::Client) {
    let request = AuthRequest::new(CLIENT).set("prompt", "none");
    let response = browser.get(request.url(op)).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let params = query(&location(op.base(), &response));
    let error = expect_error(op, &request, &params);
    assert!(USER_INTERFACE_ERRORS.contains(&error.as_str()), "{error}");
}

/// The error-page logout modules: an error page (ExpectInvalidIdTokenHintErrorPage,
/// ExpectPostLogoutRedirectUriNotRegisteredErrorPage, ExpectIdTokenHintRequiredErrorPage)
/// and never a redirect to the post-logout redirect URI, registered or not.
async fn expect_logout_error_page(response: reqwest::Response, says: &str) {
    assert!(
        response.headers().get("location").is_none(),
        "no redirect: {:?}",
        response.headers().get("location")
    );
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains(says), "the page says {says:?}: {html}");
}

/// A successful logout page without a redirect to the client (ExpectSuccessfulLogoutPage):
/// the server may ask first (then the person confirms) or sign out at once; either way
/// a signed-out page, and the session is over.
async fn expect_logout_page(op: &Op, browser: &reqwest::Client, response: reqwest::Response) {
    let mut response = response;
    for _ in 0..3 {
        if response.status().is_redirection() {
            let target = location(op.base(), &response);
            assert!(
                target.starts_with(op.base()),
                "no redirect to the client: {target}"
            );
            response = follow(browser, op.base(), target).await.0;
            continue;
        }
        assert_eq!(response.status(), 200, "a logout page");
        let html = response.text().await.unwrap();
        if html.contains("<form") && parse_form(&html).action == "/logout" {
            // The confirmation.
            response = submit(browser, op.base(), &parse_form(&html), &[]).await;
            continue;
        }
        expect_signed_out(op, browser).await;
        return;
    }
    panic!("no signed-out page");
}

/// `oidcc-rp-initiated-logout`: with the ID token, the registered URI and a state, the
/// server signs out and returns there with the state (CheckPostLogoutState) and nothing
/// else (CheckForUnexpectedParametersInPostLogoutRedirect); prompt=none then fails.
#[tokio::test]
async fn oidcc_rp_initiated_logout() {
    let op = Op::start().await;
    let browser = browser();
    let flow = signed_in(&op, &browser).await;
    let end = EndSession::new(&flow.id_token.raw);
    let response = end.send(&op, &browser).await;
    assert!(response.status().is_redirection(), "{}", response.status());
    let target = location(op.base(), &response);
    assert!(target.starts_with(POST_LOGOUT), "{target}");
    let params = query(&target);
    assert_eq!(params.get("state").map(String::as_str), end.state());
    assert_eq!(params.len(), 1, "only state: {params:?}");
    expect_signed_out(&op, &browser).await;
    op.finish().await;
}

/// `oidcc-rp-initiated-logout-bad-post-logout-redirect-uri`: an unregistered
/// post_logout_redirect_uri gets an error page.
#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_post_logout_redirect_uri() {
    let op = Op::start().await;
    let browser = browser();
    let flow = signed_in(&op, &browser).await;
    let end = EndSession::new(&flow.id_token.raw).set(
        "post_logout_redirect_uri",
        "https://suite.example/test/a/portcullis/bad_post_logout_redirect_uri",
    );
    expect_logout_error_page(end.send(&op, &browser).await, "not registered").await;
    op.finish().await;
}

/// `oidcc-rp-initiated-logout-modified-id-token-hint`: the ID token's header changed to
/// alg none and its signature dropped (ChangeIdTokenToAlgNone) gets an error page.
#[tokio::test]
async fn oidcc_rp_initiated_logout_modified_id_token_hint() {
    use base64::Engine as _;
    let op = Op::start().await;
    let browser = browser();
    let flow = signed_in(&op, &browser).await;
    let payload = flow.id_token.raw.split('.').nth(1).unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg": "none"}"#);
    let modified = format!("{header}.{payload}.");
    let end = EndSession::new(&modified);
    expect_logout_error_page(end.send(&op, &browser).await, "id_token_hint").await;
    op.finish().await;
}

/// `oidcc-rp-initiated-logout-no-id-token-hint`: without id_token_hint (and without
/// client_id) the post-logout URI cannot be verified: an error page, no redirect.
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_id_token_hint() {
    let op = Op::start().await;
    let browser = browser();
    let flow = signed_in(&op, &browser).await;
    let end = EndSession::new(&flow.id_token.raw).without("id_token_hint");
    expect_logout_error_page(end.send(&op, &browser).await, "client_id").await;
    op.finish().await;
}

/// `oidcc-rp-initiated-logout-no-params`: no parameters at all: a logout page, no
/// redirect.
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_params() {
    let op = Op::start().await;
    let browser = browser();
    signed_in(&op, &browser).await;
    let end = EndSession { params: Vec::new() };
    let response = end.send(&op, &browser).await;
    expect_logout_page(&op, &browser, response).await;
    op.finish().await;
}

/// `oidcc-rp-initiated-logout-no-post-logout-redirect-uri`: the ID token and a state
/// but no post_logout_redirect_uri: a logout page, no redirect.
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_post_logout_redirect_uri() {
    let op = Op::start().await;
    let browser = browser();
    let flow = signed_in(&op, &browser).await;
    let end = EndSession::new(&flow.id_token.raw).without("post_logout_redirect_uri");
    let response = end.send(&op, &browser).await;
    expect_logout_page(&op, &browser, response).await;
    op.finish().await;
}

/// `oidcc-rp-initiated-logout-no-state`: no state: the redirect carries none
/// (CheckNoPostLogoutState) and nothing else; prompt=none then fails.
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_state() {
    let op = Op::start().await;
    let browser = browser();
    let flow = signed_in(&op, &browser).await;
    let end = EndSession::new(&flow.id_token.raw).without("state");
    let response = end.send(&op, &browser).await;
    assert!(response.status().is_redirection());
    let target = location(op.base(), &response);
    assert!(target.starts_with(POST_LOGOUT), "{target}");
    assert!(
        query(&target).is_empty(),
        "no state, nothing else: {target}"
    );
    expect_signed_out(&op, &browser).await;
    op.finish().await;
}

/// `oidcc-rp-initiated-logout-only-state`: a state alone: a logout page, no redirect.
#[tokio::test]
async fn oidcc_rp_initiated_logout_only_state() {
    let op = Op::start().await;
    let browser = browser();
    let flow = signed_in(&op, &browser).await;
    let end = EndSession::new(&flow.id_token.raw)
        .without("id_token_hint")
        .without("post_logout_redirect_uri");
    let response = end.send(&op, &browser).await;
    expect_logout_page(&op, &browser, response).await;
    op.finish().await;
}

/// `oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri`: the registered
/// URI with `?foo=bar` added is not the registered URI: an error page.
#[tokio::test]
async fn oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri() {
    let op = Op::start().await;
    let browser = browser();
    let flow = signed_in(&op, &browser).await;
    let end = EndSession::new(&flow.id_token.raw).set(
        "post_logout_redirect_uri",
        &format!("{POST_LOGOUT}?foo=bar"),
    );
    expect_logout_error_page(end.send(&op, &browser).await, "not registered").await;
    op.finish().await;
}

/// `oidcc-rp-initiated-logout-bad-id-token-hint`: an ID token the server never issued
/// (the suite's GenerateFakeIdTokenClaims: iss the client, aud the issuer, sub
/// `SubjectID`, signed with a key of the suite's, here a fresh RS256 key) gets an error
/// page.
#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_id_token_hint() {
    let op = Op::start().await;
    let browser = browser();
    signed_in(&op, &browser).await;
    let signer = jose::Signer::generate(&aws_lc_rs::provider(), Algorithm::Rs256).unwrap();
    let now = op.now();
    let fake = signer
        .sign(
            None,
            &json!({
                "iss": CLIENT.id,
                "sub": "SubjectID",
                "aud": op.base(),
                "nonce": "flibble",
                "iat": now,
                "exp": now + 300,
            }),
        )
        .unwrap();
    let end = EndSession::new(&fake);
    expect_logout_error_page(end.send(&op, &browser).await, "id_token_hint").await;
    op.finish().await;
}
