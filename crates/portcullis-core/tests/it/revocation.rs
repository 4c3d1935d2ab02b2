//! Token revocation (RFC 7009).

use bytes::Bytes;
use http::{header, StatusCode};
use portcullis_core::EndpointName;
use serde_json::json;

use crate::support::*;

struct Pair {
    access: String,
    refresh: String,
}

/// A fresh access/refresh pair for the confidential client.
async fn conf_pair(ts: &TestServer) -> Pair {
    let body = ts.conf_tokens("read write").await;
    Pair {
        access: field(&body, "access_token").to_owned(),
        refresh: field(&body, "refresh_token").to_owned(),
    }
}

/// The refresh token still refreshes (and rotates: returns the new pair).
async fn refreshes(ts: &TestServer, refresh: &str) -> bool {
    let response = ts.refresh(refresh, None).await;
    match response.status() {
        StatusCode::OK => true,
        _ => {
            assert_invalid_grant(&response);
            false
        }
    }
}

const OTHER_ID: &str = "other-app";
const OTHER_SECRET: &str = "other-secret-51d0c3e9aa";

#[tokio::test]
async fn only_post_is_allowed() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    for method in ["GET", "PUT", "DELETE"] {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("/revoke?{}", encode(&[("token", &pair.access)])))
            .header(header::AUTHORIZATION, basic_header(CONF_ID, CONF_SECRET))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Bytes::from(encode(&[("token", &pair.access)])))
            .unwrap();
        let response = ts.endpoint(EndpointName::REVOCATION, &request).await;
        assert_token_error(&response, StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
        assert_eq!(header_str(&response, header::ALLOW), Some("POST"));
    }
    assert!(ts.is_active(&pair.access).await);
}

#[tokio::test]
async fn wrong_secret_is_invalid_client_and_revokes_nothing() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    for auth in [
        Auth::Basic(CONF_ID, "not-the-secret"),
        // Either secret method is accepted (the client is not strict), not a wrong
        // secret sent in the body.
        Auth::Post(CONF_ID, "not-the-secret"),
        Auth::Public(CONF_ID), // a confidential client needs its secret
        Auth::Basic("no-such-client", CONF_SECRET),
    ] {
        let response = ts.revoke(auth, &[("token", &pair.access)]).await;
        assert_token_error(&response, StatusCode::UNAUTHORIZED, "invalid_client");
        assert!(header_str(&response, header::WWW_AUTHENTICATE).is_some());
    }
    assert!(ts.is_active(&pair.access).await);
    assert!(refreshes(&ts, &pair.refresh).await);
}

#[tokio::test]
async fn unauthenticated_request_is_invalid_client() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    let response = ts.revoke(Auth::Anonymous, &[("token", &pair.access)]).await;
    assert_token_error(&response, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(ts.is_active(&pair.access).await);
}

