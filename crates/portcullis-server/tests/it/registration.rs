//! Issue 13, item 1: dynamic client registration (RFC 7591) and its management
//! (RFC 7592) over real sockets, on SQLite and PostgreSQL: the modes of the setting
//! `registration`, the metadata checks and their error codes, the registration
//! access token, the per-address rate limit, and the removal of registrations left
//! unused.

use std::sync::Arc;

use portcullis_core::{Clock, ManualClock};
use portcullis_server::Config;
use serde_json::{json, Value};

use crate::support::*;

const LOOPBACK_CALLBACK: &str = "http://127.0.0.1:33418/callback";

fn open(config: &mut Config) {
    config.dynamic_registration.mode = "open".into();
    config.dynamic_registration.registration_scopes =
        Some(vec!["profile".into(), "email".into(), "mcp:tools".into()]);
}

async fn register(base: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/register"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn register_with(base: &str, token: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/register"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn native_app() -> Value {
    json!({
        "client_name": "Example MCP client",
        "application_type": "native",
        "redirect_uris": [LOOPBACK_CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "profile mcp:tools",
    })
}

/// Runs a code flow with PKCE for the registered public client `client_id` and
/// returns the token response.
async fn code_flow(base: &str, client_id: &str) -> Value {
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let params: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", LOOPBACK_CALLBACK),
            ("scope", "profile"),
            ("state", "st-1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let browser = browser();
    let (consent, _) = sign_in_from(
        &browser,
        base,
        format!("{base}/authorize?{params}"),
        USERNAME,
        PASSWORD,
    )
    .await;
    let page = consent.text().await.unwrap();
    assert!(page.contains("Example MCP client"), "{page}");
    let form = parse_form(&page);
    let response = submit(&browser, base, &form, &[("decision", "allow")]).await;
    let callback = location(base, &response);
    assert!(callback.starts_with(LOOPBACK_CALLBACK), "{callback}");
    let code = query(&callback)["code"].clone();
    let token = reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", LOOPBACK_CALLBACK),
            ("client_id", client_id),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    token.json().await.unwrap()
}

async fn a_native_app_registers_itself_and_signs_a_user_in(db: TestDb) {
    let server = TestServer::start(&db, open).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let metadata: Value = reqwest::get(server.url(path))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata["registration_endpoint"],
            server.url("/register"),
            "{path}"
        );
    }
    let response = register(&server.base, &native_app()).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let registered: Value = response.json().await.unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    assert_eq!(client_id.len(), 32);
    assert!(registered.get("client_secret").is_none(), "{registered}");
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    assert_eq!(registered["redirect_uris"], json!([LOOPBACK_CALLBACK]));
    assert_eq!(registered["application_type"], "native");
    assert_eq!(registered["scope"], "profile mcp:tools");
    assert_eq!(
        registered["registration_client_uri"],
        server.url(&format!("/register/{client_id}"))
    );
    assert!(
        registered["registration_access_token"]
            .as_str()
            .unwrap()
            .len()
            >= 43
    );
    assert!(registered["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
    let tokens = code_flow(&server.base, client_id).await;
    assert!(tokens["access_token"].is_string());
    assert!(tokens["refresh_token"].is_string());
    db.drop_db().await;
}

#[tokio::test]
async fn a_native_app_registers_itself_and_signs_a_user_in_on_sqlite() {
    a_native_app_registers_itself_and_signs_a_user_in(TestDb::sqlite()).await;
}

#[tokio::test]
async fn a_native_app_registers_itself_and_signs_a_user_in_on_postgres() {
    a_native_app_registers_itself_and_signs_a_user_in(TestDb::postgres().await).await;
}

#[tokio::test]
async fn a_confidential_client_gets_a_secret_that_works_once_shown() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, open).await;
    let response = register(
        &server.base,
        &json!({"client_name": "Batch job", "grant_types": ["client_credentials"],
            "scope": "email"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(
        registered["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(registered["client_secret_expires_at"], 0);
    let (id, secret) = (
        registered["client_id"].as_str().unwrap(),
        registered["client_secret"].as_str().unwrap(),
    );
    let token = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "email")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    // The secret is stored hashed: reading the registration back does not show it.
    let read = reqwest::Client::new()
        .get(registered["registration_client_uri"].as_str().unwrap())
        .bearer_auth(registered["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["client_id"], id);
    assert!(read.get("client_secret").is_none());
    assert!(read.get("registration_access_token").is_none());
}

#[tokio::test]
async fn registration_is_disabled_by_default() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let metadata: Value = reqwest::get(server.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(metadata.get("registration_endpoint").is_none());
    let response = register(&server.base, &native_app()).await;
    assert_eq!(response.status(), 404);
    assert_eq!(count_rows(&db, "clients").await, 1);
}

#[tokio::test]
async fn bad_metadata_gets_its_rfc_7591_error_and_writes_nothing() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, open).await;
    let http = reqwest::Client::new();
    let mut javascript = native_app();
    javascript["redirect_uris"] = json!(["javascript:alert(1)"]);
    let mut web_on_http = native_app();
    web_on_http["application_type"] = json!("web");
    web_on_http["redirect_uris"] = json!(["http://app.example.com/cb"]);
    let mut wrong_type = native_app();
    wrong_type["grant_types"] = json!("authorization_code");
    let mut foreign_scope = native_app();
    foreign_scope["scope"] = json!("admin");
    let mut both_keys = native_app();
    both_keys["jwks"] = json!({"keys": []});
    both_keys["jwks_uri"] = json!("https://app.example.com/jwks");
    let mut inconsistent = native_app();
    inconsistent["response_types"] = json!(["code", "token"]);
    for (body, error, words) in [
        (javascript, "invalid_redirect_uri", "javascript"),
        (web_on_http, "invalid_redirect_uri", "http"),
        (wrong_type, "invalid_client_metadata", "grant_types"),
        (foreign_scope, "invalid_client_metadata", "admin"),
        (both_keys, "invalid_client_metadata", "not both"),
        (inconsistent, "invalid_client_metadata", "implicit"),
    ] {
        let response = register(&server.base, &body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], error, "{body}: {answer}");
        let description = answer["error_description"].as_str().unwrap();
        assert!(description.contains(words), "{body}: {description}");
    }
    // Not JSON, not declared as JSON, too big.
    let not_json = http
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let answer: Value = not_json.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_client_metadata");
    let form = http
        .post(server.url("/register"))
        .form(&[("redirect_uris", LOOPBACK_CALLBACK)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 400);
    let answer: Value = form.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_request");
    let mut huge = native_app();
    huge["client_uri"] = json!(format!("https://app.example.com/{}", "a".repeat(70_000)));
    let too_big = register(&server.base, &huge).await;
    // The server's request body limit answers before the endpoint reads it.
    assert_eq!(too_big.status(), 413);
    // Nothing was registered by any of them: the seeded client only.
    assert_eq!(count_rows(&db, "clients").await, 1);
}

#[tokio::test]
async fn initial_access_tokens_gate_registration_and_run_out() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let server = TestServer::start_on(&db, store.clone(), |config| {
        config.dynamic_registration.mode = "initial_access_token".into();
        config.dynamic_registration.registration_scopes = Some(vec!["profile".into()]);
    })
    .await;
    let body = json!({"redirect_uris": ["https://app.example.com/cb"], "scope": "profile"});
    let anonymous = register(&server.base, &body).await;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    let unknown = register_with(&server.base, "not-a-token", &body).await;
    assert_eq!(unknown.status(), 401);
    // The CLI makes the token: once usable, then used up.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "--database-url",
            &db.url(),
            "registration-token",
            "create",
            "--max-uses",
            "1",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let made: Value = serde_json::from_slice(&output.stdout).unwrap();
    let token = made["token"].as_str().unwrap();
    assert_eq!(made["max_uses"], 1);
    // A refused registration does not use it up.
    let refused = register_with(
        &server.base,
        token,
        &json!({"redirect_uris": ["javascript:x"]}),
    )
    .await;
    assert_eq!(refused.status(), 400);
    let first = register_with(&server.base, token, &body).await;
    assert_eq!(first.status(), 201);
    let second = register_with(&server.base, token, &body).await;
    assert_eq!(second.status(), 401);
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["--database-url", &db.url(), "registration-token", "list"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["uses"], 1);
    assert_eq!(listed[0]["usable"], false);
    assert!(!listed.to_string().contains(token));
    // Bad flags are refused with one clear line.
    for args in [["--max-uses", "0"], ["--expires-in", "-5"]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["--database-url", &db.url(), "registration-token", "create"])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("error:"));
    }
    // An expired token is refused.
    let expired = portcullis_sql::RegistrationToken::new(
        portcullis_core::hash_secret("expired-token"),
        1_000,
        Some(2_000),
        None,
    );
    store.insert_registration_token(&expired).await.unwrap();
    let late = register_with(&server.base, "expired-token", &body).await;
    assert_eq!(late.status(), 401);
    assert_eq!(count_rows(&db, "clients").await, 2);
}

#[tokio::test]
async fn the_registration_access_token_reads_replaces_and_deletes_only_its_client() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, open).await;
    let http = reqwest::Client::new();
    let first: Value = register(&server.base, &native_app())
        .await
        .json()
        .await
        .unwrap();
    let second: Value = register(&server.base, &native_app())
        .await
        .json()
        .await
        .unwrap();
    let uri = first["registration_client_uri"].as_str().unwrap();
    let token = first["registration_access_token"].as_str().unwrap();
    // Another client's token, no token, a wrong scheme: 401 alike.
    let other = second["registration_access_token"].as_str().unwrap();
    for request in [
        http.get(uri).bearer_auth(other),
        http.get(uri),
        http.get(uri).basic_auth("x", Some("y")),
        http.get(server.url("/register/no-such-client"))
            .bearer_auth(token),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    // PUT must name the client, and rotates the token.
    let mut replacement = native_app();
    replacement["client_name"] = json!("Renamed MCP client");
    let unnamed = http
        .put(uri)
        .bearer_auth(token)
        .json(&replacement)
        .send()
        .await
        .unwrap();
    assert_eq!(unnamed.status(), 400);
    replacement["client_id"] = first["client_id"].clone();
    let mut bad = replacement.clone();
    bad["redirect_uris"] = json!(["data:text/html,x"]);
    let refused = http
        .put(uri)
        .bearer_auth(token)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let updated = http
        .put(uri)
        .bearer_auth(token)
        .json(&replacement)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["client_name"], "Renamed MCP client");
    let rotated = updated["registration_access_token"].as_str().unwrap();
    assert_ne!(rotated, token);
    let stale = http.get(uri).bearer_auth(token).send().await.unwrap();
    assert_eq!(stale.status(), 401);
    let read: Value = http
        .get(uri)
        .bearer_auth(rotated)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["client_name"], "Renamed MCP client");
    // DELETE removes it; the other registration stays.
    let deleted = http.delete(uri).bearer_auth(rotated).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = http.get(uri).bearer_auth(rotated).send().await.unwrap();
    assert_eq!(gone.status(), 401);
    assert_eq!(count_rows(&db, "clients").await, 2);
    // A client made by the CLI has no registration access token to manage it with.
    let cli_client = http
        .get(server.url(&format!("/register/{CLIENT_ID}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(cli_client.status(), 401);
}

#[tokio::test]
async fn open_registration_is_rate_limited_per_address() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        open(config);
        config.dynamic_registration.registration_rate_limit = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(register(&server.base, &native_app()).await.status(), 201);
    }
    let limited = register(&server.base, &native_app()).await;
    assert_eq!(limited.status(), 429);
    let wait: i64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait));
    let answer: Value = limited.json().await.unwrap();
    assert_eq!(answer["error"], "temporarily_unavailable");
    assert_eq!(count_rows(&db, "clients").await, 3);
}

