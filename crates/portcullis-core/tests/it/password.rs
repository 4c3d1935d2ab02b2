//! The resource owner password credentials grant (RFC 6749 §4.3), off by default.

use http::StatusCode;

use crate::support::*;

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn password_grant_is_unsupported_unless_registered() {
    let ts = TestServer::new();
    ts.store().insert_user(USER, PASSWORD).unwrap();
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn password_grant_success() {
    let ts = TestServer::with_all_grants();
    ts.store().insert_user(USER, PASSWORD).unwrap();
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
                ("scope", "read"),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    let body = json(&response);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read");
    assert!(body["refresh_token"].is_string());
    let info = ts
        .validate(field(&body, "access_token"), "read")
        .await
        .unwrap();
    assert_eq!(info.subject.as_deref(), Some(USER));
    assert_eq!(info.client_id, CONF_ID);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_indistinguishable() {
    let ts = TestServer::with_all_grants();
    ts.store().insert_user(USER, PASSWORD).unwrap();
    let wrong_password = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", "tr0ub4dor&3"),
            ],
        )
        .await;
    let unknown_user = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "password"),
                ("username", "mallory"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let a = assert_invalid_grant(&wrong_password);
    let b = assert_invalid_grant(&unknown_user);
    assert_eq!(a, b, "the two failures must look the same");
    assert_eq!(wrong_password.headers(), unknown_user.headers());
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn password_is_case_sensitive_and_empty_password_refused() {
    let ts = TestServer::with_all_grants();
    ts.store().insert_user(USER, PASSWORD).unwrap();
    let upper = PASSWORD.to_uppercase();
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", &upper),
            ],
        )
        .await;
    assert_invalid_grant(&response);
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", ""),
            ],
        )
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn password_scope_not_allowed_is_invalid_scope() {
    let ts = TestServer::with_all_grants();
    ts.store().insert_user(USER, PASSWORD).unwrap();
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
                ("scope", "admin"),
            ],
        )
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_scope");
}

#[tokio::test]
async fn missing_username_is_invalid_request() {
    let ts = TestServer::with_all_grants();
    let response = ts
        .post_token(CONF, &[("grant_type", "password"), ("password", PASSWORD)])
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn client_not_allowed_password_grant_is_unauthorized_client() {
    let ts = TestServer::with_all_grants();
    ts.store().insert_user(USER, PASSWORD).unwrap();
    ts.add_client(other_client(
        "no-pw",
        "no-pw-secret",
        "client_secret_post",
        &["authorization_code"],
    ));
    let response = ts
        .post_token(
            Auth::Post("no-pw", "no-pw-secret"),
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "unauthorized_client");
}
