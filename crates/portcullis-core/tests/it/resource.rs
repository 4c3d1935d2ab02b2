//! Bearer token use at a protected resource (RFC 6750).

use bytes::Bytes;
use http::{header, StatusCode};
use portcullis_core::{BearerError, OAuthRequest, Scope};

use crate::support::*;

async fn access_token(ts: &TestServer, scope: &str) -> String {
    let response = ts
        .post_token(
            CONF,
            &[("grant_type", "client_credentials"), ("scope", scope)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    field(&json(&response), "access_token").to_owned()
}

fn with_header(token: &str) -> OAuthRequest {
    http::Request::get("/api/things")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap()
}

fn scope(value: &str) -> Scope {
    Scope::parse(value).unwrap()
}

fn challenge(response: &portcullis_core::OAuthResponse) -> String {
    header_str(response, header::WWW_AUTHENTICATE)
        .expect("a WWW-Authenticate challenge")
        .to_owned()
}

#[tokio::test]
async fn header_token_is_valid() {
    let ts = TestServer::new();
    let token = access_token(&ts, "read write").await;
    let info = ts
        .server
        .resource_protector()
        .validate_request(&with_header(&token), &scope("read"))
        .await
        .unwrap();
    assert_eq!(info.client_id, CONF_ID);
    assert_eq!(info.scope, scope("read write"));
    assert_eq!(info.expires_at, START + 3600);
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let ts = TestServer::new();
    let token = access_token(&ts, "read").await;
    let request = http::Request::get("/api")
        .header(header::AUTHORIZATION, format!("bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    assert!(ts
        .server
        .resource_protector()
        .validate_request(&request, &scope("read"))
        .await
        .is_ok());
}

#[tokio::test]
async fn expired_token_is_401_invalid_token() {
    let ts = TestServer::new();
    let token = access_token(&ts, "read").await;
    let protector = ts.server.resource_protector();
    ts.clock.advance(3599);
    assert!(protector
        .validate_request(&with_header(&token), &scope("read"))
        .await
        .is_ok());
    ts.clock.advance(1);
    let error = protector
        .validate_request(&with_header(&token), &scope("read"))
        .await
        .unwrap_err();
    assert_eq!(error, BearerError::InvalidToken);
    let response = error.into_response(protector.realm());
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenge(&response);
    assert!(
        challenge.starts_with("Bearer realm=\"portcullis\""),
        "{challenge}"
    );
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(json(&response)["error"], "invalid_token");
}

#[tokio::test]
async fn unknown_token_is_invalid_token() {
    let ts = TestServer::new();
    let forged = PkcePair::new().verifier;
    let error = ts
        .server
        .resource_protector()
        .validate_request(&with_header(&forged), &Scope::empty())
        .await
        .unwrap_err();
    assert_eq!(error, BearerError::InvalidToken);
}

#[tokio::test]
async fn malformed_header_token_is_invalid_token() {
    let ts = TestServer::new();
    let request = http::Request::get("/api")
        .header(header::AUTHORIZATION, "Bearer not a token!")
        .body(Bytes::new())
        .unwrap();
    let error = ts
        .server
        .resource_protector()
        .validate_request(&request, &Scope::empty())
        .await
        .unwrap_err();
    assert_eq!(error, BearerError::InvalidToken);
}

#[tokio::test]
async fn refresh_token_is_not_an_access_token() {
    let ts = TestServer::new();
    let body = ts.conf_tokens("read").await;
    let refresh = field(&body, "refresh_token");
    assert!(!ts.is_active(refresh).await);
}

#[tokio::test]
async fn insufficient_scope_is_403_with_scope_in_challenge() {
    let ts = TestServer::new();
    let token = access_token(&ts, "read").await;
    let protector = ts.server.resource_protector().with_realm("things");
    let error = protector
        .validate_request(&with_header(&token), &scope("read write"))
        .await
        .unwrap_err();
    assert_eq!(error, BearerError::InsufficientScope(scope("read write")));
    let response = error.into_response(protector.realm());
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = challenge(&response);
    assert!(
        challenge.starts_with("Bearer realm=\"things\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"read write\""), "{challenge}");
}

#[tokio::test]
async fn missing_token_is_401_without_error_code() {
    let ts = TestServer::new();
    let protector = ts.server.resource_protector();
    let request = http::Request::get("/api").body(Bytes::new()).unwrap();
    let error = protector
        .validate_request(&request, &Scope::empty())
        .await
        .unwrap_err();
    assert_eq!(error, BearerError::Missing);
    let response = error.into_response(protector.realm());
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenge(&response);
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    assert!(!challenge.contains("error="), "{challenge}");
    assert!(json(&response).get("error").is_none());
}

#[tokio::test]
async fn other_authorization_scheme_counts_as_missing() {
    let ts = TestServer::new();
    let request = http::Request::get("/api")
        .header(header::AUTHORIZATION, basic_header("a", "b"))
        .body(Bytes::new())
        .unwrap();
    let error = ts
        .server
        .resource_protector()
        .validate_request(&request, &Scope::empty())
        .await
        .unwrap_err();
    assert_eq!(error, BearerError::Missing);
}

#[tokio::test]
async fn query_token_is_refused_by_default() {
    let ts = TestServer::new();
    let token = access_token(&ts, "read").await;
    let request = http::Request::get(format!("/api?access_token={token}"))
        .body(Bytes::new())
        .unwrap();
    let protector = ts.server.resource_protector();
    let error = protector
        .validate_request(&request, &scope("read"))
        .await
        .unwrap_err();
    assert!(matches!(error, BearerError::InvalidRequest(_)), "{error:?}");
    let response = error.into_response(protector.realm());
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(challenge(&response).contains("error=\"invalid_request\""));
}

#[tokio::test]
async fn query_token_is_accepted_when_allowed() {
    let ts = TestServer::new();
    let token = access_token(&ts, "read").await;
    let request = http::Request::get(format!("/api?access_token={token}"))
        .body(Bytes::new())
        .unwrap();
    let info = ts
        .server
        .resource_protector()
        .allow_query_token(true)
        .validate_request(&request, &scope("read"))
        .await
        .unwrap();
    assert_eq!(info.client_id, CONF_ID);
}

#[tokio::test]
async fn token_in_header_and_body_is_invalid_request() {
    let ts = TestServer::new();
    let token = access_token(&ts, "read").await;
    let request = http::Request::post("/api")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Bytes::from(encode(&[("access_token", &token)])))
        .unwrap();
    let protector = ts.server.resource_protector();
    let error = protector
        .validate_request(&request, &scope("read"))
        .await
        .unwrap_err();
    assert!(matches!(error, BearerError::InvalidRequest(_)), "{error:?}");
    assert_eq!(
        error.into_response(protector.realm()).status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn token_in_header_and_allowed_query_is_invalid_request() {
    let ts = TestServer::new();
    let token = access_token(&ts, "read").await;
    let request = http::Request::get(format!("/api?access_token={token}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    let error = ts
        .server
        .resource_protector()
        .allow_query_token(true)
        .validate_request(&request, &scope("read"))
        .await
        .unwrap_err();
    assert!(matches!(error, BearerError::InvalidRequest(_)), "{error:?}");
}

#[tokio::test]
async fn form_body_token_is_accepted_on_post() {
    let ts = TestServer::new();
    let token = access_token(&ts, "read").await;
    let request = http::Request::post("/api")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Bytes::from(encode(&[
            ("access_token", &token),
            ("item", "42"),
        ])))
        .unwrap();
    let info = ts
        .server
        .resource_protector()
        .validate_request(&request, &scope("read"))
        .await
        .unwrap();
    assert_eq!(info.client_id, CONF_ID);
}

#[tokio::test]
async fn body_token_is_ignored_unless_form_post() {
    let ts = TestServer::new();
    let token = access_token(&ts, "read").await;
    let protector = ts.server.resource_protector();
    let json_body = http::Request::post("/api")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(encode(&[("access_token", &token)])))
        .unwrap();
    assert_eq!(
        protector.validate_request(&json_body, &scope("read")).await,
        Err(BearerError::Missing)
    );
    let get_body = http::Request::get("/api")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Bytes::from(encode(&[("access_token", &token)])))
        .unwrap();
    assert_eq!(
        protector.validate_request(&get_body, &scope("read")).await,
        Err(BearerError::Missing)
    );
}
