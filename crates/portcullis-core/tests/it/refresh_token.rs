//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection.

use http::StatusCode;
use portcullis_core::{BearerTokenGenerator, Scope};

use crate::support::*;

struct Pair {
    access: String,
    refresh: String,
}

fn pair(body: &serde_json::Value) -> Pair {
    Pair {
        access: field(body, "access_token").to_owned(),
        refresh: field(body, "refresh_token").to_owned(),
    }
}

async fn refreshed(ts: &TestServer, refresh: &str, scope: Option<&str>) -> serde_json::Value {
    let response = ts.refresh(refresh, scope).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    json(&response)
}

#[tokio::test]
async fn refresh_rotates_the_pair() {
    let ts = TestServer::new();
    let old = pair(&ts.conf_tokens("read write").await);
    let body = refreshed(&ts, &old.refresh, None).await;
    assert_eq!(body["token_type"], "Bearer");
    let new = pair(&body);
    assert_ne!(new.refresh, old.refresh);
    assert_ne!(new.access, old.access);

    assert!(ts.is_active(&new.access).await);
    assert!(
        !ts.is_active(&old.access).await,
        "the old access token is revoked on rotation"
    );
    // The old refresh token no longer works.
    assert_invalid_grant(&ts.refresh(&old.refresh, None).await);
}

#[tokio::test]
async fn refreshed_token_keeps_subject_and_scope() {
    let ts = TestServer::new();
    let old = pair(&ts.conf_tokens("read write").await);
    let body = refreshed(&ts, &old.refresh, None).await;
    assert_eq!(
        Scope::parse(field(&body, "scope")).unwrap(),
        Scope::parse("read write").unwrap()
    );
    let info = ts
        .validate(field(&body, "access_token"), "read write")
        .await
        .unwrap();
    assert_eq!(info.subject.as_deref(), Some(USER));
    assert_eq!(info.client_id, CONF_ID);
}

#[tokio::test]
async fn replay_of_rotated_token_is_invalid_grant_and_revokes_new_tokens() {
    let ts = TestServer::new();
    let old = pair(&ts.conf_tokens("read").await);
    let new = pair(&refreshed(&ts, &old.refresh, None).await);
    assert!(ts.is_active(&new.access).await);

    assert_invalid_grant(&ts.refresh(&old.refresh, None).await);

    assert!(
        !ts.is_active(&new.access).await,
        "reuse revokes the whole grant"
    );
    assert_invalid_grant(&ts.refresh(&new.refresh, None).await);
    assert!(ts.store().tokens().unwrap().iter().all(|t| t.revoked));
}

#[tokio::test]
async fn replay_revokes_only_its_own_grant() {
    let ts = TestServer::new();
    let victim = pair(&ts.conf_tokens("read").await);
    let bystander = pair(&ts.conf_tokens("read").await);
    let _ = refreshed(&ts, &victim.refresh, None).await;
    assert_invalid_grant(&ts.refresh(&victim.refresh, None).await);
    assert!(ts.is_active(&bystander.access).await);
    let _ = refreshed(&ts, &bystander.refresh, None).await;
}

#[tokio::test]
async fn narrower_scope_is_granted() {
    let ts = TestServer::new();
    let old = pair(&ts.conf_tokens("read write").await);
    let body = refreshed(&ts, &old.refresh, Some("read")).await;
    assert_eq!(body["scope"], "read");
    let access = field(&body, "access_token");
    assert!(ts.validate(access, "read").await.is_ok());
    assert!(ts.validate(access, "write").await.is_err());
}

#[tokio::test]
async fn wider_scope_is_invalid_scope_and_token_stays_usable() {
    let ts = TestServer::new();
    let old = pair(&ts.conf_tokens("read").await);
    // `write` is allowed to the client but was not granted by the user.
    let response = ts.refresh(&old.refresh, Some("read write")).await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_scope");
    assert!(ts.is_active(&old.access).await);
    let _ = refreshed(&ts, &old.refresh, None).await;
}

