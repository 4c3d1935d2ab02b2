//! The implicit grant (RFC 6749 §4.2), off by default.

use portcullis_core::Scope;

use crate::support::*;

fn implicit_params<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "token"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("scope", "read"),
        ("state", STATE),
    ];
    params.extend_from_slice(extra);
    params
}

#[tokio::test]
async fn token_response_type_is_unsupported_unless_registered() {
    let ts = TestServer::new();
    let params = ts
        .authorize_redirect_error(&implicit_params(&[]), "unsupported_response_type")
        .await;
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn token_is_delivered_in_the_fragment_without_refresh_token() {
    let ts = TestServer::with_all_grants();
    let url = ts.authorize_ok(&implicit_params(&[])).await;
    assert!(url.as_str().starts_with("https://app.example/cb#"), "{url}");
    assert_eq!(url.query(), None, "nothing may travel in the query: {url}");
    let params = fragment_params(&url);
    let access = params.get("access_token").expect("an access token");
    assert_eq!(params.get("token_type").map(String::as_str), Some("Bearer"));
    assert_eq!(params.get("expires_in").map(String::as_str), Some("3600"));
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER));
    assert!(!params.contains_key("refresh_token"));
    assert!(!params.contains_key("code"));

    let info = ts.validate(access, "read").await.unwrap();
    assert_eq!(info.subject.as_deref(), Some(USER));
    assert_eq!(info.scope, Scope::parse("read").unwrap());
    let stored = ts.store().tokens().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].refresh_token_hash, None);
}

#[tokio::test]
async fn response_mode_query_is_refused() {
    let ts = TestServer::with_all_grants();
    let error = ts
        .authorize(
            &authorize_request(&implicit_params(&[("response_mode", "query")])),
            Some(USER),
        )
        .await
        .unwrap_err();
    assert!(error.is_redirect());
    assert_eq!(error.code().as_str(), "invalid_request");
    let url = location(&error.into_response());
    // The error goes back in the fragment, not the query.
    assert_eq!(url.query(), None, "{url}");
    let params = fragment_params(&url);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("invalid_request")
    );
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn response_mode_fragment_is_accepted() {
    let ts = TestServer::with_all_grants();
    let url = ts
        .authorize_ok(&implicit_params(&[("response_mode", "fragment")]))
        .await;
    assert!(fragment_params(&url).contains_key("access_token"));
}

#[tokio::test]
async fn denied_implicit_request_errors_in_the_fragment() {
    let ts = TestServer::with_all_grants();
    let error = ts
        .authorize(&authorize_request(&implicit_params(&[])), None)
        .await
        .unwrap_err();
    let url = location(&error.into_response());
    assert_eq!(url.query(), None, "{url}");
    let params = fragment_params(&url);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("access_denied")
    );
    assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER));
}

#[tokio::test]
async fn client_without_token_response_type_is_unauthorized_client() {
    let ts = TestServer::with_all_grants();
    let mut client = confidential_client();
    client.response_types = strings(&["code"]);
    ts.add_client(client);
    ts.authorize_redirect_error(&implicit_params(&[]), "unauthorized_client")
        .await;
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn implicit_token_cannot_be_used_at_the_token_endpoint() {
    let ts = TestServer::with_all_grants();
    let response = ts
        .post_token(CONF, &[("grant_type", "implicit"), ("scope", "read")])
        .await;
    assert_token_error(
        &response,
        http::StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
}
