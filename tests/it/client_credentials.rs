//! client_credentials with the `oauth2` crate (RFC 6749 §4.4), client_secret_post.

use oauth2::{AuthType, Scope, TokenResponse};

use crate::support::{oauth_error, TestApp, SERVICE_SECRET};

#[tokio::test]
async fn client_credentials_issues_a_scoped_token_without_refresh() {
    let app = TestApp::start(false).await;
    let client = app
        .oauth_client("service", SERVICE_SECRET)
        .set_auth_type(AuthType::RequestBody);
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("reports:read".into()))
        .request_async(&app.http)
        .await
        .unwrap();
    assert_eq!(token.scopes().unwrap()[0].as_str(), "reports:read");
    assert!(
        token.refresh_token().is_none(),
        "RFC 6749 §4.4.3: no refresh token"
    );
    // The token is valid but lacks `profile`, which /api/me requires.
    let me = app.api_me(token.access_token().secret()).await;
    assert_eq!(me.status(), 403);
    let challenge = me.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(challenge.contains("scope=\"profile\""), "{challenge}");
}

#[tokio::test]
async fn client_credentials_refuses_a_scope_the_client_lacks() {
    let app = TestApp::start(false).await;
    let client = app
        .oauth_client("service", SERVICE_SECRET)
        .set_auth_type(AuthType::RequestBody);
    let result = client
        .exchange_client_credentials()
        .add_scope(Scope::new("admin".into()))
        .request_async(&app.http)
        .await;
    assert_eq!(oauth_error(result), "invalid_scope");
}

#[tokio::test]
async fn wrong_secret_is_invalid_client_401() {
    let app = TestApp::start(false).await;
    let (status, body) = app
        .token_request("web-app", "not-the-secret", "grant_type=client_credentials")
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
}