#[tokio::test]
async fn refresh_token_of_another_client_is_invalid_grant() {
    let ts = TestServer::new();
    ts.add_client(other_client(
        "other-app",
        "other-secret",
        "client_secret_basic",
        &["refresh_token"],
    ));
    let old = pair(&ts.conf_tokens("read").await);
    let response = ts
        .post_token(
            Auth::Basic("other-app", "other-secret"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &old.refresh),
            ],
        )
        .await;
    assert_invalid_grant(&response);
    // The owner's tokens are untouched.
    assert!(ts.is_active(&old.access).await);
    let _ = refreshed(&ts, &old.refresh, None).await;
}

#[tokio::test]
async fn expired_refresh_token_is_invalid_grant() {
    let ts = TestServer::with_config(Config {
        bearer: Some(BearerTokenGenerator::default().with_refresh_token_lifetime(Some(7200))),
        ..Config::default()
    });
    let old = pair(&ts.conf_tokens("read").await);
    ts.clock.advance(7201);
    assert_invalid_grant(&ts.refresh(&old.refresh, None).await);
}

#[tokio::test]
async fn refresh_token_valid_until_its_lifetime_ends() {
    let ts = TestServer::with_config(Config {
        bearer: Some(BearerTokenGenerator::default().with_refresh_token_lifetime(Some(7200))),
        ..Config::default()
    });
    let old = pair(&ts.conf_tokens("read").await);
    ts.clock.advance(7199);
    // The access token (3600 s) has expired, the refresh token has not.
    assert!(!ts.is_active(&old.access).await);
    let body = refreshed(&ts, &old.refresh, None).await;
    assert!(ts.is_active(field(&body, "access_token")).await);
}

#[tokio::test]
async fn unknown_refresh_token_is_invalid_grant() {
    let ts = TestServer::new();
    assert_invalid_grant(&ts.refresh(&PkcePair::new().verifier, None).await);
}

#[tokio::test]
async fn missing_refresh_token_is_invalid_request() {
    let ts = TestServer::new();
    let response = ts
        .post_token(CONF, &[("grant_type", "refresh_token")])
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn access_token_is_not_a_refresh_token() {
    let ts = TestServer::new();
    let old = pair(&ts.conf_tokens("read").await);
    assert_invalid_grant(&ts.refresh(&old.access, None).await);
}

#[tokio::test]
async fn public_client_refreshes_with_none_auth() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.public_code("read", &pkce).await;
    let response = ts
        .post_token(
            PUBLIC,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", PUBLIC_REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    let old = pair(&json(&response));
    let response = ts
        .post_token(
            PUBLIC,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &old.refresh),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    assert_ne!(pair(&json(&response)).refresh, old.refresh);
}

/// Issue 9, finding 6: rotation restarts only the idle lifetime; the grant's absolute
/// lifetime, counted from its first refresh token, is never extended, however often
/// (and however promptly) the client rotates.
#[tokio::test]
async fn rotation_never_extends_the_grant_past_its_absolute_lifetime() {
    let ts = TestServer::with_config(Config {
        bearer: Some(
            BearerTokenGenerator::default()
                .with_refresh_token_lifetime(Some(1000))
                .with_max_grant_lifetime(Some(2500)),
        ),
        ..Config::default()
    });
    let mut current = pair(&ts.conf_tokens("read").await);
    // Rotate every 900 s: each refresh token would live 1000 s from its issue, but
    // the grant ends 2500 s after it began.
    for _ in 0..2 {
        ts.clock.advance(900);
        current = pair(&refreshed(&ts, &current.refresh, None).await);
    }
    let introspected = ts.introspect_ok(CONF, &current.refresh).await;
    assert_eq!(
        introspected["exp"],
        START + 2500,
        "capped at the grant's end"
    );
    ts.clock.advance(699);
    current = pair(&refreshed(&ts, &current.refresh, None).await);
    ts.clock.set(START + 2500);
    assert_invalid_grant(&ts.refresh(&current.refresh, None).await);
}
