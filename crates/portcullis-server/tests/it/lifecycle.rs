//! Token lifecycle and discovery on `portcullis serve`: metadata (RFC 8414), revocation
//! (RFC 7009), introspection (RFC 7662), form_post and `iss` (RFC 9207), over real
//! sockets on SQLite.

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope, TokenResponse};
use portcullis_core::{hash_secret, ClientRecord};

use crate::support::*;

const SERVICE_SECRET: &str = "service-secret-0123456789abcdefghijkl";
const API_SECRET: &str = "api-secret-0123456789abcdefghijklmnop";

async fn add_clients(db: &TestDb) {
    let store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
    let mut service = ClientRecord::new("service")
        .with_secret_hash(hash_secret(SERVICE_SECRET))
        .with_name("Service")
        .with_scope(portcullis_core::Scope::parse("reports:read").unwrap())
        .with_grant_types(vec!["client_credentials"])
        .with_auth_method("client_secret_basic")
        .with_audience(vec!["reports-api"]);
    store.insert_client(&service).await.unwrap();
    service.client_id = "reports-api".into();
    service.client_secret_hash = Some(hash_secret(API_SECRET));
    service.audience = vec![];
    service.resource_server_audience = Some("reports-api".into());
    store.insert_client(&service).await.unwrap();
}

async fn user_tokens(server: &TestServer) -> oauth2::basic::BasicTokenResponse {
    let client = server.oauth_client();
    let browser = browser();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let (page, _) = sign_in_from(&browser, &server.base, url.to_string(), USERNAME, PASSWORD).await;
    let form = parse_form(&page.text().await.unwrap());
    let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    let code = query(&location(&server.base, &response))["code"].clone();
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&reqwest::Client::new())
        .await
        .unwrap()
}

async fn post(
    server: &TestServer,
    path: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, serde_json::Value, String) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, response.json().await.unwrap(), cache)
}

#[tokio::test]
async fn metadata_reflects_the_running_configuration() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |c| {
        c.tokens.enable_password_grant = true;
        c.metadata.service_documentation = Some("https://docs.example/portcullis".into());
    })
    .await;
    add_clients(&db).await;
    let response = reqwest::get(server.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], server.base);
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
    ] {
        assert_eq!(doc[key], server.url(path), "{key}");
    }
    let grants: Vec<&str> = doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        grants,
        [
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "password"
        ]
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["response_modes_supported"],
        serde_json::json!(["query", "fragment", "form_post"])
    );
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        doc["introspection_endpoint_auth_methods_supported"],
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "client_secret_jwt"
        ])
    );
    // The scopes clients registered are theirs to know (issue 9, finding 15): without
    // a configured list there is no `scopes_supported`.
    assert!(doc.get("scopes_supported").is_none(), "{doc}");
    assert_eq!(
        doc["service_documentation"],
        "https://docs.example/portcullis"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn metadata_without_password_grant_does_not_list_it() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |c| {
        c.metadata.scopes_supported = Some(vec!["profile".into()])
    })
    .await;
    let doc: serde_json::Value =
        reqwest::get(server.url("/.well-known/oauth-authorization-server"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(!doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&"password".into()));
    // An OpenID provider lists `openid` first (OpenID Connect Discovery §3).
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["openid", "profile"])
    );
    assert!(doc.get("service_documentation").is_none());
    db.drop_db().await;
}

#[tokio::test]
async fn introspection_and_revocation_of_a_user_token() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    add_clients(&db).await;
    let tokens = user_tokens(&server).await;
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let me = (CLIENT_ID, CLIENT_SECRET);

    let (status, body, cache) = post(&server, "/introspect", me, &[("token", &access)]).await;
    assert_eq!(status, 200);
    assert_eq!(cache, "no-store");
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], USERNAME);
    assert_eq!(body["client_id"], CLIENT_ID);
    assert_eq!(body["scope"], "profile");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], server.base);
    assert!(
        body["sub"].is_string()
            && body["exp"].is_i64()
            && body["iat"].is_i64()
            && body["jti"].is_string()
    );

    // Another client, unrelated to this token, sees nothing.
    let (_, body, _) = post(
        &server,
        "/introspect",
        ("service", SERVICE_SECRET),
        &[("token", &access)],
    )
    .await;
    assert_eq!(body, serde_json::json!({"active": false}));
    // ...and cannot revoke it: 200, and the token stays active.
    let (status, _, _) = post(
        &server,
        "/revoke",
        ("service", SERVICE_SECRET),
        &[("token", &access)],
    )
    .await;
    assert_eq!(status, 200);
    let (_, body, _) = post(&server, "/introspect", me, &[("token", &access)]).await;
    assert_eq!(body["active"], true);

    // Revoking the refresh token revokes the access tokens of its grant.
    let (status, _, _) = post(
        &server,
        "/revoke",
        me,
        &[("token", &refresh), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(status, 200);
    let (_, body, _) = post(&server, "/introspect", me, &[("token", &access)]).await;
    assert_eq!(body, serde_json::json!({"active": false}));
    let (status, body, _) = post(
        &server,
        "/token",
        me,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");

    // Unknown tokens: 200 on revocation, inactive on introspection.
    let (status, _, _) = post(&server, "/revoke", me, &[("token", "nope")]).await;
    assert_eq!(status, 200);
    let (status, body, _) = post(
        &server,
        "/revoke",
        me,
        &[("token", "nope"), ("token_type_hint", "id_token")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unsupported_token_type");
    db.drop_db().await;
}

#[tokio::test]
async fn a_resource_server_introspects_tokens_for_its_audience() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    add_clients(&db).await;
    let (status, body, _) = post(
        &server,
        "/token",
        ("service", SERVICE_SECRET),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "reports:read"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (_, body, _) = post(
        &server,
        "/introspect",
        ("reports-api", API_SECRET),
        &[("token", &token)],
    )
    .await;
    assert_eq!(body["active"], true);
    assert_eq!(body["aud"], "reports-api");
    assert_eq!(body["client_id"], "service");
    // The web app is no resource server for reports-api.
    let (_, body, _) = post(
        &server,
        "/introspect",
        (CLIENT_ID, CLIENT_SECRET),
        &[("token", &token)],
    )
    .await;
    assert_eq!(body, serde_json::json!({"active": false}));
    // Wrong credentials: 401.
    let (status, body, _) = post(
        &server,
        "/introspect",
        ("reports-api", "wrong"),
        &[("token", &token)],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    db.drop_db().await;
}

#[tokio::test]
async fn form_post_delivers_the_code_with_state_and_iss() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let browser = browser();
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = server
        .oauth_client()
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .add_extra_param("response_mode", "form_post")
        .url();
    let (page, _) = sign_in_from(&browser, &server.base, url.to_string(), USERNAME, PASSWORD).await;
    let form = parse_form(&page.text().await.unwrap());
    let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(
        csp.contains(&format!("form-action {REDIRECT_URI}")),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let html = response.text().await.unwrap();
    let form = parse_form(&html);
    assert_eq!(form.action, REDIRECT_URI);
    let fields: std::collections::HashMap<_, _> = form.hidden.into_iter().collect();
    assert_eq!(fields["code"].len(), 43);
    assert_eq!(fields["state"], *state.secret());
    assert_eq!(fields["iss"], server.base);
    assert!(html.contains("<noscript>"));
    db.drop_db().await;
}