#[tokio::test]
async fn registrations_left_unused_are_removed_and_others_kept() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let clock = Arc::new(ManualClock::new(1_900_000_000));
    let server = TestServer::start_with_clock(&db, store.clone(), open, clock.clone()).await;
    let settings = Config::default().dynamic_registration;
    let never_used: Value = register(&server.base, &native_app())
        .await
        .json()
        .await
        .unwrap();
    let used: Value = register(
        &server.base,
        &json!({"grant_types": ["client_credentials"], "scope": "email"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let token = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(
            used["client_id"].as_str().unwrap(),
            used["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    // The use is recorded in the background: wait until the database has it.
    let used_id = used["client_id"].as_str().unwrap().to_owned();
    let mut recorded = false;
    for _ in 0..100 {
        if store
            .stale_registrations(clock.now() + 10 * 365 * 86400, 1, i64::MAX / 4, 10)
            .await
            .unwrap()
            .iter()
            .all(|id| *id != used_id)
        {
            recorded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(recorded, "the token was never recorded as a use");
    let remove = |now: i64| {
        let (store, settings) = (store.clone(), settings.clone());
        async move {
            portcullis_server::routes::registration::remove_stale_registrations(
                &store, &settings, now,
            )
            .await
            .unwrap()
        }
    };
    // Within a day nothing goes.
    assert_eq!(remove(clock.now() + 3600).await, 0);
    // After a day the registration that never obtained a token goes.
    assert_eq!(
        remove(clock.now() + settings.registration_unclaimed_lifetime + 1).await,
        1
    );
    let client_ids: Vec<String> = store
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert!(!client_ids.contains(&never_used["client_id"].as_str().unwrap().to_owned()));
    assert!(client_ids.contains(&used_id));
    // After the unused lifetime the other goes too; the CLI's client never does.
    let later = clock.now() + settings.registration_unused_lifetime + 1;
    assert_eq!(remove(later).await, 1);
    let left: Vec<String> = store
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(left, [CLIENT_ID]);
}

#[tokio::test]
async fn a_sector_identifier_uri_is_fetched_and_must_list_the_redirect_uris() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/good.json",
            axum::routing::get(|| async { axum::Json(json!([LOOPBACK_CALLBACK])) }),
        )
        .route(
            "/other.json",
            axum::routing::get(|| async { axum::Json(json!(["https://elsewhere.example/cb"])) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        open(config);
        config.http.fetch_allowed_addresses = vec!["127.0.0.1".into()];
    })
    .await;
    let mut body = native_app();
    body["subject_type"] = json!("pairwise");
    body["sector_identifier_uri"] = json!(format!("http://{address}/other.json"));
    let refused = register(&server.base, &body).await;
    assert_eq!(refused.status(), 400);
    let answer: Value = refused.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_client_metadata");
    assert!(answer["error_description"]
        .as_str()
        .unwrap()
        .contains("sector_identifier_uri"));
    body["sector_identifier_uri"] = json!(format!("http://{address}/good.json"));
    let accepted = register(&server.base, &body).await;
    assert_eq!(accepted.status(), 201);
    let registered: Value = accepted.json().await.unwrap();
    assert_eq!(registered["subject_type"], "pairwise");
}

#[tokio::test]
async fn browsers_may_register_across_origins() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, open).await;
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url("/register"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, mcp-protocol-version",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let response = reqwest::Client::new()
        .post(server.url("/register"))
        .header("origin", "https://app.example.com")
        .json(&native_app())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}