#[tokio::test]
async fn public_client_revokes_its_own_token_with_client_id_only() {
    let ts = TestServer::new();
    let body = ts.public_tokens("read").await;
    let access = field(&body, "access_token");
    let refresh = field(&body, "refresh_token");
    assert!(ts.is_active(access).await);

    assert_revocation_ok(&ts.revoke(PUBLIC, &[("token", refresh)]).await);

    assert!(!ts.is_active(access).await);
    let response = ts
        .post_token(
            PUBLIC,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_invalid_grant(&response);
}

#[tokio::test]
async fn revoked_access_token_is_inactive_everywhere() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    assert!(ts.is_active(&pair.access).await);
    assert_eq!(ts.introspect_ok(CONF, &pair.access).await["active"], true);

    let response = ts
        .revoke(
            CONF,
            &[("token", &pair.access), ("token_type_hint", "access_token")],
        )
        .await;
    assert_revocation_ok(&response);

    assert!(!ts.is_active(&pair.access).await);
    assert_eq!(
        ts.introspect_ok(CONF, &pair.access).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_grant() {
    let ts = TestServer::new();
    let first = conf_pair(&ts).await;
    // Rotate once: the grant now has a second, current pair.
    let response = ts.refresh(&first.refresh, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(&response);
    let current = Pair {
        access: field(&body, "access_token").to_owned(),
        refresh: field(&body, "refresh_token").to_owned(),
    };
    // An unrelated grant of the same client.
    let unrelated = conf_pair(&ts).await;
    assert!(ts.is_active(&current.access).await);

    let response = ts
        .revoke(
            CONF,
            &[
                ("token", &current.refresh),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_revocation_ok(&response);

    assert!(!ts.is_active(&current.access).await);
    assert!(!refreshes(&ts, &current.refresh).await);
    assert_eq!(
        ts.introspect_ok(CONF, &current.refresh).await,
        json!({"active": false})
    );
    // Only that grant.
    assert!(ts.is_active(&unrelated.access).await);
    assert!(refreshes(&ts, &unrelated.refresh).await);
}

#[tokio::test]
async fn refresh_token_sent_with_access_token_hint_is_still_revoked() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    let response = ts
        .revoke(
            CONF,
            &[
                ("token", &pair.refresh),
                ("token_type_hint", "access_token"),
            ],
        )
        .await;
    assert_revocation_ok(&response);
    assert!(!refreshes(&ts, &pair.refresh).await);
    assert!(!ts.is_active(&pair.access).await);
}

#[tokio::test]
async fn access_token_sent_with_refresh_token_hint_is_still_revoked() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    let response = ts
        .revoke(
            CONF,
            &[
                ("token", &pair.access),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_revocation_ok(&response);
    assert!(!ts.is_active(&pair.access).await);
}

#[tokio::test]
async fn access_token_without_hint_is_revoked() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    assert_revocation_ok(&ts.revoke(CONF, &[("token", &pair.access)]).await);
    assert!(!ts.is_active(&pair.access).await);
}

#[tokio::test]
async fn client_credentials_token_is_revoked_with_client_secret_post() {
    let ts = TestServer::new();
    ts.add_client(other_client(
        OTHER_ID,
        OTHER_SECRET,
        "client_secret_post",
        &["client_credentials"],
    ));
    let response = ts
        .post_token(
            Auth::Post(OTHER_ID, OTHER_SECRET),
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let access = field(&json(&response), "access_token").to_owned();
    assert!(ts.is_active(&access).await);

    let response = ts
        .revoke(Auth::Post(OTHER_ID, OTHER_SECRET), &[("token", &access)])
        .await;
    assert_revocation_ok(&response);
    assert!(!ts.is_active(&access).await);
}

#[tokio::test]
async fn another_clients_token_is_200_and_keeps_working() {
    let ts = TestServer::new();
    ts.add_client(other_client(
        OTHER_ID,
        OTHER_SECRET,
        "client_secret_basic",
        &["client_credentials"],
    ));
    let pair = conf_pair(&ts).await;
    let other = Auth::Basic(OTHER_ID, OTHER_SECRET);

    for (token, hint) in [
        (&pair.access, "access_token"),
        (&pair.refresh, "refresh_token"),
        (&pair.access, "refresh_token"),
        (&pair.refresh, "access_token"),
    ] {
        let response = ts
            .revoke(other, &[("token", token), ("token_type_hint", hint)])
            .await;
        assert_revocation_ok(&response);
        assert_eq!(json(&response), json!({}));
    }

    assert!(ts.is_active(&pair.access).await);
    assert!(
        refreshes(&ts, &pair.refresh).await,
        "another client's revocation must not touch the token"
    );
}

#[tokio::test]
async fn unknown_token_is_200() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    for params in [
        vec![("token", "no-such-token")],
        vec![
            ("token", "no-such-token"),
            ("token_type_hint", "access_token"),
        ],
        vec![
            ("token", "no-such-token"),
            ("token_type_hint", "refresh_token"),
        ],
    ] {
        let response = ts.revoke(CONF, &params).await;
        assert_revocation_ok(&response);
        assert_eq!(json(&response), json!({}));
    }
    assert!(ts.is_active(&pair.access).await);
}

#[tokio::test]
async fn unsupported_hint_is_unsupported_token_type() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    for hint in ["id_token", "Access_Token", "refresh"] {
        let response = ts
            .revoke(CONF, &[("token", &pair.access), ("token_type_hint", hint)])
            .await;
        assert_token_error(&response, StatusCode::BAD_REQUEST, "unsupported_token_type");
    }
    assert!(ts.is_active(&pair.access).await);
}

#[tokio::test]
async fn missing_token_is_invalid_request() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    for params in [
        vec![],
        vec![("token", "")],
        vec![("token_type_hint", "access_token")],
    ] {
        let response = ts.revoke(CONF, &params).await;
        let body = assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
        assert!(
            field(&body, "error_description").contains("token"),
            "{body}"
        );
    }
    assert!(ts.is_active(&pair.access).await);
}

#[tokio::test]
async fn repeated_token_parameter_is_invalid_request() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    let response = ts
        .revoke(CONF, &[("token", &pair.access), ("token", "other")])
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(ts.is_active(&pair.access).await);
}

#[tokio::test]
async fn every_response_is_no_store() {
    let ts = TestServer::new();
    let pair = conf_pair(&ts).await;
    let get = http::Request::get("/revoke").body(Bytes::new()).unwrap();
    let responses = [
        ts.endpoint(EndpointName::REVOCATION, &get).await,
        ts.revoke(Auth::Basic(CONF_ID, "wrong"), &[("token", "x")])
            .await,
        ts.revoke(CONF, &[]).await,
        ts.revoke(CONF, &[("token", "x"), ("token_type_hint", "x")])
            .await,
        ts.revoke(CONF, &[("token", "unknown")]).await,
        ts.revoke(CONF, &[("token", &pair.access)]).await,
    ];
    for response in &responses {
        assert_eq!(
            header_str(response, header::CACHE_CONTROL),
            Some("no-store"),
            "{} {}",
            response.status(),
            body_text(response)
        );
    }
}
