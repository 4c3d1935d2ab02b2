//! OpenID Connect through the engine (issue 12): the ID token of the code flow and of
//! refreshes, signed with each client's algorithm and verified with the published
//! keys; the UserInfo endpoint and its RFC 6750 errors; the discovery members.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{header, Method, StatusCode};
use portcullis_core::claims::ClaimsSource;
use portcullis_core::extensions::openid::left_half_hash;
use portcullis_core::jose::{
    self, aws_lc_rs, Algorithm, JwkSet, KeySet, Signer, SigningKeys, Validation, VerifiedJwt,
};
use portcullis_core::{ClientMetadata, ClientRecord, OAuthRequest, StoreError, User};
use serde_json::{json, Map, Value};

use crate::support::*;

const RP: &str = "rp";
const RP_SECRET: &str = "rp-secret-5d1f0c7a9e";
const RP_REDIRECT: &str = "https://rp.example/cb";
const NONCE: &str = "n-0S6_WzA2Mj";
const SIGNED_IN_AT: i64 = START - 60;

/// An RS256 and an ES256 key, both current; verification trusts both.
#[derive(Debug)]
struct Keys {
    signers: Vec<Arc<Signer>>,
    trusted: Arc<KeySet>,
}

impl Keys {
    fn new() -> Arc<Self> {
        let provider = aws_lc_rs::provider();
        let signers: Vec<Arc<Signer>> = [Algorithm::Es256, Algorithm::Rs256]
            .into_iter()
            .map(|alg| Arc::new(Signer::generate(&provider, alg).unwrap()))
            .collect();
        let set = JwkSet::new(signers.iter().map(|s| s.public_jwk()).collect());
        let trusted = Arc::new(KeySet::from_jwk_set(&provider, &set, &Algorithm::ALL));
        Arc::new(Keys { signers, trusted })
    }
}

impl SigningKeys for Keys {
    /// The default (for other JWTs) is ES256: ID tokens must not follow it.
    fn signer(&self, _now: i64) -> Option<Arc<Signer>> {
        self.signers.first().cloned()
    }

    fn signer_for(&self, algorithm: Algorithm, _now: i64) -> Option<Arc<Signer>> {
        self.signers
            .iter()
            .find(|s| s.algorithm() == algorithm)
            .cloned()
    }

    fn verification_keys(&self) -> Option<Arc<KeySet>> {
        Some(self.trusted.clone())
    }

    fn signing_algorithms(&self) -> Vec<Algorithm> {
        vec![Algorithm::Es256]
    }

    fn selectable_algorithms(&self) -> Vec<Algorithm> {
        self.signers.iter().map(|s| s.algorithm()).collect()
    }
}

/// alice's claims; everyone else is unknown.
struct Directory;

#[async_trait]
impl ClaimsSource for Directory {
    async fn claims(&self, subject: &str) -> Result<Option<Map<String, Value>>, StoreError> {
        let Value::Object(claims) = json!({
            "name": "Alice Liddell",
            "email": "alice@example.com",
            "email_verified": true,
            "phone_number": "+1 555 0100",
            "sub": "not-alice",
        }) else {
            unreachable!()
        };
        Ok((subject == USER).then_some(claims))
    }
}

/// alice, signed in a minute ago.
struct SignedIn;

impl User for SignedIn {
    fn subject(&self) -> &str {
        USER
    }

    fn auth_time(&self) -> Option<i64> {
        Some(SIGNED_IN_AT)
    }
}

fn rp(metadata: ClientMetadata) -> ClientRecord {
    ClientRecord::new(RP)
        .with_secret_hash(portcullis_core::hash_secret(RP_SECRET))
        .with_redirect_uris(vec![RP_REDIRECT])
        .with_scope(
            portcullis_core::Scope::parse("openid profile email read offline_access").unwrap(),
        )
        .with_grant_types(["authorization_code", "refresh_token"])
        .with_response_types(["code"])
        .with_metadata(metadata)
}

fn provider(metadata: ClientMetadata) -> (TestServer, Arc<Keys>) {
    let keys = Keys::new();
    let ts = TestServer::with_config(Config {
        openid: Some((keys.clone(), Arc::new(Directory))),
        ..Config::default()
    });
    ts.add_client(rp(metadata));
    (ts, keys)
}

/// The code flow for `rp` with `scope` (and `nonce`, when given): the token response.
async fn tokens(ts: &TestServer, scope: &str, nonce: Option<&str>) -> Value {
    tokens_with(ts, scope, nonce, &[]).await
}

/// [`tokens`] with more authorization request parameters.
async fn tokens_with(
    ts: &TestServer,
    scope: &str,
    nonce: Option<&str>,
    extra: &[(&str, &str)],
) -> Value {
    let response = code_flow(ts, RP, RP_REDIRECT, scope, nonce, extra).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    json(&response)
}

