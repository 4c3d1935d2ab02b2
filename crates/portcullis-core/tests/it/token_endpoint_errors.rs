//! Token endpoint request errors (RFC 6749 §5.2).

use bytes::Bytes;
use http::{header, Method, StatusCode};
use portcullis_core::OAuthRequest;

use crate::support::*;

fn raw(method: Method, content_type: Option<&str>, body: &str) -> OAuthRequest {
    let mut builder = http::Request::builder()
        .method(method)
        .uri("/token")
        .header(header::AUTHORIZATION, basic_header(CONF_ID, CONF_SECRET));
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Bytes::from(body.to_owned())).unwrap()
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

#[tokio::test]
async fn get_is_405_with_allow_post() {
    let ts = TestServer::new();
    let request = http::Request::get("/token?grant_type=client_credentials")
        .header(header::AUTHORIZATION, basic_header(CONF_ID, CONF_SECRET))
        .body(Bytes::new())
        .unwrap();
    let response = ts.token(&request).await;
    assert_token_error(&response, StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(header_str(&response, header::ALLOW), Some("POST"));
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn wrong_content_type_is_invalid_request() {
    let ts = TestServer::new();
    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let response = ts
            .token(&raw(
                Method::POST,
                content_type,
                "grant_type=client_credentials",
            ))
            .await;
        assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn form_content_type_with_charset_is_accepted() {
    let ts = TestServer::new();
    let response = ts
        .token(&raw(
            Method::POST,
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            "grant_type=client_credentials",
        ))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
}

#[tokio::test]
async fn missing_grant_type_is_invalid_request() {
    let ts = TestServer::new();
    let response = ts.token(&raw(Method::POST, FORM, "scope=read")).await;
    let body = assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(
        field(&body, "error_description").contains("grant_type"),
        "{body}"
    );
    let response = ts
        .token(&raw(Method::POST, FORM, "grant_type=&scope=read"))
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn unknown_grant_type_is_unsupported_grant_type() {
    let ts = TestServer::new();
    for grant_type in [
        "urn:example:magic",
        "AUTHORIZATION_CODE",
        "implicit",
        "password",
    ] {
        let response = ts
            .token(&raw(
                Method::POST,
                FORM,
                &encode(&[("grant_type", grant_type)]),
            ))
            .await;
        assert_token_error(&response, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
}

#[tokio::test]
async fn duplicate_parameter_is_invalid_request() {
    let ts = TestServer::new();
    let response = ts
        .token(&raw(
            Method::POST,
            FORM,
            "grant_type=client_credentials&scope=read&scope=write",
        ))
        .await;
    let body = assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(
        field(&body, "error_description").contains("scope"),
        "{body}"
    );
    let response = ts
        .token(&raw(
            Method::POST,
            FORM,
            "grant_type=client_credentials&grant_type=client_credentials",
        ))
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn parameters_in_the_query_are_ignored() {
    let ts = TestServer::new();
    let request = http::Request::post("/token?grant_type=client_credentials")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, basic_header(CONF_ID, CONF_SECRET))
        .body(Bytes::new())
        .unwrap();
    assert_token_error(
        &ts.token(&request).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}

#[tokio::test]
async fn oversized_body_is_invalid_request() {
    let ts = TestServer::new();
    let body = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(70 * 1024)
    );
    let response = ts.token(&raw(Method::POST, FORM, &body)).await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn every_error_is_json_with_error_description_and_no_store() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    let cases: Vec<(OAuthRequest, StatusCode, &str)> = vec![
        (
            raw(Method::GET, FORM, ""),
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
        ),
        (
            raw(Method::DELETE, FORM, ""),
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
        ),
        (
            raw(Method::POST, Some("application/json"), "{}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(Method::POST, FORM, ""),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw(Method::POST, FORM, "grant_type=nope"),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            token_request(
                Auth::Basic(CONF_ID, "bad"),
                &[("grant_type", "client_credentials")],
            ),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            token_request(
                CONF,
                &[("grant_type", "client_credentials"), ("scope", "admin")],
            ),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            token_request(PUBLIC, &[("grant_type", "client_credentials")]),
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            token_request(
                CONF,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CONF_REDIRECT_2),
                    ("code_verifier", &pkce.verifier),
                ],
            ),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ];
    for (request, status, code) in cases {
        let response = ts.token(&request).await;
        let body = assert_token_error(&response, status, code);
        assert_eq!(
            body.as_object().map(|o| o.len()),
            Some(2),
            "only error and error_description: {body}"
        );
    }
}
