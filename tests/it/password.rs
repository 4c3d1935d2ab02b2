//! The password grant (RFC 6749 §4.3): off unless the application registers it.

use oauth2::{ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse};

use crate::support::{oauth_error, TestApp, WEB_SECRET};

#[tokio::test]
async fn password_grant_is_off_by_default() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    let result = client
        .exchange_password(
            &ResourceOwnerUsername::new("alice".into()),
            &ResourceOwnerPassword::new("wonderland".into()),
        )
        .request_async(&app.http)
        .await;
    assert_eq!(oauth_error(result), "unsupported_grant_type");
}

#[tokio::test]
async fn password_grant_when_enabled() {
    let app = TestApp::start(true).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    let token = client
        .exchange_password(
            &ResourceOwnerUsername::new("alice".into()),
            &ResourceOwnerPassword::new("wonderland".into()),
        )
        .add_scope(Scope::new("profile".into()))
        .request_async(&app.http)
        .await
        .unwrap();
    assert!(token.refresh_token().is_some());
    let me: serde_json::Value = app
        .api_me(token.access_token().secret())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], "alice");

    let wrong = client
        .exchange_password(
            &ResourceOwnerUsername::new("alice".into()),
            &ResourceOwnerPassword::new("looking-glass".into()),
        )
        .request_async(&app.http)
        .await;
    assert_eq!(oauth_error(wrong), "invalid_grant");
}
