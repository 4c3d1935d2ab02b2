//! OpenID Connect in `portcullis serve` (issue 12), over real sockets: discovery, the
//! browser flow ending in an ID token verified against the served JWK Set, UserInfo,
//! refresh, and what `prompt`, `max_age` and `login_hint` change in the pages.

use std::collections::HashMap;

use portcullis_core::extensions::openid::left_half_hash;
use portcullis_core::jose::{self, aws_lc_rs, Algorithm, JwkSet, KeySet, Validation};
use portcullis_core::{hash_secret, ClientRecord, Scope};
use serde_json::{Map, Value};

use crate::support::*;

const RP: &str = "oidc-rp";
const RP_SECRET: &str = "oidc-rp-secret-6b2e94d1c07a";
const RP_REDIRECT: &str = "https://rp.example/callback";

const POST_LOGOUT: &str = "https://rp.example/signed-out";

/// The relying party registers where to return after logout.
fn rp_metadata() -> portcullis_core::ClientMetadata {
    let mut metadata = portcullis_core::ClientMetadata::new();
    metadata.post_logout_redirect_uris = vec![POST_LOGOUT.into()];
    metadata
}

/// A server with the seeded user and an OpenID relying party.
async fn provider(db: &TestDb) -> TestServer {
    provider_with_clock(db, std::sync::Arc::new(portcullis_core::SystemClock)).await
}

/// The current time, in seconds.
fn now() -> i64 {
    use portcullis_core::Clock;
    portcullis_core::SystemClock.now()
}

/// [`provider`] reading the time from `clock`.
async fn provider_with_clock(
    db: &TestDb,
    clock: std::sync::Arc<dyn portcullis_core::Clock>,
) -> TestServer {
    provider_configured(db, clock, |_| {}).await
}

/// [`provider_with_clock`] with more settings.
async fn provider_configured(
    db: &TestDb,
    clock: std::sync::Arc<dyn portcullis_core::Clock>,
    tweak: impl FnOnce(&mut portcullis_server::Config),
) -> TestServer {
    provider_registered(db, clock, tweak, rp_metadata()).await
}

/// [`provider_configured`] with the relying party registered with `metadata`.
async fn provider_registered(
    db: &TestDb,
    clock: std::sync::Arc<dyn portcullis_core::Clock>,
    tweak: impl FnOnce(&mut portcullis_server::Config),
    metadata: portcullis_core::ClientMetadata,
) -> TestServer {
    let store = seed(db).await;
    store
        .insert_client(
            &ClientRecord::new(RP)
                .with_secret_hash(hash_secret(RP_SECRET))
                .with_name("Relying Party")
                .with_redirect_uris(vec![RP_REDIRECT])
                .with_scope(Scope::parse("openid profile email offline_access").unwrap())
                .with_grant_types(vec!["authorization_code", "refresh_token"])
                .with_response_types(vec!["code"])
                .with_auth_method("client_secret_basic")
                .with_metadata(metadata),
        )
        .await
        .unwrap();
    let settings = |config: &mut portcullis_server::Config| {
        config.metadata.scopes_supported = Some(vec!["profile".into(), "email".into()]);
        tweak(config);
    };
    TestServer::start_with_clock(db, store, settings, clock).await
}