/// The code flow for `client` (secret [`RP_SECRET`]) through `redirect_uri`: the token
/// endpoint's answer.
async fn code_flow(
    ts: &TestServer,
    client: &str,
    redirect_uri: &str,
    scope: &str,
    nonce: Option<&str>,
    extra: &[(&str, &str)],
) -> portcullis_core::OAuthResponse {
    let pkce = PkcePair::new();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect_uri),
        ("scope", scope),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(nonce) = nonce {
        params.push(("nonce", nonce));
    }
    params.extend_from_slice(extra);
    let response = ts
        .server
        .create_authorization_response(&authorize_request(&params), Some(&SignedIn))
        .await
        .unwrap();
    let code = query_params(&location(&response)).remove("code").unwrap();
    ts.post_token(
        Auth::Basic(client, RP_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await
}

fn verify_id_token(keys: &Keys, token: &Value, now: i64) -> VerifiedJwt {
    let id_token = token["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("an id_token in {token}"));
    jose::verify(
        id_token,
        &keys.trusted,
        &Validation::new(now).with_issuer(ISSUER).with_audience([RP]),
    )
    .unwrap_or_else(|e| panic!("the ID token verifies: {e}"))
}

#[tokio::test]
async fn the_code_flow_returns_an_id_token_signed_rs256_by_default() {
    let (ts, keys) = provider(ClientMetadata::new());
    let token = tokens(&ts, "openid profile", Some(NONCE)).await;
    let verified = verify_id_token(&keys, &token, START);
    assert_eq!(
        verified.algorithm,
        Algorithm::Rs256,
        "RS256 unless the client registered another, whatever the server's default"
    );
    let access_token = token["access_token"].as_str().unwrap();
    assert_eq!(
        Value::Object(verified.claims),
        json!({
            "iss": ISSUER,
            "sub": USER,
            "aud": RP,
            "azp": RP,
            "iat": START,
            "exp": START + 3600,
            "auth_time": SIGNED_IN_AT,
            "nonce": NONCE,
            "at_hash": left_half_hash(Algorithm::Rs256, access_token),
        }),
        "exactly the claims of Core §2 and §3.1.3.6 (azp too): no profile claims in the code flow's ID token"
    );
}

#[tokio::test]
async fn a_code_flow_without_nonce_succeeds_and_its_id_token_has_none() {
    let (ts, keys) = provider(ClientMetadata::new());
    let token = tokens(&ts, "openid", None).await;
    let claims = verify_id_token(&keys, &token, START).claims;
    assert!(!claims.contains_key("nonce"), "{claims:?}");
}

#[tokio::test]
async fn a_refresh_returns_an_id_token_with_the_original_auth_time_and_no_nonce() {
    let (ts, keys) = provider(ClientMetadata::new());
    let first = tokens(&ts, "openid profile offline_access", Some(NONCE)).await;
    ts.clock.advance(600);
    let response = ts
        .post_token(
            Auth::Basic(RP, RP_SECRET),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    let refreshed = json(&response);
    let claims = verify_id_token(&keys, &refreshed, START + 600).claims;
    assert_eq!(claims["sub"], USER);
    assert_eq!(claims["aud"], RP);
    assert_eq!(claims["iat"], START + 600, "issued now");
    assert_eq!(claims["auth_time"], SIGNED_IN_AT, "the original sign-in");
    assert!(
        !claims.contains_key("nonce"),
        "Core §12.2: no nonce on refresh"
    );
    assert_eq!(
        claims["at_hash"],
        left_half_hash(
            Algorithm::Rs256,
            refreshed["access_token"].as_str().unwrap()
        )
    );

    // Narrowed to a scope without openid, the refresh brings no ID token.
    ts.clock.advance(1);
    let response = ts
        .post_token(
            Auth::Basic(RP, RP_SECRET),
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    refreshed["refresh_token"].as_str().unwrap(),
                ),
                ("scope", "profile"),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    assert!(json(&response).get("id_token").is_none());
}

#[tokio::test]
async fn the_id_token_is_signed_with_the_clients_registered_algorithm() {
    let mut metadata = ClientMetadata::new();
    metadata.id_token_signed_response_alg = Some("ES256".into());
    let (ts, keys) = provider(metadata);
    let token = tokens(&ts, "openid", Some(NONCE)).await;
    let verified = verify_id_token(&keys, &token, START);
    assert_eq!(verified.algorithm, Algorithm::Es256);
    assert_eq!(
        verified.claims["at_hash"],
        left_half_hash(Algorithm::Es256, token["access_token"].as_str().unwrap())
    );
}

#[tokio::test]
async fn without_the_openid_scope_there_is_no_id_token() {
    let (ts, _keys) = provider(ClientMetadata::new());
    let token = tokens(&ts, "profile read", Some(NONCE)).await;
    assert!(token.get("id_token").is_none(), "{token}");
    assert!(token["access_token"].is_string());
}

fn userinfo_request(method: Method, bearer: Option<&str>, body: Option<&str>) -> OAuthRequest {
    let mut builder = http::Request::builder().method(method).uri("/userinfo");
    if let Some(token) = bearer {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    builder
        .body(Bytes::from(body.unwrap_or_default().to_owned()))
        .unwrap()
}

async fn userinfo(ts: &TestServer, request: OAuthRequest) -> portcullis_core::OAuthResponse {
    ts.endpoint("userinfo", &request).await
}

fn challenge(response: &portcullis_core::OAuthResponse) -> String {
    response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn userinfo_answers_the_claims_the_scope_releases_by_header_or_form() {
    let (ts, _keys) = provider(ClientMetadata::new());
    let token = tokens(&ts, "openid email", None).await;
    let access_token = token["access_token"].as_str().unwrap();
    let expected = json!({"sub": USER, "email": "alice@example.com", "email_verified": true});

    let response = userinfo(&ts, userinfo_request(Method::GET, Some(access_token), None)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "no-store",
        "personal data is not cached"
    );
    assert_eq!(
        json(&response),
        expected,
        "sub from the token, email claims only: no name, no phone, and not the source's own sub"
    );

    let form = format!("access_token={access_token}");
    let response = userinfo(&ts, userinfo_request(Method::POST, None, Some(&form))).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    assert_eq!(json(&response), expected);
}

#[tokio::test]
async fn userinfo_refuses_what_is_no_openid_access_token_with_rfc_6750_challenges() {
    let (ts, _keys) = provider(ClientMetadata::new());
    let openid = tokens(&ts, "openid profile offline_access", None).await;
    let plain = tokens(&ts, "profile", None).await;

    let missing = userinfo(&ts, userinfo_request(Method::GET, None, None)).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !challenge(&missing).contains("error="),
        "{}",
        challenge(&missing)
    );

    for (what, token) in [
        ("a made-up token", "made-up-token"),
        ("a refresh token", openid["refresh_token"].as_str().unwrap()),
    ] {
        let response = userinfo(&ts, userinfo_request(Method::GET, Some(token), None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            challenge(&response).contains("error=\"invalid_token\""),
            "{what}: {}",
            challenge(&response)
        );
    }

    let response = userinfo(
        &ts,
        userinfo_request(Method::GET, plain["access_token"].as_str(), None),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        challenge(&response).contains("error=\"insufficient_scope\"")
            && challenge(&response).contains("scope=\"openid\""),
        "{}",
        challenge(&response)
    );

    let access_token = openid["access_token"].as_str().unwrap();
    let in_query = http::Request::get(format!("/userinfo?access_token={access_token}"))
        .body(Bytes::new())
        .unwrap();
    let response = userinfo(&ts, in_query).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(&response)["error"], "invalid_request");

    let response = userinfo(&ts, userinfo_request(Method::PUT, Some(access_token), None)).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Revoked: no longer answered. Control first.
    let ok = userinfo(&ts, userinfo_request(Method::GET, Some(access_token), None)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let revoked = ts
        .revoke(Auth::Basic(RP, RP_SECRET), &[("token", access_token)])
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let response = userinfo(&ts, userinfo_request(Method::GET, Some(access_token), None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_that_registered_userinfo_signing_gets_a_signed_jwt() {
    let mut metadata = ClientMetadata::new();
    metadata.userinfo_signed_response_alg = Some("RS256".into());
    let (ts, keys) = provider(metadata);
    let token = tokens(&ts, "openid profile", None).await;
    let response = userinfo(
        &ts,
        userinfo_request(Method::GET, token["access_token"].as_str(), None),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/jwt");
    let jwt = std::str::from_utf8(response.body()).unwrap();
    let verified = jose::verify(
        jwt,
        &keys.trusted,
        &Validation::new(START)
            .with_issuer(ISSUER)
            .with_audience([RP])
            .allow_missing_exp(),
    )
    .unwrap();
    assert_eq!(verified.algorithm, Algorithm::Rs256);
    assert_eq!(verified.claims["sub"], USER);
    assert_eq!(verified.claims["name"], "Alice Liddell");
    assert!(!verified.claims.contains_key("email"));
}

#[tokio::test]
async fn the_metadata_carries_the_openid_provider_members() {
    let (ts, _keys) = provider(ClientMetadata::new());
    let document = ts.server.metadata().unwrap();
    assert_eq!(document["userinfo_endpoint"], format!("{ISSUER}/userinfo"));
    assert_eq!(document["subject_types_supported"], json!(["public"]));
    let algs = document["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("RS256")), "{algs:?}");
    assert_eq!(document["claims_parameter_supported"], true);
    for member in [
        "request_parameter_supported",
        "request_uri_parameter_supported",
    ] {
        assert_eq!(document[member], false, "{member}");
    }
    let claims = document["claims_supported"].as_array().unwrap();
    for claim in ["sub", "email", "name", "auth_time"] {
        assert!(claims.contains(&json!(claim)), "{claim} in {claims:?}");
    }
}

#[tokio::test]
async fn an_id_token_hint_is_checked_by_signature_and_kind_not_by_expiry() {
    use portcullis_core::extensions::openid::verify_id_token_hint;
    let (ts, keys) = provider(ClientMetadata::new());
    let token = tokens(&ts, "openid", Some(NONCE)).await;
    let id_token = token["id_token"].as_str().unwrap();

    // Checked without regard to time: an expired hint is still a hint.
    let hint = verify_id_token_hint(&*keys, ISSUER, id_token).unwrap();
    assert_eq!(hint.subject, USER);
    assert_eq!(hint.audience, vec![RP.to_owned()]);

    // Another issuer's view of it, another key, and another kind of JWT are refused.
    assert!(verify_id_token_hint(&*keys, "https://other.example", id_token).is_err());
    let stranger = Keys::new();
    assert!(verify_id_token_hint(&*stranger, ISSUER, id_token).is_err());
    let signer = keys.signer_for(Algorithm::Rs256, START).unwrap();
    let claims = json!({"iss": ISSUER, "sub": USER, "aud": RP, "iat": START, "exp": START + 60});
    let access_token_like = signer.sign(Some("at+jwt"), &claims).unwrap();
    let error = verify_id_token_hint(&*keys, ISSUER, &access_token_like).unwrap_err();
    assert_eq!(error.code().as_str(), "invalid_request");
    // A signed UserInfo answer has no `typ` either, but no `exp` or `iat`.
    let userinfo_like = signer
        .sign(None, &json!({"iss": ISSUER, "sub": USER, "aud": RP}))
        .unwrap();
    assert!(verify_id_token_hint(&*keys, ISSUER, &userinfo_like).is_err());
    // Control: the claims of an ID token without `typ` pass.
    let id_like = signer.sign(None, &claims).unwrap();
    assert!(verify_id_token_hint(&*keys, ISSUER, &id_like).is_ok());
}

#[tokio::test]
async fn the_claims_parameter_puts_consented_claims_in_the_id_token_and_nothing_more() {
    let (ts, keys) = provider(ClientMetadata::new());
    let request = r#"{"id_token":{"email":{"essential":true},"phone_number":null,"name":null}}"#;
    let token = tokens_with(
        &ts,
        "openid email offline_access",
        None,
        &[("claims", request)],
    )
    .await;
    let claims = verify_id_token(&keys, &token, START).claims;
    assert_eq!(
        claims["email"], "alice@example.com",
        "asked for and consented"
    );
    assert!(
        !claims.contains_key("phone_number") && !claims.contains_key("name"),
        "asked for, but no granted scope releases them: {claims:?}"
    );
    assert!(
        !claims.contains_key("email_verified"),
        "consented, but not asked for here"
    );

    // The request stays with the grant: a refreshed ID token carries the claim too.
    let response = ts
        .post_token(
            Auth::Basic(RP, RP_SECRET),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", token["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    let refreshed = json(&response);
    assert_eq!(
        verify_id_token(&keys, &refreshed, START).claims["email"],
        "alice@example.com"
    );

    // Control: without the parameter the ID token has no email.
    let plain = tokens(&ts, "openid email", None).await;
    assert!(!verify_id_token(&keys, &plain, START)
        .claims
        .contains_key("email"));
}

#[tokio::test]
async fn only_a_grant_that_began_with_an_id_token_gets_one_on_refresh() {
    let keys = Keys::new();
    let ts = TestServer::with_config(Config {
        password: true,
        openid: Some((keys.clone(), Arc::new(Directory))),
        ..Config::default()
    });
    ts.add_client(rp(ClientMetadata::new()).with_grant_types([
        "authorization_code",
        "refresh_token",
        "password",
    ]));
    ts.store().insert_user(USER, "pw-of-alice-123").unwrap();
    let response = ts
        .post_token(
            Auth::Basic(RP, RP_SECRET),
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", "pw-of-alice-123"),
                ("scope", "openid profile"),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    let legacy = json(&response);
    assert!(
        legacy.get("id_token").is_none(),
        "the password grant has none"
    );
    let response = ts
        .post_token(
            Auth::Basic(RP, RP_SECRET),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", legacy["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert!(
        json(&response).get("id_token").is_none(),
        "nor do its refreshes"
    );

    // Control: the code flow's refresh has one.
    let code_flow = tokens(&ts, "openid offline_access", None).await;
    let response = ts
        .post_token(
            Auth::Basic(RP, RP_SECRET),
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    code_flow["refresh_token"].as_str().unwrap(),
                ),
            ],
        )
        .await;
    assert!(json(&response)["id_token"].is_string());
}

#[tokio::test]
async fn an_openid_request_must_name_its_redirect_uri() {
    let (ts, _keys) = provider(ClientMetadata::new());
    let pkce = PkcePair::new();
    let found = ts
        .authorize_redirect_error(
            &[
                ("response_type", "code"),
                ("client_id", RP),
                ("scope", "openid"),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        )
        .await;
    assert!(found["error_description"].contains("redirect_uri is required"));
    // Control: without openid, the only registered URI may be left out.
    ts.authorize_ok(&[
        ("response_type", "code"),
        ("client_id", RP),
        ("scope", "profile"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ])
    .await;
}

/// OpenID Connect Core §11: an OpenID grant gets a refresh token only when the user
/// granted `offline_access`; a plain OAuth grant of a client that may refresh gets one
/// as before.
#[tokio::test]
async fn an_openid_grant_gets_a_refresh_token_only_with_offline_access() {
    let (ts, _keys) = provider(ClientMetadata::new());
    let signed_in = tokens(&ts, "openid profile", None).await;
    assert!(signed_in.get("id_token").is_some());
    assert!(
        signed_in.get("refresh_token").is_none(),
        "no offline_access, no refresh token: {signed_in}"
    );
    let offline = tokens(&ts, "openid profile offline_access", None).await;
    assert!(offline["refresh_token"].is_string(), "{offline}");
    assert_eq!(offline["scope"], "openid profile offline_access");
    let oauth = tokens(&ts, "read", None).await;
    assert!(oauth["refresh_token"].is_string(), "{oauth}");
}

/// A provider with the implicit and hybrid flows on, and `rp` registered for every
/// response type.
fn hybrid_provider() -> (TestServer, Arc<Keys>) {
    let keys = Keys::new();
    let ts = TestServer::with_config(Config {
        openid: Some((keys.clone(), Arc::new(Directory))),
        implicit: true,
        ..Config::default()
    });
    ts.add_client(
        rp(ClientMetadata::new())
            .with_grant_types(["authorization_code", "refresh_token", "implicit"])
            .with_response_types([
                "code",
                "id_token",
                "id_token token",
                "code id_token",
                "code token",
                "code id_token token",
            ]),
    );
    (ts, keys)
}

/// An authorization request of `rp` with `response_type`, `nonce`, `state` and PKCE,
/// granted by alice: the redirect's fragment parameters.
async fn authorize_fragment(
    ts: &TestServer,
    response_type: &str,
    extra: &[(&str, &str)],
) -> (std::collections::HashMap<String, String>, PkcePair) {
    let pkce = PkcePair::new();
    let mut params = vec![
        ("response_type", response_type),
        ("client_id", RP),
        ("redirect_uri", RP_REDIRECT),
        ("scope", "openid email"),
        ("state", "st-hybrid"),
        ("nonce", NONCE),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // `extra` replaces what it names.
    params.retain(|(name, _)| !extra.iter().any(|(other, _)| other == name));
    params.extend_from_slice(extra);
    let response = ts
        .server
        .create_authorization_response(&authorize_request(&params), Some(&SignedIn))
        .await
        .unwrap_or_else(|e| panic!("{response_type}: {e:?}"));
    let url = location(&response);
    assert!(url.as_str().starts_with(RP_REDIRECT), "{url}");
    assert_eq!(
        url.query(),
        None,
        "{response_type}: nothing in the query: {url}"
    );
    (fragment_params(&url), pkce)
}

/// Every implicit and hybrid response type (Core §3.2, §3.3) answers in the fragment
/// with exactly its parts, and its ID token has `nonce`, `at_hash` with an access
/// token, `c_hash` with a code and `s_hash` with the state; the hybrid code redeems
/// for an ID token of the same user with the same nonce.
#[tokio::test]
async fn implicit_and_hybrid_flows_return_id_tokens_with_their_hashes() {
    let (ts, keys) = hybrid_provider();
    for response_type in [
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ] {
        let (params, pkce) = authorize_fragment(&ts, response_type, &[]).await;
        let parts: Vec<&str> = response_type.split(' ').collect();
        assert_eq!(params["state"], "st-hybrid");
        assert_eq!(params["iss"], ISSUER);
        assert_eq!(
            params.contains_key("code"),
            parts.contains(&"code"),
            "{response_type}: {params:?}"
        );
        assert_eq!(
            params.contains_key("access_token"),
            parts.contains(&"token"),
            "{response_type}: {params:?}"
        );
        assert_eq!(
            params.contains_key("id_token"),
            parts.contains(&"id_token"),
            "{response_type}: {params:?}"
        );
        assert!(
            !params.contains_key("refresh_token"),
            "never from the authorization endpoint"
        );
        if let Some(id_token) = params.get("id_token") {
            let claims = verify_id_token(&keys, &json!({ "id_token": id_token }), START).claims;
            assert_eq!(claims["sub"], USER, "{response_type}");
            assert_eq!(claims["nonce"], NONCE, "{response_type}");
            assert_eq!(claims["auth_time"], SIGNED_IN_AT, "{response_type}");
            assert_eq!(
                claims["s_hash"],
                left_half_hash(Algorithm::Rs256, "st-hybrid"),
                "{response_type}"
            );
            match params.get("access_token") {
                Some(token) => {
                    assert_eq!(claims["at_hash"], left_half_hash(Algorithm::Rs256, token));
                    // The client can ask UserInfo: the scope's claims stay there.
                    assert!(!claims.contains_key("email"), "{response_type}: {claims:?}");
                }
                None => {
                    assert!(!claims.contains_key("at_hash"), "{response_type}");
                }
            }
            match params.get("code") {
                Some(code) => {
                    assert_eq!(claims["c_hash"], left_half_hash(Algorithm::Rs256, code))
                }
                None => assert!(!claims.contains_key("c_hash"), "{response_type}"),
            }
            if response_type == "id_token" {
                // No access token, no UserInfo: the ID token carries the scope's claims
                // (Core §5.4), and only those.
                assert_eq!(claims["email"], "alice@example.com");
                assert_eq!(claims["email_verified"], true);
                assert!(!claims.contains_key("name") && !claims.contains_key("phone_number"));
            } else {
                // An access token comes (here or from the token endpoint): UserInfo has
                // them.
                assert!(!claims.contains_key("email"), "{response_type}: {claims:?}");
            }
        }
        if let Some(token) = params.get("access_token") {
            assert!(
                ts.server
                    .resource_protector()
                    .validate_token(token, &portcullis_core::Scope::parse("openid").unwrap())
                    .await
                    .is_ok(),
                "{response_type}: the access token works"
            );
        }
        if let Some(code) = params.get("code") {
            let response = ts
                .post_token(
                    Auth::Basic(RP, RP_SECRET),
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", code),
                        ("redirect_uri", RP_REDIRECT),
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
            let token = json(&response);
            let claims = verify_id_token(&keys, &token, START).claims;
            assert_eq!(claims["sub"], USER);
            assert_eq!(
                claims["nonce"], NONCE,
                "{response_type}: the token endpoint's ID token echoes it too"
            );
        }
    }
}

/// Response types are sets: `id_token code` is `code id_token`, for the request and
/// for the client's registration; `form_post` is allowed; offline_access is dropped
/// from a response type without a code (Core §11).
#[tokio::test]
async fn response_types_are_sets_and_offline_access_needs_a_code() {
    let (ts, keys) = hybrid_provider();
    let (params, _) = authorize_fragment(&ts, "id_token code", &[]).await;
    assert!(
        params.contains_key("code") && params.contains_key("id_token"),
        "{params:?}"
    );
    let claims = verify_id_token(&keys, &json!({ "id_token": params["id_token"] }), START).claims;
    assert_eq!(
        claims["c_hash"],
        left_half_hash(Algorithm::Rs256, &params["code"])
    );

    let (params, _) =
        authorize_fragment(&ts, "token id_token", &[("scope", "openid offline_access")]).await;
    assert_eq!(
        params["scope"], "openid",
        "offline_access is ignored without a code: {params:?}"
    );

    let response = ts
        .server
        .create_authorization_response(
            &authorize_request(&[
                ("response_type", "code id_token"),
                ("client_id", RP),
                ("redirect_uri", RP_REDIRECT),
                ("scope", "openid"),
                ("nonce", NONCE),
                ("response_mode", "form_post"),
                ("code_challenge", PkcePair::new().challenge.as_str()),
                ("code_challenge_method", "S256"),
            ]),
            Some(&SignedIn),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = body_text(&response);
    assert!(
        page.contains("name=\"id_token\"") && page.contains("name=\"code\""),
        "{page}"
    );
}

/// What Core forbids is refused to the client, in the fragment: no nonce, no `openid`
/// scope, the query response mode, a value listed twice; a client not registered for
/// the response type is `unauthorized_client`; a server without the implicit flows
/// answers `unsupported_response_type`.
#[tokio::test]
async fn implicit_and_hybrid_refuse_what_openid_connect_forbids() {
    let (ts, _keys) = hybrid_provider();
    // RFC 7636 Appendix B's challenge.
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let base = |response_type: &'static str| {
        vec![
            ("response_type", response_type),
            ("client_id", RP),
            ("redirect_uri", RP_REDIRECT),
            ("scope", "openid"),
            ("nonce", NONCE),
            ("state", "st-bad"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
    };
    let without = |params: Vec<(&'static str, &'static str)>, name: &str| {
        params
            .into_iter()
            .filter(|(k, _)| *k != name)
            .collect::<Vec<_>>()
    };
    /// What is wrong, the request, the error code and words of its description.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "no nonce",
            without(base("id_token"), "nonce"),
            "invalid_request",
            "nonce is required",
        ),
        (
            "no nonce (hybrid)",
            without(base("code id_token"), "nonce"),
            "invalid_request",
            "nonce is required",
        ),
        (
            "no openid scope",
            without(base("id_token token"), "scope")
                .into_iter()
                .chain([("scope", "email")])
                .collect(),
            "invalid_request",
            "must include openid",
        ),
        (
            "twice",
            base("code code"),
            "invalid_request",
            "names a value twice",
        ),
    ];
    for (what, params, code, words) in cases {
        let error = ts
            .server
            .create_authorization_response(&authorize_request(&params), Some(&SignedIn))
            .await
            .expect_err(what);
        assert!(error.is_redirect(), "{what}");
        assert_eq!(error.code().as_str(), code, "{what}");
        assert!(
            error.description().contains(words),
            "{what}: {}",
            error.description()
        );
    }
    let mut query = base("code id_token");
    query.push(("response_mode", "query"));
    let error = ts
        .server
        .create_authorization_response(&authorize_request(&query), Some(&SignedIn))
        .await
        .expect_err("query");
    assert_eq!(error.code().as_str(), "invalid_request");
    let url = location(&error.into_response());
    assert!(
        url.query().is_none() && fragment_params(&url)["error"] == "invalid_request",
        "{url}"
    );

    // Registered for the code flow only.
    let (code_only, _) = provider(ClientMetadata::new());
    let error = code_only
        .server
        .create_authorization_response(&authorize_request(&base("code id_token")), Some(&SignedIn))
        .await
        .expect_err("implicit off");
    assert_eq!(error.code().as_str(), "unsupported_response_type");
    let ts_limited = TestServer::with_config(Config {
        openid: Some((Keys::new(), Arc::new(Directory))),
        implicit: true,
        ..Config::default()
    });
    ts_limited
        .add_client(rp(ClientMetadata::new()).with_grant_types(["authorization_code", "implicit"]));
    let error = ts_limited
        .server
        .create_authorization_response(&authorize_request(&base("id_token")), Some(&SignedIn))
        .await
        .expect_err("not registered for id_token");
    assert_eq!(error.code().as_str(), "unauthorized_client");
}

/// alice, signed in a minute ago in the provider session `sess-1`.
struct InSession;

impl User for InSession {
    fn subject(&self) -> &str {
        USER
    }

    fn auth_time(&self) -> Option<i64> {
        Some(SIGNED_IN_AT)
    }

    fn session_id(&self) -> Option<&str> {
        Some("sess-1")
    }
}

/// `sid` (Front- and Back-Channel Logout): the ID tokens of a grant begun in a
/// provider session name it — from the token endpoint, on every refresh, and from the
/// authorization endpoint in the hybrid flow; a user without a session id gets none.
#[tokio::test]
async fn id_tokens_name_the_provider_session() {
    let (ts, keys) = hybrid_provider();
    let pkce = PkcePair::new();
    let params = [
        ("response_type", "code id_token"),
        ("client_id", RP),
        ("redirect_uri", RP_REDIRECT),
        ("scope", "openid offline_access"),
        ("nonce", NONCE),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let response = ts
        .server
        .create_authorization_response(&authorize_request(&params), Some(&InSession))
        .await
        .unwrap();
    let fragment = fragment_params(&location(&response));
    let front = verify_id_token(&keys, &json!({ "id_token": fragment["id_token"] }), START).claims;
    assert_eq!(front["sid"], "sess-1");
    let response = ts
        .post_token(
            Auth::Basic(RP, RP_SECRET),
            &[
                ("grant_type", "authorization_code"),
                ("code", &fragment["code"]),
                ("redirect_uri", RP_REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    let token = json(&response);
    assert_eq!(
        verify_id_token(&keys, &token, START).claims["sid"],
        "sess-1"
    );
    let response = ts
        .post_token(
            Auth::Basic(RP, RP_SECRET),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", token["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    let refreshed = json(&response);
    assert_eq!(
        verify_id_token(&keys, &refreshed, START).claims["sid"],
        "sess-1",
        "refreshes keep the session"
    );
    // Control: a user without a session id.
    let plain = tokens(&ts, "openid", None).await;
    assert!(!verify_id_token(&keys, &plain, START)
        .claims
        .contains_key("sid"));
}

/// A logout token (Back-Channel Logout §2.4): `typ: logout+jwt`, signed like the
/// client's ID tokens, with `iss`, `aud`, `iat`, `exp`, `jti`, `sub`, `sid` and the
/// event, and no `nonce`; it can never pass for an `id_token_hint`; one naming neither
/// a subject nor a session is refused.
#[tokio::test]
async fn logout_tokens_carry_the_event_and_cannot_pass_for_id_tokens() {
    use portcullis_core::extensions::openid::{
        logout_token, verify_id_token_hint, BACKCHANNEL_LOGOUT_EVENT,
    };
    let keys = Keys::new();
    let client = rp(ClientMetadata::new());
    let token = logout_token(
        &*keys,
        ISSUER,
        &client,
        Some(USER),
        Some("sess-1"),
        "jti-1",
        START,
    )
    .unwrap();
    let verified = jose::verify(
        &token,
        &keys.trusted,
        &Validation::new(START)
            .with_issuer(ISSUER)
            .with_audience([RP]),
    )
    .unwrap();
    assert_eq!(verified.algorithm, Algorithm::Rs256);
    assert_eq!(verified.header["typ"], "logout+jwt");
    let claims = verified.claims;
    assert_eq!(claims["sub"], USER);
    assert_eq!(claims["sid"], "sess-1");
    assert_eq!(claims["jti"], "jti-1");
    assert_eq!(claims["iat"], START);
    assert_eq!(claims["exp"], START + 120);
    assert_eq!(claims["events"], json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
    assert!(!claims.contains_key("nonce"));
    assert!(verify_id_token_hint(&*keys, ISSUER, &token).is_err());
    assert!(logout_token(&*keys, ISSUER, &client, None, None, "jti-2", START).is_err());
    let only_sid = logout_token(&*keys, ISSUER, &client, None, Some("s"), "jti-3", START).unwrap();
    let claims = jose::verify(
        &only_sid,
        &keys.trusted,
        &Validation::new(START)
            .with_issuer(ISSUER)
            .with_audience([RP]),
    )
    .unwrap()
    .claims;
    assert!(!claims.contains_key("sub") && claims["sid"] == "s");
}

// Pairwise subjects (Core §8).

const SALT: [u8; 32] = [7; 32];

/// A pairwise client `client_id` with `redirect_uris` (and the metadata's other
/// members), secret [`RP_SECRET`].
fn pairwise_client(
    client_id: &str,
    redirect_uris: &[&str],
    sector_uri: Option<&str>,
) -> ClientRecord {
    let mut metadata = ClientMetadata::new();
    metadata.subject_type = Some("pairwise".into());
    metadata.sector_identifier_uri = sector_uri.map(str::to_owned);
    renamed(
        rp(metadata).with_redirect_uris(redirect_uris.to_vec()),
        client_id,
    )
}

/// `client` under the id (and name) `client_id`.
fn renamed(mut client: ClientRecord, client_id: &str) -> ClientRecord {
    client.client_id = client_id.into();
    client.client_name = client_id.into();
    client
}

/// A provider with pairwise subjects, `rp` registered as `rp_metadata` says, and the
/// ID token's `sub` of each extra client's code flow.
fn pairwise_provider(
    rp_metadata: ClientMetadata,
    bearer: Option<portcullis_core::BearerTokenGenerator>,
) -> (TestServer, Arc<Keys>) {
    let keys = Keys::new();
    let ts = TestServer::with_config(Config {
        openid: Some((keys.clone(), Arc::new(Directory))),
        pairwise: Some(portcullis_core::subject::PairwiseSubjects::new(SALT).unwrap()),
        bearer,
        ..Config::default()
    });
    ts.add_client(rp(rp_metadata));
    (ts, keys)
}

fn pairwise_metadata() -> ClientMetadata {
    let mut metadata = ClientMetadata::new();
    metadata.subject_type = Some("pairwise".into());
    metadata
}

/// The ID token `sub` `client` gets through `redirect_uri`.
async fn id_token_sub(ts: &TestServer, keys: &Keys, client: &str, redirect_uri: &str) -> String {
    let response = code_flow(ts, client, redirect_uri, "openid", None, &[]).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    let id_token = json(&response)["id_token"].as_str().unwrap().to_owned();
    let verified = jose::verify(
        &id_token,
        &keys.trusted,
        &Validation::new(START)
            .with_issuer(ISSUER)
            .with_audience([client]),
    )
    .unwrap();
    verified.claims["sub"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn pairwise_subjects_differ_between_sectors_and_match_within_one() {
    let (ts, keys) = pairwise_provider(pairwise_metadata(), None);
    // Same sector as rp (https://rp.example/cb): another path on its host.
    ts.add_client(pairwise_client(
        "rp-same-sector",
        &["https://rp.example/other"],
        None,
    ));
    // Same sector through a sector_identifier_uri on rp's host, whatever the redirects.
    ts.add_client(pairwise_client(
        "rp-by-sector-uri",
        &["https://app-one.example/cb", "https://app-two.example/cb"],
        Some("https://rp.example/sector.json"),
    ));
    ts.add_client(pairwise_client(
        "rp-other-sector",
        &["https://other.example/cb"],
        None,
    ));
    ts.add_client(renamed(
        rp(ClientMetadata::new()).with_redirect_uris(["https://rp.example/public"]),
        "rp-public",
    ));

    let sub = id_token_sub(&ts, &keys, RP, RP_REDIRECT).await;
    assert_ne!(sub, USER, "a pairwise client is not told the local subject");
    assert_eq!(sub.len(), 43, "{sub}");
    assert_eq!(
        sub,
        ts.server
            .env()
            .subject_for(&rp(pairwise_metadata()), USER)
            .unwrap(),
        "the one computation"
    );
    assert_eq!(
        id_token_sub(&ts, &keys, "rp-same-sector", "https://rp.example/other").await,
        sub,
        "one sector (the redirect host), one subject"
    );
    assert_eq!(
        id_token_sub(&ts, &keys, "rp-by-sector-uri", "https://app-two.example/cb").await,
        sub,
        "the sector_identifier_uri's host is the sector"
    );
    let other = id_token_sub(&ts, &keys, "rp-other-sector", "https://other.example/cb").await;
    assert_ne!(other, sub, "another sector cannot correlate");
    assert_ne!(other, USER);
    assert_eq!(
        id_token_sub(&ts, &keys, "rp-public", "https://rp.example/public").await,
        USER,
        "a public client still gets the local subject"
    );
}

#[tokio::test]
async fn the_pairwise_subject_is_the_same_on_refresh_at_userinfo_and_introspection() {
    let (ts, keys) = pairwise_provider(pairwise_metadata(), None);
    let first = tokens(&ts, "openid profile offline_access", Some(NONCE)).await;
    let sub = verify_id_token(&keys, &first, START).claims["sub"].clone();
    assert_ne!(sub, USER);

    ts.clock.advance(60);
    let response = ts
        .post_token(
            Auth::Basic(RP, RP_SECRET),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    let refreshed = json(&response);
    assert_eq!(
        verify_id_token(&keys, &refreshed, START + 60).claims["sub"],
        sub,
        "stable across refresh"
    );

    let access = refreshed["access_token"].as_str().unwrap();
    let response = userinfo(&ts, userinfo_request(Method::GET, Some(access), None)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    let info = json(&response);
    assert_eq!(info["sub"], sub, "UserInfo says what the ID token said");
    assert_eq!(info["name"], "Alice Liddell");

    let introspected = ts.introspect_ok(Auth::Basic(RP, RP_SECRET), access).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["sub"], sub, "introspection too");
    // The store keeps the local subject: that is what the grant is for.
    let stored = ts.store().tokens().unwrap();
    assert!(stored.iter().all(|t| t.subject.as_deref() == Some(USER)));
}

#[tokio::test]
async fn a_resource_server_introspects_and_reads_jwt_access_tokens_with_the_pairwise_subject() {
    let keys = Keys::new();
    let (ts, _) = pairwise_provider(
        pairwise_metadata(),
        Some(
            portcullis_core::BearerTokenGenerator::default()
                .with_strategy(portcullis_core::jose::JwtAccessTokens::new(keys.clone())),
        ),
    );
    const API: &str = "https://api.example";
    ts.add_client(rp(pairwise_metadata()).with_audience([API]));
    ts.add_client(renamed(
        confidential_client().with_resource_server_audience(API),
        "api",
    ));
    let token = tokens(&ts, "openid read", None).await;
    let access = token["access_token"].as_str().unwrap();
    let expected = ts
        .server
        .env()
        .subject_for(&rp(pairwise_metadata()), USER)
        .unwrap()
        .into_owned();
    let jwt = jose::verify(
        access,
        &keys.trusted,
        &Validation::new(START)
            .with_issuer(ISSUER)
            .with_audience([API]),
    )
    .unwrap_or_else(|e| panic!("the access token verifies: {e}"));
    assert_eq!(jwt.claims["sub"], expected.as_str(), "the JWT's sub");
    let info = ts
        .introspect_ok(Auth::Basic("api", CONF_SECRET), access)
        .await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(
        info["sub"],
        expected.as_str(),
        "a resource server sees what the client sees"
    );
}

#[tokio::test]
async fn an_id_token_hint_with_a_pairwise_subject_names_the_same_user_only() {
    use portcullis_core::extensions::openid::verify_id_token_hint;
    let (ts, keys) = pairwise_provider(pairwise_metadata(), None);
    let token = tokens(&ts, "openid", None).await;
    let hint = verify_id_token_hint(&*keys, ISSUER, token["id_token"].as_str().unwrap()).unwrap();
    assert_ne!(hint.subject, USER);
    let client = rp(pairwise_metadata());
    let env = ts.server.env();
    assert!(
        hint.names(env, &client, USER).unwrap(),
        "mapped back to alice"
    );
    assert!(
        !hint.names(env, &client, "bob").unwrap(),
        "not someone else"
    );
    // The same hint read for a public client (told the local subject) is no match.
    assert!(!hint.names(env, &rp(ClientMetadata::new()), USER).unwrap());
}

#[tokio::test]
async fn pairwise_is_advertised_only_when_configured() {
    let (ts, _keys) = pairwise_provider(ClientMetadata::new(), None);
    let document = ts.server.metadata().unwrap();
    assert_eq!(
        document["subject_types_supported"],
        json!(["public", "pairwise"])
    );
    // The control: without the salt, public only (the_metadata_carries_the_openid_provider_members).
    let (plain, _keys) = provider(ClientMetadata::new());
    assert_eq!(
        plain.server.metadata().unwrap()["subject_types_supported"],
        json!(["public"])
    );
}

#[tokio::test]
async fn a_pairwise_client_the_server_cannot_compute_a_subject_for_gets_no_tokens() {
    // No salt configured: refused, never told the local subject.
    let (ts, _keys) = provider(pairwise_metadata());
    let response = code_flow(&ts, RP, RP_REDIRECT, "openid", None, &[]).await;
    assert_eq!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        body_text(&response)
    );
    assert!(!body_text(&response).contains(USER));

    // Redirect URIs on two hosts and no sector_identifier_uri: no sector, refused.
    let (ts, _keys) = pairwise_provider(ClientMetadata::new(), None);
    ts.add_client(pairwise_client(
        "two-hosts",
        &["https://one.example/cb", "https://two.example/cb"],
        None,
    ));
    let response = code_flow(
        &ts,
        "two-hosts",
        "https://one.example/cb",
        "openid",
        None,
        &[],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        body_text(&response)
    );

    // An unknown subject_type is refused the same way.
    let mut metadata = ClientMetadata::new();
    metadata.subject_type = Some("secret-agent".into());
    let (ts, _keys) = pairwise_provider(metadata, None);
    let response = code_flow(&ts, RP, RP_REDIRECT, "openid", None, &[]).await;
    assert_eq!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        body_text(&response)
    );
}

#[tokio::test]
async fn implicit_and_hybrid_id_tokens_carry_the_pairwise_subject() {
    let keys = Keys::new();
    let ts = TestServer::with_config(Config {
        openid: Some((keys.clone(), Arc::new(Directory))),
        implicit: true,
        pairwise: Some(portcullis_core::subject::PairwiseSubjects::new(SALT).unwrap()),
        ..Config::default()
    });
    ts.add_client(
        rp(pairwise_metadata())
            .with_grant_types(["authorization_code", "refresh_token", "implicit"])
            .with_response_types(["id_token", "code id_token"]),
    );
    let expected = ts
        .server
        .env()
        .subject_for(&rp(pairwise_metadata()), USER)
        .unwrap()
        .into_owned();
    for response_type in ["id_token", "code id_token"] {
        let (params, pkce) = authorize_fragment(&ts, response_type, &[]).await;
        let claims =
            verify_id_token(&keys, &json!({ "id_token": params["id_token"] }), START).claims;
        assert_eq!(claims["sub"], expected.as_str(), "{response_type}");
        if let Some(code) = params.get("code") {
            let response = ts
                .post_token(
                    Auth::Basic(RP, RP_SECRET),
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", code),
                        ("redirect_uri", RP_REDIRECT),
                        ("code_verifier", &pkce.verifier),
                    ],
                )
                .await;
            let redeemed = verify_id_token(&keys, &json(&response), START).claims;
            assert_eq!(
                redeemed["sub"],
                expected.as_str(),
                "the same at the token endpoint"
            );
        }
    }
}

#[tokio::test]
async fn a_logout_token_for_a_pairwise_client_names_its_pairwise_subject() {
    use portcullis_core::extensions::openid::logout_token;
    let (ts, keys) = pairwise_provider(pairwise_metadata(), None);
    let client = rp(pairwise_metadata());
    let sub = ts.server.env().subject_for(&client, USER).unwrap();
    let token = logout_token(&*keys, ISSUER, &client, Some(&sub), None, "jti-p", START).unwrap();
    let claims = jose::verify(
        &token,
        &keys.trusted,
        &Validation::new(START)
            .with_issuer(ISSUER)
            .with_audience([RP]),
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], sub.as_ref());
    assert_ne!(claims["sub"], USER);
}
