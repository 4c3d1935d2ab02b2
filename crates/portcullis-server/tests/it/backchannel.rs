//! OpenID Connect sessions and Back-Channel Logout 1.0 (issue 12): one provider session
//! signs into several clients with one `sid`; when it ends, each client that registered
//! a `backchannel_logout_uri` receives a logout token — delivered in the background
//! (the user's sign-out never waits), tried again after a server error — and a new
//! sign-in of the same user keeps the `sid`, while another user's ends the first
//! session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::post;
use axum::Router;
use http::StatusCode;
use portcullis_core::jose::{self, aws_lc_rs, Algorithm, JwkSet, KeySet, Validation};
use portcullis_core::{hash_secret, ClientMetadata, ClientRecord, Scope};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::support::*;

const RP_SECRET: &str = "rp-secret-0123456789abcdefghijklmnop";

/// What the relying parties' back-channel endpoints received, by path.
#[derive(Default)]
struct Received {
    tokens: Mutex<HashMap<String, Vec<String>>>,
    /// `/slow` answers only once this is notified.
    release: Notify,
}

impl Received {
    fn of(&self, path: &str) -> Vec<String> {
        self.tokens
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
    }
}

/// `/ok` takes every token; `/flaky` answers 503 to the first and takes the next;
/// `/slow` holds every request until released, then takes it.
async fn back_channel(
    State(received): State<Arc<Received>>,
    Path(path): Path<String>,
    body: String,
) -> StatusCode {
    let token = form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let count = {
        let mut tokens = received.tokens.lock().unwrap();
        let list = tokens.entry(path.clone()).or_default();
        list.push(token);
        list.len()
    };
    match path.as_str() {
        "flaky" if count == 1 => StatusCode::SERVICE_UNAVAILABLE,
        "slow" => {
            received.release.notified().await;
            StatusCode::OK
        }
        _ => StatusCode::OK,
    }
}