/// An authorization request URL of the relying party, with PKCE; returns it and
/// the verifier.
fn authorize_url(server: &TestServer, scope: &str, extra: &[(&str, &str)]) -> (String, String) {
    let verifier = "a-verifier-of-more-than-43-characters-0123456789abcdef".to_owned();
    let challenge = portcullis_core::extensions::s256_challenge(&verifier);
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", RP),
        ("redirect_uri", RP_REDIRECT),
        ("scope", scope),
        ("state", "st-42"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    (server.url(&format!("/authorize?{query}")), verifier)
}

/// Allows on the consent page `response` (at `url`); returns the client's callback
/// parameters.
async fn allow(
    browser: &reqwest::Client,
    server: &TestServer,
    response: reqwest::Response,
    url: &str,
) -> HashMap<String, String> {
    assert!(
        url.contains("/consent?"),
        "expected the consent page, got {url}"
    );
    let form = parse_form(&response.text().await.unwrap());
    let response = submit(browser, &server.base, &form, &[("decision", "allow")]).await;
    assert_eq!(response.status(), 302);
    callback(server, &response)
}

/// The parameters of a redirect to the relying party.
fn callback(server: &TestServer, response: &reqwest::Response) -> HashMap<String, String> {
    let target = location(&server.base, response);
    assert!(target.starts_with(RP_REDIRECT), "{target}");
    query(&target)
}

async fn redeem(server: &TestServer, code: &str, verifier: &str) -> Value {
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(RP, Some(RP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The ID token of `token`, verified with the JWK Set the server serves.
async fn verified_claims(server: &TestServer, token: &Value) -> (Algorithm, Map<String, Value>) {
    let set: JwkSet = reqwest::get(server.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = KeySet::from_jwk_set(&aws_lc_rs::provider(), &set, &Algorithm::ALL);
    let id_token = token["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("an id_token in {token}"));
    let verified = jose::verify(
        id_token,
        &keys,
        &Validation::new(now())
            .with_leeway(60)
            .with_issuer(server.base.clone())
            .with_audience([RP]),
    )
    .unwrap_or_else(|e| panic!("the ID token verifies with the served keys: {e}"));
    (verified.algorithm, verified.claims)
}

async fn sign_in_with_openid_connect(db: TestDb) {
    let server = provider(&db).await;
    let browser = browser();
    let before = now();
    // offline_access: an OpenID grant gets a refresh token only with it (Core §11).
    let (url, verifier) = authorize_url(
        &server,
        "openid profile email offline_access",
        &[("nonce", "n-4f1c")],
    );
    let (consent, consent_url) =
        sign_in_from(&browser, &server.base, url, USERNAME, PASSWORD).await;
    let params = allow(&browser, &server, consent, &consent_url).await;
    assert_eq!(params["state"], "st-42");
    assert_eq!(params["iss"], server.base);
    let token = redeem(&server, &params["code"], &verifier).await;

    let (alg, claims) = verified_claims(&server, &token).await;
    assert_eq!(
        alg,
        Algorithm::Rs256,
        "RS256 for a client that registered no algorithm"
    );
    assert_eq!(claims["nonce"], "n-4f1c");
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!(
        auth_time >= before,
        "the sign-in just now: {auth_time} < {before}"
    );
    let access_token = token["access_token"].as_str().unwrap();
    assert_eq!(
        claims["at_hash"],
        left_half_hash(Algorithm::Rs256, access_token)
    );
    let subject = claims["sub"].as_str().unwrap().to_owned();
    assert_ne!(
        subject, USERNAME,
        "sub is the stable subject, not the username"
    );

    // UserInfo: the same subject, the claims of profile and email.
    let info: Value = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], subject.as_str());
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["name"], "Alice Liddell");
    assert_eq!(info["preferred_username"], USERNAME);

    // A refresh: a new ID token for the same user and sign-in, without the nonce.
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(RP, Some(RP_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.unwrap();
    let (_, again) = verified_claims(&server, &refreshed).await;
    assert_eq!(again["sub"], subject.as_str());
    assert_eq!(again["auth_time"], auth_time);
    assert!(!again.contains_key("nonce"), "{again:?}");
    db.drop_db().await;
}

#[tokio::test]
async fn sign_in_with_openid_connect_on_sqlite() {
    sign_in_with_openid_connect(TestDb::sqlite()).await;
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn sign_in_with_openid_connect_on_postgres() {
    sign_in_with_openid_connect(TestDb::postgres().await).await;
}

#[tokio::test]
async fn discovery_is_served_at_the_openid_address_too() {
    let db = TestDb::sqlite();
    let server = provider(&db).await;
    let openid: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oauth: Value = reqwest::get(server.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openid, oauth, "one document at both addresses");
    assert_eq!(openid["issuer"], server.base);
    assert_eq!(openid["userinfo_endpoint"], server.url("/userinfo"));
    assert_eq!(openid["jwks_uri"], server.url("/jwks"));
    assert_eq!(
        openid["subject_types_supported"],
        serde_json::json!(["public", "pairwise"]),
        "the server keeps a pairwise salt: pairwise is always available"
    );
    let algs = openid["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&Value::from("RS256")), "{algs:?}");
    assert_eq!(
        openid["scopes_supported"][0], "openid",
        "an OpenID provider lists openid: {}",
        openid["scopes_supported"]
    );
    // Discovery §3's REQUIRED members.
    for member in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(openid.get(member).is_some(), "{member} is missing");
    }
    db.drop_db().await;
}

#[tokio::test]
async fn prompt_none_answers_the_client_instead_of_showing_a_page() {
    let db = TestDb::sqlite();
    let server = provider(&db).await;
    let browser = browser();

    // Nobody signed in: login_required, with state and iss, and no page.
    let (url, _) = authorize_url(&server, "openid", &[("prompt", "none")]);
    let response = browser.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let params = callback(&server, &response);
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st-42");
    assert_eq!(params["iss"], server.base);

    // Signed in and consented to `openid`: prompt=none answers with a code.
    let (url, verifier) = authorize_url(&server, "openid", &[]);
    let (consent, consent_url) =
        sign_in_from(&browser, &server.base, url, USERNAME, PASSWORD).await;
    allow(&browser, &server, consent, &consent_url).await;
    let (url, _) = authorize_url(&server, "openid", &[("prompt", "none")]);
    let response = browser.get(&url).send().await.unwrap();
    let params = callback(&server, &response);
    assert!(params.contains_key("code"), "{params:?}");
    redeem(&server, &params["code"], &verifier).await;

    // A scope not consented to yet: consent_required.
    let (url, _) = authorize_url(&server, "openid email", &[("prompt", "none")]);
    let response = browser.get(&url).send().await.unwrap();
    assert_eq!(callback(&server, &response)["error"], "consent_required");

    // An old enough sign-in for max_age it is not: login_required.
    let (url, _) = authorize_url(&server, "openid", &[("prompt", "none"), ("max_age", "0")]);
    let response = browser.get(&url).send().await.unwrap();
    assert_eq!(callback(&server, &response)["error"], "login_required");

    // prompt=none with another value is malformed.
    let (url, _) = authorize_url(&server, "openid", &[("prompt", "none consent")]);
    let response = browser.get(&url).send().await.unwrap();
    assert_eq!(callback(&server, &response)["error"], "invalid_request");
    db.drop_db().await;
}

#[tokio::test]
async fn prompt_login_and_max_age_zero_ask_a_signed_in_user_to_sign_in_again() {
    let db = TestDb::sqlite();
    let clock = std::sync::Arc::new(portcullis_core::ManualClock::new(now()));
    let server = provider_with_clock(&db, clock.clone()).await;
    let browser = browser();
    let (url, _) = authorize_url(&server, "openid", &[]);
    let (consent, _) = sign_in_from(&browser, &server.base, url, USERNAME, PASSWORD).await;
    let first_form = parse_form(&consent.text().await.unwrap());
    let response = submit(
        &browser,
        &server.base,
        &first_form,
        &[("decision", "allow")],
    )
    .await;
    assert!(callback(&server, &response).contains_key("code"));

    // Control: signed in and consented, the next request is answered at once.
    let (url, _) = authorize_url(&server, "openid", &[]);
    let response = browser.get(&url).send().await.unwrap();
    assert!(callback(&server, &response).contains_key("code"));

    for extra in [("prompt", "login"), ("max_age", "0")] {
        let (url, verifier) = authorize_url(&server, "openid", &[extra, ("nonce", "n-2")]);
        // The sign-in page, although a session exists; after it, the code.
        let (response, _) = sign_in_from(&browser, &server.base, url, USERNAME, PASSWORD).await;
        assert_eq!(response.status(), 302, "{extra:?}");
        let params = callback(&server, &response);
        let token = redeem(&server, &params["code"], &verifier).await;
        let (_, claims) = verified_claims(&server, &token).await;
        assert_eq!(claims["nonce"], "n-2", "{extra:?}");
    }

    // The consent page with a session older than the request does not skip the
    // sign-in. (Within the second of a sign-in, that sign-in counts as fresh.)
    let (url, _) = authorize_url(&server, "openid profile", &[]);
    let (page, page_url) = follow(&browser, &server.base, url).await;
    assert!(page_url.contains("/consent?"), "{page_url}");
    let current_form = parse_form(&page.text().await.unwrap());
    clock.advance(5);
    let (url, _) = authorize_url(&server, "openid email", &[("prompt", "login")]);
    let response = browser.get(&url).send().await.unwrap();
    let login = location(&server.base, &response);
    assert!(login.contains("/login?request_id="), "{login}");
    let consent = login.replace("/login?", "/consent?");
    let page = browser.get(&consent).send().await.unwrap();
    assert_eq!(
        page.status(),
        303,
        "the consent page sends a stale session to sign in"
    );
    assert!(location(&server.base, &page).contains("/login?request_id="));
    // ...and so does posting a decision with that session's CSRF token.
    let forged = Form {
        action: consent.trim_start_matches(&server.base).to_owned(),
        hidden: current_form.hidden.clone(),
    };
    let response = submit(&browser, &server.base, &forged, &[("decision", "allow")]).await;
    assert_eq!(response.status(), 303);
    assert!(location(&server.base, &response).contains("/login?request_id="));
    db.drop_db().await;
}

#[tokio::test]
async fn login_hint_fills_in_the_username() {
    let db = TestDb::sqlite();
    let server = provider(&db).await;
    let browser = browser();
    let (url, _) = authorize_url(&server, "openid", &[("login_hint", "bob\"><script>")]);
    let (page, page_url) = follow(&browser, &server.base, url).await;
    assert!(page_url.contains("/login"), "{page_url}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("value=\"bob&quot;&gt;&lt;script&gt;\""),
        "the hint, escaped, in the username field: {html}"
    );
    // Control: without a hint the field is empty.
    let (url, _) = authorize_url(&server, "openid", &[]);
    let (page, _) = follow(&browser, &server.base, url).await;
    assert!(!page.text().await.unwrap().contains("bob"));
    db.drop_db().await;
}

#[tokio::test]
async fn the_consent_page_says_what_each_scope_shares_and_offers_another_account() {
    let db = TestDb::sqlite();
    let server = provider(&db).await;
    let browser = browser();
    let (url, _) = authorize_url(&server, "openid profile email", &[]);
    let (consent, consent_url) =
        sign_in_from(&browser, &server.base, url, USERNAME, PASSWORD).await;
    assert!(consent_url.contains("/consent?"), "{consent_url}");
    let html = consent.text().await.unwrap().replace("&#x2f;", "/");
    assert!(
        html.contains("Shares your email address (alice@example.com), whether")
            || html.contains("Shares your email address (alice@example.com)</span>"),
        "the email scope names the address: {html}"
    );
    assert!(
        html.contains("your name (Alice Liddell)") && html.contains("your username (alice)"),
        "the profile scope names what it shares: {html}"
    );
    let switch = consent_url
        .trim_start_matches(&server.base)
        .replace("/consent?", "/login?");
    assert!(
        html.contains(&format!("href=\"{switch}\"")) && html.contains("Not you?"),
        "a way to continue as someone else: {html}"
    );
    db.drop_db().await;
}

/// Signs `browser` in as alice through the relying party's code flow (consenting to
/// `openid`), and returns the ID token.
async fn signed_in_id_token(browser: &reqwest::Client, server: &TestServer) -> String {
    let (url, verifier) = authorize_url(server, "openid", &[]);
    let (page, page_url) = follow(browser, &server.base, url.clone()).await;
    let params = if page_url.contains("/login") {
        let form = parse_form(&page.text().await.unwrap());
        let response = submit(
            browser,
            &server.base,
            &form,
            &[("username", USERNAME), ("password", PASSWORD)],
        )
        .await;
        let (consent, consent_url) =
            follow(browser, &server.base, location(&server.base, &response)).await;
        if consent.status() == 302 {
            callback(server, &consent)
        } else {
            allow(browser, server, consent, &consent_url).await
        }
    } else if page.status() == 302 {
        callback(server, &page)
    } else {
        allow(browser, server, page, &page_url).await
    };
    let token = redeem(server, &params["code"], &verifier).await;
    token["id_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_id_token_hint_must_be_ours_and_name_the_signed_in_user() {
    let db = TestDb::sqlite();
    let server = provider(&db).await;
    let browser = browser();
    let id_token = signed_in_id_token(&browser, &server).await;

    // The hint of the user signed in: prompt=none answers at once.
    let (url, _) = authorize_url(
        &server,
        "openid",
        &[("prompt", "none"), ("id_token_hint", &id_token)],
    );
    let response = browser.get(&url).send().await.unwrap();
    assert!(callback(&server, &response).contains_key("code"));

    // The hint of someone else: as if nobody were signed in.
    let bob = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
    bob.create_user(portcullis_sql::NewUser::new(
        "bob",
        "bob's long password 123",
    ))
    .await
    .unwrap();
    let other = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (url, verifier) = authorize_url(&server, "openid", &[]);
    let (consent, consent_url) =
        sign_in_from(&other, &server.base, url, "bob", "bob's long password 123").await;
    let params = allow(&other, &server, consent, &consent_url).await;
    let bobs_token = redeem(&server, &params["code"], &verifier).await;
    let (url, _) = authorize_url(
        &server,
        "openid",
        &[
            ("prompt", "none"),
            ("id_token_hint", bobs_token["id_token"].as_str().unwrap()),
        ],
    );
    let response = browser.get(&url).send().await.unwrap();
    assert_eq!(callback(&server, &response)["error"], "login_required");
    // So does a `claims` request for bob's subject (Core §5.5.1).
    let bob_sub = claims_of(bobs_token["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = format!(r#"{{"id_token":{{"sub":{{"value":"{bob_sub}"}}}}}}"#);
    let (url, _) = authorize_url(
        &server,
        "openid",
        &[("prompt", "none"), ("claims", &claims)],
    );
    let response = browser.get(&url).send().await.unwrap();
    assert_eq!(
        callback(&server, &response)["error"],
        "login_required",
        "a claims request for bob's sub while alice is signed in"
    );
    // Control: a claims request for alice's own subject is answered.
    let alice_sub = claims_of(&id_token)["sub"].as_str().unwrap().to_owned();
    let claims = format!(r#"{{"id_token":{{"sub":{{"value":"{alice_sub}"}}}}}}"#);
    let (url, _) = authorize_url(
        &server,
        "openid",
        &[("prompt", "none"), ("claims", &claims)],
    );
    let response = browser.get(&url).send().await.unwrap();
    assert!(callback(&server, &response).contains_key("code"));

    // Interactive: when someone other than the hinted user signs in, the request ends
    // with login_required instead of being answered for the wrong user.
    let (url, _) = authorize_url(
        &server,
        "openid",
        &[("id_token_hint", bobs_token["id_token"].as_str().unwrap())],
    );
    let (response, _) = sign_in_from(&browser, &server.base, url, USERNAME, PASSWORD).await;
    assert_eq!(response.status(), 302);
    assert_eq!(callback(&server, &response)["error"], "login_required");

    // A made-up or tampered hint is refused.
    let mut tampered = id_token.clone();
    tampered.pop();
    tampered.push(if id_token.ends_with('A') { 'B' } else { 'A' });
    for hint in ["not-a-jwt", tampered.as_str()] {
        let (url, _) = authorize_url(&server, "openid", &[("id_token_hint", hint)]);
        let response = browser.get(&url).send().await.unwrap();
        let params = callback(&server, &response);
        assert_eq!(params["error"], "invalid_request", "{hint}");
        assert!(params["error_description"].contains("id_token_hint"));
    }
    db.drop_db().await;
}

/// The claims of a JWT, unverified (other tests verify the signature).
fn claims_of(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// `/logout` with these parameters.
fn logout_url(server: &TestServer, params: &[(&str, &str)]) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    server.url(&format!("/logout?{query}"))
}

/// True when `browser` is still signed in: prompt=none gets a code.
async fn still_signed_in(browser: &reqwest::Client, server: &TestServer) -> bool {
    let (url, _) = authorize_url(server, "openid", &[("prompt", "none")]);
    let response = browser.get(&url).send().await.unwrap();
    callback(server, &response).contains_key("code")
}

#[tokio::test]
async fn rp_initiated_logout_with_a_hint_signs_out_and_returns_to_the_registered_uri() {
    let db = TestDb::sqlite();
    let server = provider(&db).await;
    let document: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["end_session_endpoint"], server.url("/logout"));

    let browser = browser();
    let id_token = signed_in_id_token(&browser, &server).await;
    assert!(still_signed_in(&browser, &server).await, "control");
    let response = browser
        .get(logout_url(
            &server,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", POST_LOGOUT),
                ("state", "bye-1"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&server.base, &response),
        format!("{POST_LOGOUT}?state=bye-1")
    );
    assert!(
        !still_signed_in(&browser, &server).await,
        "the session ended"
    );

    // A relying party's form post goes on as a GET, which carries the session cookie
    // (posted from the relying party's site, the POST would carry none).
    let id_token = signed_in_id_token(&browser, &server).await;
    let response = browser
        .post(server.url("/logout"))
        .form(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "bye-3"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let get = location(&server.base, &response);
    assert!(
        get.starts_with(&server.url("/logout?id_token_hint=")),
        "{get}"
    );
    assert!(
        still_signed_in(&browser, &server).await,
        "the POST itself signed nobody out"
    );
    let response = browser.get(&get).send().await.unwrap();
    assert_eq!(
        location(&server.base, &response),
        format!("{POST_LOGOUT}?state=bye-3")
    );
    assert!(!still_signed_in(&browser, &server).await);
    db.drop_db().await;
}

#[tokio::test]
async fn rp_initiated_logout_never_redirects_to_an_unverified_uri() {
    let db = TestDb::sqlite();
    let server = provider(&db).await;
    let browser = browser();
    let id_token = signed_in_id_token(&browser, &server).await;
    for (params, needle) in [
        (
            vec![
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
            "not registered",
        ),
        (
            vec![("post_logout_redirect_uri", POST_LOGOUT)],
            "needs the client_id",
        ),
        (
            vec![
                ("id_token_hint", id_token.as_str()),
                ("client_id", CLIENT_ID),
            ],
            "not the client",
        ),
        (
            vec![("id_token_hint", "forged.token.here")],
            "id_token_hint",
        ),
    ] {
        let response = browser
            .get(logout_url(&server, &params))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{params:?}");
        assert!(response.headers().get("location").is_none(), "{params:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains(needle), "{params:?}: {html}");
    }
    assert!(
        still_signed_in(&browser, &server).await,
        "nothing signed anyone out"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn rp_initiated_logout_without_a_hint_asks_first_then_returns() {
    let db = TestDb::sqlite();
    let server = provider(&db).await;
    let browser = browser();
    signed_in_id_token(&browser, &server).await;
    let response = browser
        .get(logout_url(
            &server,
            &[
                ("client_id", RP),
                ("post_logout_redirect_uri", POST_LOGOUT),
                ("state", "bye-2"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "a confirmation page");
    let form = parse_form(&response.text().await.unwrap());
    assert!(
        still_signed_in(&browser, &server).await,
        "a GET alone signs nobody out"
    );
    let response = submit(&browser, &server.base, &form, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&server.base, &response),
        format!("{POST_LOGOUT}?state=bye-2")
    );
    assert!(!still_signed_in(&browser, &server).await);

    // The carried target is checked again at the POST.
    signed_in_id_token(&browser, &server).await;
    let response = browser
        .get(logout_url(&server, &[("client_id", RP)]))
        .send()
        .await
        .unwrap();
    let mut form = parse_form(&response.text().await.unwrap());
    form.hidden.push((
        "post_logout_redirect_uri".into(),
        "https://evil.example/".into(),
    ));
    let response = submit(&browser, &server.base, &form, &[]).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    db.drop_db().await;
}

#[tokio::test]
async fn the_id_token_lives_for_id_token_lifetime() {
    let db = TestDb::sqlite();
    let clock = std::sync::Arc::new(portcullis_core::SystemClock);
    let server = provider_configured(&db, clock, |config| {
        config.tokens.id_token_lifetime = 120;
    })
    .await;
    let id_token = signed_in_id_token(&browser(), &server).await;
    let claims = claims_of(&id_token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120,
        "{claims}"
    );
    // Control: the default is an hour.
    let db2 = TestDb::sqlite();
    let default = provider(&db2).await;
    let claims = claims_of(&signed_in_id_token(&browser(), &default).await);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    db.drop_db().await;
    db2.drop_db().await;
}

/// With `enable_implicit_grant`, `portcullis serve` answers the hybrid flow through
/// its real pages: `code id_token` (sent as `id_token code`) lands in the fragment
/// with a code and an ID token whose `c_hash` and `nonce` are right, and the code
/// redeems; without it the same request is `unsupported_response_type`.
#[tokio::test]
async fn the_hybrid_flow_runs_through_the_pages_when_the_implicit_grant_is_on() {
    for enabled in [true, false] {
        let db = TestDb::sqlite();
        let server = provider_configured(
            &db,
            std::sync::Arc::new(portcullis_core::SystemClock),
            |config| config.tokens.enable_implicit_grant = enabled,
        )
        .await;
        let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
        let hybrid = store.get_client(RP).await.unwrap().unwrap();
        store
            .update_client(
                &hybrid
                    .with_grant_types(vec!["authorization_code", "implicit"])
                    .with_response_types(vec!["code", "code id_token"]),
            )
            .await
            .unwrap();
        let (url, verifier) = authorize_url(&server, "openid email", &[("nonce", "n-hy")]);
        let url = url.replace("response_type=code", "response_type=id_token+code");
        let browser = browser();
        if !enabled {
            let (response, at) = follow(&browser, &server.base, url).await;
            assert_eq!(response.status(), 302, "{at}");
            let target = location(&server.base, &response);
            assert!(target.starts_with(RP_REDIRECT), "{target}");
            assert_eq!(query(&target)["error"], "unsupported_response_type");
            db.drop_db().await;
            continue;
        }
        let (consent, consent_url) =
            sign_in_from(&browser, &server.base, url, USERNAME, PASSWORD).await;
        let form = parse_form(&consent.text().await.unwrap());
        assert!(consent_url.contains("/consent?"), "{consent_url}");
        let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
        assert_eq!(response.status(), 302);
        let target = location(&server.base, &response);
        let (base, fragment) = target.split_once('#').expect("a fragment");
        assert_eq!(base, RP_REDIRECT, "nothing in the query: {target}");
        let params: HashMap<String, String> = form_urlencoded::parse(fragment.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(params["state"], "st-42");
        let token = serde_json::json!({ "id_token": params["id_token"] });
        let (_, claims) = verified_claims(&server, &token).await;
        assert_eq!(claims["nonce"], "n-hy");
        assert_eq!(
            claims["c_hash"],
            left_half_hash(Algorithm::Rs256, &params["code"])
        );
        let redeemed = redeem(&server, &params["code"], &verifier).await;
        let (_, again) = verified_claims(&server, &redeemed).await;
        assert_eq!(again["sub"], claims["sub"]);
        db.drop_db().await;
    }
}

/// A relying party registered for pairwise subjects (its sector: rp.example).
fn pairwise_metadata() -> portcullis_core::ClientMetadata {
    let mut metadata = rp_metadata();
    metadata.subject_type = Some("pairwise".into());
    metadata
}

/// The token response of a `prompt=none` code flow of `browser` (signed in), with
/// more request parameters; `None` with the error when refused.
async fn silent_tokens(
    browser: &reqwest::Client,
    server: &TestServer,
    extra: &[(&str, &str)],
) -> Result<Value, String> {
    let mut params = vec![("prompt", "none")];
    params.extend_from_slice(extra);
    let (url, verifier) = authorize_url(server, "openid", &params);
    let response = browser.get(&url).send().await.unwrap();
    let params = callback(server, &response);
    match params.get("code") {
        Some(code) => Ok(redeem(server, code, &verifier).await),
        None => Err(params["error"].clone()),
    }
}

/// A pairwise relying party is told one subject of its own — in the ID token, at
/// UserInfo, across restarts (the salt is kept in the database) — and its hints and
/// `claims` requests name the user by it.
async fn a_pairwise_client_is_told_its_own_subject(db: TestDb) {
    let clock = std::sync::Arc::new(portcullis_core::SystemClock);
    let server = provider_registered(&db, clock.clone(), |_| {}, pairwise_metadata()).await;
    let document: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        document["subject_types_supported"],
        serde_json::json!(["public", "pairwise"])
    );
    let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
    let local = store.get_user(USERNAME).await.unwrap().unwrap().subject;

    let browser = browser();
    let id_token = signed_in_id_token(&browser, &server).await;
    let sub = claims_of(&id_token)["sub"].as_str().unwrap().to_owned();
    assert_ne!(sub, local, "not the local subject");
    assert_eq!(sub.len(), 43, "{sub}");

    // UserInfo says the same.
    let token = silent_tokens(&browser, &server, &[]).await.unwrap();
    assert_eq!(
        verified_claims(&server, &token).await.1["sub"],
        sub.as_str()
    );
    let info: Value = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], sub.as_str(), "{info}");

    // The hint with the pairwise subject names the user signed in.
    let hinted = silent_tokens(&browser, &server, &[("id_token_hint", &id_token)]).await;
    assert!(hinted.is_ok(), "{hinted:?}");
    // So does a `claims` request for it; the local subject is not this client's name
    // for anyone.
    let claims = |sub: &str| format!(r#"{{"id_token":{{"sub":{{"value":"{sub}"}}}}}}"#);
    assert!(
        silent_tokens(&browser, &server, &[("claims", &claims(&sub))])
            .await
            .is_ok()
    );
    assert_eq!(
        silent_tokens(&browser, &server, &[("claims", &claims(&local))]).await,
        Err("login_required".to_owned())
    );

    // Another instance over the same database computes the same subject.
    let second = TestServer::start_on(&db, store.clone(), |config| {
        config.metadata.scopes_supported = Some(vec!["profile".into(), "email".into()]);
    })
    .await;
    let elsewhere = crate::support::browser();
    let again = signed_in_id_token(&elsewhere, &second).await;
    assert_eq!(claims_of(&again)["sub"], sub.as_str(), "the salt is shared");

    // RP-initiated logout with the pairwise hint signs out at once.
    let response = browser
        .get(logout_url(
            &server,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&server.base, &response), POST_LOGOUT);
    assert!(!still_signed_in(&browser, &server).await);
    db.drop_db().await;
}

#[tokio::test]
async fn a_pairwise_client_is_told_its_own_subject_on_sqlite() {
    a_pairwise_client_is_told_its_own_subject(TestDb::sqlite()).await;
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn a_pairwise_client_is_told_its_own_subject_on_postgres() {
    a_pairwise_client_is_told_its_own_subject(TestDb::postgres().await).await;
}
