//! The client credentials grant (RFC 6749 §4.4).

use http::{header, StatusCode};
use portcullis_core::{BearerError, Scope};

use crate::support::*;

#[tokio::test]
async fn success_issues_access_token_without_refresh_token() {
    let ts = TestServer::new();
    // conf-app may use refresh_token, and the grant is registered: still no refresh token.
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read write"),
            ],
        )
        .await;
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
    assert_eq!(header_str(&response, header::PRAGMA), Some("no-cache"));
    let body = json(&response);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"].as_i64(), Some(3600));
    assert!(body.get("refresh_token").is_none(), "{body}");
    let info = ts
        .validate(field(&body, "access_token"), "read write")
        .await
        .unwrap();
    assert_eq!(info.client_id, CONF_ID);
    assert_eq!(info.subject, None);
    let stored = ts.store().tokens().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].refresh_token_hash, None);
}

#[tokio::test]
async fn scope_subset_is_granted_and_nothing_more() {
    let ts = TestServer::new();
    let response = ts
        .post_token(
            CONF,
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(&response);
    assert_eq!(body["scope"], "read");
    let access = field(&body, "access_token");
    let info = ts.validate(access, "read").await.unwrap();
    assert_eq!(info.scope, Scope::parse("read").unwrap());
    assert_eq!(
        ts.validate(access, "write").await,
        Err(BearerError::InsufficientScope(
            Scope::parse("write").unwrap()
        ))
    );
}

#[tokio::test]
async fn scope_not_allowed_is_invalid_scope() {
    let ts = TestServer::new();
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read admin"),
            ],
        )
        .await;
    let body = assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_scope");
    assert!(
        field(&body, "error_description").contains("admin"),
        "{body}"
    );
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn malformed_scope_is_invalid_scope() {
    let ts = TestServer::new();
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read \"x\""),
            ],
        )
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_scope");
}

#[tokio::test]
async fn public_client_is_unauthorized_client() {
    let ts = TestServer::new();
    let mut client = public_client();
    client.grant_types.push("client_credentials".into());
    ts.add_client(client);
    let response = ts
        .post_token(
            PUBLIC,
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "unauthorized_client");
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn client_not_allowed_the_grant_type_is_unauthorized_client() {
    let ts = TestServer::new();
    ts.add_client(other_client(
        "code-only",
        "code-only-secret",
        "client_secret_basic",
        &["authorization_code"],
    ));
    let response = ts
        .post_token(
            Auth::Basic("code-only", "code-only-secret"),
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "unauthorized_client");
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn per_grant_lifetime_applies() {
    let ts = TestServer::with_config(Config {
        bearer: Some(
            portcullis_core::BearerTokenGenerator::default()
                .with_grant_lifetime("client_credentials", 300),
        ),
        ..Config::default()
    });
    let response = ts
        .post_token(
            CONF,
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    let body = json(&response);
    assert_eq!(body["expires_in"].as_i64(), Some(300));
    let access = field(&body, "access_token");
    ts.clock.advance(299);
    assert!(ts.is_active(access).await);
    ts.clock.advance(1);
    assert!(!ts.is_active(access).await);
}
