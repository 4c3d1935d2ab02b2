//! The `iss` authorization response parameter (RFC 9207): in every authorization
//! response, success or error, whatever the response mode; never without an issuer.

use std::collections::HashMap;

use crate::support::*;

/// A code request (S256 PKCE) in `mode` (`None`: the default, query).
async fn code(
    ts: &TestServer,
    mode: Option<&str>,
    scope: &str,
    user: Option<&str>,
) -> (Delivery, HashMap<String, String>) {
    let pkce = PkcePair::new();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("scope", scope),
        ("state", STATE),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(mode) = mode {
        params.push(("response_mode", mode));
    }
    delivered(&ts.authorize_response(&params, user).await)
}

/// An implicit request in `mode` (`None`: the default, fragment).
async fn implicit(
    ts: &TestServer,
    mode: Option<&str>,
    scope: &str,
    user: Option<&str>,
) -> (Delivery, HashMap<String, String>) {
    let mut params = vec![
        ("response_type", "token"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("scope", scope),
        ("state", STATE),
    ];
    if let Some(mode) = mode {
        params.push(("response_mode", mode));
    }
    delivered(&ts.authorize_response(&params, user).await)
}

fn assert_iss(delivery: Delivery, params: &HashMap<String, String>, expected: Delivery) {
    assert_eq!(delivery, expected, "{params:?}");
    assert_eq!(
        params.get("iss").map(String::as_str),
        Some(ISSUER),
        "{params:?}"
    );
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
}

#[tokio::test]
async fn code_success_in_the_query_has_iss() {
    let ts = TestServer::new();
    let (delivery, params) = code(&ts, None, "read", Some(USER)).await;
    assert_iss(delivery, &params, Delivery::Query);
    assert!(params.contains_key("code"));
}

#[tokio::test]
async fn code_denial_in_the_query_has_iss() {
    let ts = TestServer::new();
    let (delivery, params) = code(&ts, None, "read", None).await;
    assert_iss(delivery, &params, Delivery::Query);
    assert_eq!(params["error"], "access_denied");
}

#[tokio::test]
async fn code_validation_error_in_the_query_has_iss() {
    let ts = TestServer::new();
    let (delivery, params) = code(&ts, None, "read admin", Some(USER)).await;
    assert_iss(delivery, &params, Delivery::Query);
    assert_eq!(params["error"], "invalid_scope");
}

#[tokio::test]
async fn code_in_the_fragment_has_iss() {
    let ts = TestServer::new();
    let (delivery, params) = code(&ts, Some("fragment"), "read", Some(USER)).await;
    assert_iss(delivery, &params, Delivery::Fragment);
    assert!(params.contains_key("code"));
    let (delivery, params) = code(&ts, Some("fragment"), "read", None).await;
    assert_iss(delivery, &params, Delivery::Fragment);
    assert_eq!(params["error"], "access_denied");
}

#[tokio::test]
async fn implicit_success_in_the_fragment_has_iss() {
    let ts = TestServer::with_all_grants();
    let (delivery, params) = implicit(&ts, None, "read", Some(USER)).await;
    assert_iss(delivery, &params, Delivery::Fragment);
    assert!(params.contains_key("access_token"));
}

#[tokio::test]
async fn implicit_errors_in_the_fragment_have_iss() {
    let ts = TestServer::with_all_grants();
    let (delivery, params) = implicit(&ts, None, "read", None).await;
    assert_iss(delivery, &params, Delivery::Fragment);
    assert_eq!(params["error"], "access_denied");

    let (delivery, params) = implicit(&ts, None, "read admin", Some(USER)).await;
    assert_iss(delivery, &params, Delivery::Fragment);
    assert_eq!(params["error"], "invalid_scope");

    let (delivery, params) = implicit(&ts, Some("query"), "read", Some(USER)).await;
    assert_iss(delivery, &params, Delivery::Fragment);
    assert_eq!(params["error"], "invalid_request");
}

#[tokio::test]
async fn form_post_success_and_errors_have_iss() {
    let ts = TestServer::with_all_grants();
    let (delivery, params) = code(&ts, Some("form_post"), "read", Some(USER)).await;
    assert_iss(delivery, &params, Delivery::FormPost);
    assert!(params.contains_key("code"));

    let (delivery, params) = code(&ts, Some("form_post"), "read", None).await;
    assert_iss(delivery, &params, Delivery::FormPost);
    assert_eq!(params["error"], "access_denied");

    let (delivery, params) = implicit(&ts, Some("form_post"), "read", Some(USER)).await;
    assert_iss(delivery, &params, Delivery::FormPost);
    assert!(params.contains_key("access_token"));

    let (delivery, params) = implicit(&ts, Some("form_post"), "read admin", Some(USER)).await;
    assert_iss(delivery, &params, Delivery::FormPost);
    assert_eq!(params["error"], "invalid_scope");
}

#[tokio::test]
async fn early_errors_have_iss() {
    // Errors found before the response type is known still go back with iss.
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    for response_type in ["", "bogus"] {
        let params = [
            ("response_type", response_type),
            ("client_id", CONF_ID),
            ("redirect_uri", CONF_REDIRECT),
            ("state", STATE),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let (delivery, params) = delivered(&ts.authorize_response(&params, Some(USER)).await);
        assert_iss(delivery, &params, Delivery::Query);
        assert!(params.contains_key("error"));
    }
}

#[tokio::test]
async fn consent_page_errors_have_iss() {
    let ts = TestServer::new();
    let request = authorize_request(&[
        ("response_type", "code"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("state", STATE),
    ]);
    // No PKCE challenge: refused when the consent page validates the request.
    let error = ts
        .server
        .get_consent_grant(&request, None)
        .await
        .unwrap_err();
    assert!(error.is_redirect(), "{error}");
    let (delivery, params) = delivered(&error.into_response());
    assert_iss(delivery, &params, Delivery::Query);
    assert_eq!(params["error"], "invalid_request");
}

#[tokio::test]
async fn iss_is_the_configured_issuer_exactly() {
    let ts = TestServer::with_config(Config {
        issuer: Some("https://as.example/tenants/a?b=c&d"),
        ..Config::default()
    });
    let (_, params) = code(&ts, None, "read", Some(USER)).await;
    assert_eq!(params["iss"], "https://as.example/tenants/a?b=c&d");
    let (_, params) = code(&ts, Some("form_post"), "read", None).await;
    assert_eq!(params["iss"], "https://as.example/tenants/a?b=c&d");
}

#[tokio::test]
async fn no_iss_without_an_issuer() {
    let ts = TestServer::with_config(Config {
        issuer: None,
        implicit: true,
        ..Config::default()
    });
    let cases = [
        code(&ts, None, "read", Some(USER)).await,
        code(&ts, None, "read", None).await,
        code(&ts, None, "read admin", Some(USER)).await,
        code(&ts, Some("form_post"), "read", Some(USER)).await,
        code(&ts, Some("form_post"), "read", None).await,
        implicit(&ts, None, "read", Some(USER)).await,
        implicit(&ts, None, "read", None).await,
        implicit(&ts, Some("form_post"), "read", Some(USER)).await,
        implicit(&ts, Some("query"), "read", Some(USER)).await,
    ];
    for (delivery, params) in &cases {
        assert!(!params.contains_key("iss"), "{delivery:?}: {params:?}");
        assert_eq!(params.get("state").map(String::as_str), Some(STATE));
        assert!(
            params.contains_key("code")
                || params.contains_key("access_token")
                || params.contains_key("error"),
            "{params:?}"
        );
    }
}
