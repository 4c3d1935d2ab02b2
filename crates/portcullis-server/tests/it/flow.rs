//! The whole authorization-code + PKCE flow through the HTML forms, then the token
//! exchange with the `oauth2` crate, on SQLite and on PostgreSQL.

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope, TokenResponse};

use crate::support::*;

async fn full_flow(db: TestDb) {
    let server = TestServer::start(&db, |_| {}).await;
    let client = server.oauth_client();
    let browser = browser();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let (consent, consent_url) =
        sign_in_from(&browser, &server.base, url.to_string(), USERNAME, PASSWORD).await;
    assert_eq!(consent.status(), 200);
    assert!(consent_url.contains("/consent?"), "{consent_url}");
    for (name, expected) in [
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        let value = consent.headers()[name].to_str().unwrap();
        assert!(value.contains(expected), "{name}: {value}");
    }
    let html = consent.text().await.unwrap();
    assert!(
        html.contains("Web App"),
        "the consent page names the client"
    );
    assert!(
        html.contains("See your email address"),
        "scopes are shown in words"
    );
    let form = parse_form(&html);
    assert_eq!(
        form.action,
        consent_url.trim_start_matches(&server.base),
        "posts back to its own URL"
    );

    let response = submit(&browser, &server.base, &form, &[("decision", "allow")]).await;
    assert_eq!(response.status(), 302);
    let redirect = location(&server.base, &response);
    assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
    let params = query(&redirect);
    assert_eq!(params["state"], *state.secret());
    assert_eq!(params["iss"], server.base);

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(token.scopes().unwrap().len(), 2);
    let refreshed = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    assert_ne!(
        refreshed.access_token().secret(),
        token.access_token().secret()
    );
    db.drop_db().await;
}

#[tokio::test]
async fn browser_flow_on_sqlite() {
    full_flow(TestDb::sqlite()).await;
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn browser_flow_on_postgres() {
    full_flow(TestDb::postgres().await).await;
}

#[tokio::test]
async fn unknown_client_gets_an_error_page_not_a_redirect() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let response = browser()
        .get(server.url("/authorize?response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("cannot be completed"));
    db.drop_db().await;
}

#[tokio::test]
async fn healthz_and_token_endpoint_method() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let http = reqwest::Client::new();
    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let token = http.get(server.url("/token")).send().await.unwrap();
    assert_eq!(token.status(), 405);
    assert_eq!(token.headers()["allow"], "POST");
    db.drop_db().await;
}

/// `/healthz` asks the database itself (issue 10): once the database is gone it says
/// so with `503`, whatever is cached.
#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn healthz_answers_503_once_the_database_is_gone() {
    let db = TestDb::postgres().await;
    let server = TestServer::start(&db, |_| {}).await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    db.drop_db().await;
    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "database unavailable");
}