/// The relying parties' back-channel endpoints on a port of `ip` (a loopback
/// address): their base URL.
async fn relying_parties_on(ip: &str, received: Arc<Received>) -> String {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/{path}", post(back_channel))
        .with_state(received);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// [`relying_parties_on`] 127.0.0.1.
async fn relying_parties(received: Arc<Received>) -> String {
    relying_parties_on("127.0.0.1", received).await
}

/// The server's settings: URLs a client registered may reach 127.0.0.1 (this test's
/// relying parties), and no other special-use address.
fn allow_loopback(config: &mut portcullis_server::Config) {
    config.http.fetch_allowed_addresses = vec!["127.0.0.1".into()];
}

/// An OpenID client `id` whose back-channel logout URI is `logout` (if any).
fn relying_party(id: &str, logout: Option<String>) -> ClientRecord {
    let mut metadata = ClientMetadata::new();
    metadata.backchannel_logout_uri = logout;
    if id.starts_with("rp-pairwise") {
        metadata.subject_type = Some("pairwise".into());
    }
    ClientRecord::new(id)
        .with_secret_hash(hash_secret(RP_SECRET))
        .with_name(id)
        .with_redirect_uris(vec![format!("https://{id}.example/cb")])
        .with_scope(Scope::parse("openid profile").unwrap())
        .with_grant_types(vec!["authorization_code"])
        .with_response_types(vec!["code"])
        .with_auth_method("client_secret_basic")
        .with_metadata(metadata)
}

/// Runs the code flow of client `id` in `browser` (signing in as `username` when the
/// sign-in page comes; consenting when asked), with `extra` authorization parameters:
/// the verified ID token's claims.
async fn sign_in_to(
    server: &TestServer,
    browser: &reqwest::Client,
    id: &str,
    username: &str,
    extra: &str,
) -> Map<String, Value> {
    let verifier = "a-verifier-of-more-than-43-characters-0123456789abcdef";
    let challenge = portcullis_core::extensions::s256_challenge(verifier);
    let redirect = format!("https://{id}.example/cb");
    let url = server.url(&format!(
        "/authorize?response_type=code&client_id={id}&redirect_uri={}&scope=openid\
         &state=st&nonce=n&code_challenge={challenge}&code_challenge_method=S256{extra}",
        form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    ));
    let (mut response, mut at) = follow(browser, &server.base, url).await;
    if at.contains("/login") && response.status() == 200 {
        let html = response.text().await.unwrap();
        assert!(html.contains("<form"), "{at}: {html}");
        let form = parse_form(&html);
        let signed_in = submit(
            browser,
            &server.base,
            &form,
            &[("username", username), ("password", PASSWORD)],
        )
        .await;
        assert_eq!(signed_in.status(), 303, "{username} signs in");
        (response, at) = follow(browser, &server.base, location(&server.base, &signed_in)).await;
    }
    if at.contains("/consent") && response.status() == 200 {
        let html = response.text().await.unwrap();
        assert!(html.contains("<form"), "{at}: {html}");
        let form = parse_form(&html);
        response = submit(browser, &server.base, &form, &[("decision", "allow")]).await;
    }
    let target = location(&server.base, &response);
    assert!(target.starts_with(&redirect), "{target}");
    let code = query(&target)["code"].clone();
    let token: Value = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(id, Some(RP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    verify(server, token["id_token"].as_str().expect("an id_token"), id)
        .await
        .1
}

/// `jwt` verified with the server's JWK Set, for audience `aud`: its header and claims.
async fn verify(
    server: &TestServer,
    jwt: &str,
    aud: &str,
) -> (Map<String, Value>, Map<String, Value>) {
    let set: JwkSet = reqwest::get(server.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = KeySet::from_jwk_set(&aws_lc_rs::provider(), &set, &Algorithm::ALL);
    let verified = jose::verify(
        jwt,
        &keys,
        &Validation::new(now())
            .with_leeway(60)
            .with_issuer(server.base.clone())
            .with_audience([aud]),
    )
    .unwrap_or_else(|e| panic!("verifies with the served keys: {e}"));
    (verified.header, verified.claims)
}

fn now() -> i64 {
    use portcullis_core::Clock;
    portcullis_core::SystemClock.now()
}

/// Polls until `done` holds; a bound for a broken server, not a measurement.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 30 s");
}

/// Signs out of `browser`'s session through the confirmation page.
async fn sign_out(server: &TestServer, browser: &reqwest::Client) {
    let page = browser.get(server.url("/logout")).send().await.unwrap();
    let form = parse_form(&page.text().await.unwrap());
    let response = submit(browser, &server.base, &form, &[]).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("You are signed out"));
}

#[tokio::test]
async fn ending_a_session_sends_each_client_it_signed_into_a_logout_token() {
    let received = Arc::new(Received::default());
    let rp_base = relying_parties(received.clone()).await;
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    for (id, path) in [
        ("rp-ok", Some("ok")),
        ("rp-flaky", Some("flaky")),
        ("rp-slow", Some("slow")),
        ("rp-none", None),
        ("rp-pairwise", Some("pairwise")),
    ] {
        store
            .insert_client(&relying_party(id, path.map(|p| format!("{rp_base}/{p}"))))
            .await
            .unwrap();
    }
    // A client this session never signs into hears nothing.
    store
        .insert_client(&relying_party("rp-other", Some(format!("{rp_base}/other"))))
        .await
        .unwrap();
    let server = TestServer::start_on(&db, store, allow_loopback).await;
    let metadata: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["backchannel_logout_supported"], true);
    assert_eq!(metadata["backchannel_logout_session_supported"], true);

    // One sign-in, four applications: one sid.
    let browser = browser();
    let first = sign_in_to(&server, &browser, "rp-ok", USERNAME, "").await;
    let sid = first["sid"].as_str().expect("a sid").to_owned();
    let subject = first["sub"].as_str().unwrap().to_owned();
    for id in ["rp-flaky", "rp-slow", "rp-none"] {
        let claims = sign_in_to(&server, &browser, id, USERNAME, "").await;
        assert_eq!(
            claims["sid"],
            sid.as_str(),
            "{id}: single sign-on, one session"
        );
    }
    let pairwise = sign_in_to(&server, &browser, "rp-pairwise", USERNAME, "").await;
    assert_eq!(pairwise["sid"], sid.as_str());
    assert_ne!(
        pairwise["sub"],
        subject.as_str(),
        "a pairwise client's own subject"
    );
    assert!(
        received.tokens.lock().unwrap().is_empty(),
        "nothing sent yet"
    );

    sign_out(&server, &browser).await;
    // The sign-out did not wait for the applications: /slow holds its first request,
    // and a sign-out that waited would have seen it time out and be tried again.
    assert!(
        received.of("slow").len() <= 1,
        "the sign-out waited for the slow client"
    );
    eventually("the slow client's request", || {
        received.of("slow").len() == 1
    })
    .await;
    received.release.notify_waiters();
    eventually("the logout tokens", || {
        received.of("ok").len() == 1
            && received.of("flaky").len() == 2
            && received.of("pairwise").len() == 1
    })
    .await;
    assert!(
        received.of("other").is_empty(),
        "a client it never signed into"
    );
    assert_eq!(
        received.of("slow").len(),
        1,
        "taken once released: not sent again"
    );

    for (path, aud) in [("ok", "rp-ok"), ("flaky", "rp-flaky"), ("slow", "rp-slow")] {
        let tokens = received.of(path);
        let (header, claims) = verify(&server, &tokens[tokens.len() - 1], aud).await;
        assert_eq!(header["typ"], "logout+jwt", "{path}");
        assert_eq!(claims["sid"], sid.as_str(), "{path}");
        assert_eq!(claims["sub"], subject.as_str(), "{path}");
        assert_eq!(
            claims["events"],
            serde_json::json!({ "http://schemas.openid.net/event/backchannel-logout": {} })
        );
        assert!(
            claims.contains_key("jti") && !claims.contains_key("nonce"),
            "{claims:?}"
        );
    }
    // The pairwise client is told the subject it knows.
    let (_, claims) = verify(&server, &received.of("pairwise")[0], "rp-pairwise").await;
    assert_eq!(claims["sub"], pairwise["sub"]);
    assert_eq!(claims["sid"], sid.as_str());
    let flaky = received.of("flaky");
    assert_eq!(
        flaky[0], flaky[1],
        "the same token, sent again after the 503"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn signing_in_again_keeps_the_sid_and_another_users_sign_in_logs_the_first_out() {
    let received = Arc::new(Received::default());
    let rp_base = relying_parties(received.clone()).await;
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    store
        .insert_client(&relying_party("rp-ok", Some(format!("{rp_base}/ok"))))
        .await
        .unwrap();
    store
        .create_user(portcullis_sql::NewUser::new("bob", PASSWORD))
        .await
        .unwrap();
    let server = TestServer::start_on(&db, store, allow_loopback).await;
    let browser = browser();
    let first = sign_in_to(&server, &browser, "rp-ok", USERNAME, "").await;
    // prompt=login: alice signs in again; the applications keep her session.
    let again = sign_in_to(&server, &browser, "rp-ok", USERNAME, "&prompt=login").await;
    assert_eq!(again["sid"], first["sid"], "the same user keeps the sid");
    assert!(
        again["auth_time"].as_i64() >= first["auth_time"].as_i64(),
        "a new sign-in"
    );
    assert!(
        received.of("ok").is_empty(),
        "signing in again is no logout"
    );

    // Bob signs in in the same browser: alice's session ends, and rp-ok hears so.
    let bob = sign_in_to(&server, &browser, "rp-ok", "bob", "&prompt=login").await;
    assert_ne!(bob["sid"], first["sid"]);
    eventually("alice's logout token", || received.of("ok").len() == 1).await;
    let (_, claims) = verify(&server, &received.of("ok")[0], "rp-ok").await;
    assert_eq!(claims["sid"], first["sid"]);
    assert_eq!(claims["sub"], first["sub"]);
    db.drop_db().await;
}

/// Logout tokens go through the fetch guard for URLs a client registered: a relying
/// party on a loopback address the settings do not name gets nothing (the address is
/// refused before any connection), while one they name gets its token.
#[tokio::test]
async fn a_logout_token_never_goes_to_an_address_the_guard_refuses() {
    let received = Arc::new(Received::default());
    let allowed = relying_parties(received.clone()).await;
    let refused = relying_parties_on("127.0.0.2", received.clone()).await;
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    for (id, uri) in [
        ("rp-ok", format!("{allowed}/ok")),
        ("rp-private", format!("{refused}/private")),
    ] {
        store
            .insert_client(&relying_party(id, Some(uri)))
            .await
            .unwrap();
    }
    let server = TestServer::start_on(&db, store, allow_loopback).await;
    let browser = browser();
    sign_in_to(&server, &browser, "rp-ok", USERNAME, "").await;
    sign_in_to(&server, &browser, "rp-private", USERNAME, "").await;
    sign_out(&server, &browser).await;
    eventually("the allowed client's token", || {
        received.of("ok").len() == 1
    })
    .await;
    // Every attempt at 127.0.0.2 (three, 1 s and 2 s apart) is refused before it
    // connects; watch for longer than they take.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        received.of("private").is_empty(),
        "nothing reached 127.0.0.2"
    );
    db.drop_db().await;
}
