//! Authorization endpoint errors (RFC 6749 §4.1.2.1): which ones redirect, which don't.

use bytes::Bytes;
use http::{header, Method, StatusCode};
use portcullis_core::OAuthError;

use crate::support::*;

fn base<'a>(
    client_id: &'a str,
    redirect_uri: &'a str,
    pkce: &'a PkcePair,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "read"),
        ("state", STATE),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// The error must be shown to the user, never sent to a URI.
fn assert_not_redirected(error: &OAuthError) {
    assert!(!error.is_redirect(), "must not redirect: {error}");
    assert_eq!(error.code().as_str(), "invalid_request", "{error}");
    let response = error.clone().into_response();
    assert_ne!(response.status(), StatusCode::FOUND);
    assert!(response.headers().get(header::LOCATION).is_none());
}

#[tokio::test]
async fn unknown_client_is_not_redirected() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let request = authorize_request(&base("no-such-client", CONF_REDIRECT, &pkce));
    assert_not_redirected(&ts.authorize(&request, Some(USER)).await.unwrap_err());
    assert_not_redirected(
        &ts.server
            .get_consent_grant(&request, None)
            .await
            .unwrap_err(),
    );
}

#[tokio::test]
async fn missing_client_id_is_not_redirected() {
    let ts = TestServer::new();
    let request = authorize_request(&[("response_type", "code"), ("redirect_uri", CONF_REDIRECT)]);
    assert_not_redirected(&ts.authorize(&request, Some(USER)).await.unwrap_err());
}

#[tokio::test]
async fn unregistered_redirect_uri_variants_are_not_redirected() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    for uri in [
        "https://app.example/cb?x=1",
        "https://app.example/cb/",
        "https://APP.example/cb",
        "https://app.example/CB",
        "https://app.example/cb#frag",
        "https://app.example/cbx",
        "https://app.example/c",
        "http://app.example/cb",
        "https://evil.example/cb",
        "https://app.example.evil.example/cb",
    ] {
        let request = authorize_request(&base(CONF_ID, uri, &pkce));
        let error = ts.authorize(&request, Some(USER)).await.unwrap_err();
        assert!(!error.is_redirect(), "{uri} must not be redirected to");
        assert_not_redirected(&error);
    }
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn missing_redirect_uri_with_several_registered_is_not_redirected() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let mut params = base(CONF_ID, CONF_REDIRECT, &pkce);
    params.retain(|(name, _)| *name != "redirect_uri");
    let error = ts
        .authorize(&authorize_request(&params), Some(USER))
        .await
        .unwrap_err();
    assert_not_redirected(&error);
}

#[tokio::test]
async fn missing_response_type_redirects_invalid_request_with_state() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let mut params = base(CONF_ID, CONF_REDIRECT, &pkce);
    params.retain(|(name, _)| *name != "response_type");
    let found = ts
        .authorize_redirect_error(&params, "invalid_request")
        .await;
    assert_eq!(found.get("state").map(String::as_str), Some(STATE));
    assert_eq!(found.get("iss").map(String::as_str), Some(ISSUER));
}

#[tokio::test]
async fn unsupported_response_type_redirects() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let mut params = base(CONF_ID, CONF_REDIRECT, &pkce);
    params[0] = ("response_type", "code id_token");
    let found = ts
        .authorize_redirect_error(&params, "unsupported_response_type")
        .await;
    assert_eq!(found.get("state").map(String::as_str), Some(STATE));
}

#[tokio::test]
async fn error_redirect_goes_to_the_requested_redirect_uri() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let mut params = base(CONF_ID, CONF_REDIRECT_2, &pkce);
    params[0] = ("response_type", "bogus");
    let error = ts
        .authorize(&authorize_request(&params), Some(USER))
        .await
        .unwrap_err();
    let url = location(&error.into_response());
    assert!(
        url.as_str().starts_with("https://app.example/cb2?"),
        "{url}"
    );
}

#[tokio::test]
async fn client_not_allowed_response_type_is_unauthorized_client() {
    let ts = TestServer::new();
    let mut client = confidential_client();
    client.response_types = strings(&["token"]);
    ts.add_client(client);
    let pkce = PkcePair::new();
    ts.authorize_redirect_error(&base(CONF_ID, CONF_REDIRECT, &pkce), "unauthorized_client")
        .await;
}

#[tokio::test]
async fn invalid_scope_redirects_invalid_scope() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let mut params = base(CONF_ID, CONF_REDIRECT, &pkce);
    params[3] = ("scope", "read admin");
    let found = ts.authorize_redirect_error(&params, "invalid_scope").await;
    assert_eq!(found.get("state").map(String::as_str), Some(STATE));
    assert!(!found.contains_key("code"));
}

#[tokio::test]
async fn malformed_scope_redirects_invalid_scope() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let mut params = base(CONF_ID, CONF_REDIRECT, &pkce);
    params[3] = ("scope", "read\\write");
    ts.authorize_redirect_error(&params, "invalid_scope").await;
}

#[tokio::test]
async fn unsupported_response_mode_is_invalid_request() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let mut params = base(CONF_ID, CONF_REDIRECT, &pkce);
    params.push(("response_mode", "web_message"));
    ts.authorize_redirect_error(&params, "invalid_request")
        .await;
}

#[tokio::test]
async fn duplicate_parameter_is_invalid_request() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let query = format!(
        "{}&scope=write",
        encode(&base(CONF_ID, CONF_REDIRECT, &pkce))
    );
    let request = http::Request::get(format!("/authorize?{query}"))
        .body(Bytes::new())
        .unwrap();
    let error = ts.authorize(&request, Some(USER)).await.unwrap_err();
    assert_eq!(error.code().as_str(), "invalid_request");
    assert!(error.description().contains("scope"), "{error}");
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn duplicate_across_query_and_form_is_invalid_request() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let request = http::Request::post(format!(
        "/authorize?{}",
        encode(&base(CONF_ID, CONF_REDIRECT, &pkce))
    ))
    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
    .body(Bytes::from_static(b"state=other"))
    .unwrap();
    let error = ts.authorize(&request, Some(USER)).await.unwrap_err();
    assert_eq!(error.code().as_str(), "invalid_request");
}

#[tokio::test]
async fn consent_form_post_is_accepted() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let request = http::Request::post("/authorize")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Bytes::from(encode(&base(CONF_ID, CONF_REDIRECT, &pkce))))
        .unwrap();
    let response = ts.authorize(&request, Some(USER)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let code = query_params(&location(&response)).remove("code").unwrap();
    assert_eq!(
        ts.redeem_conf(&code, &pkce.verifier).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn loopback_redirect_with_other_port_is_accepted() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let redirect = "http://127.0.0.1:51004/cb";
    let url = ts.authorize_ok(&base(PUBLIC_ID, redirect, &pkce)).await;
    assert!(
        url.as_str().starts_with("http://127.0.0.1:51004/cb?"),
        "{url}"
    );
    let code = query_params(&url).remove("code").unwrap();
    let response = ts
        .post_token(
            PUBLIC,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
}

#[tokio::test]
async fn loopback_port_leeway_does_not_extend_to_path_or_host() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    for uri in [
        "http://127.0.0.1:51004/cb2",
        "http://[::1]:51004/cb",
        "http://localhost:51004/cb",
        "https://127.0.0.1:51004/cb",
        "http://127.0.0.1.evil.example:51004/cb",
    ] {
        let error = ts
            .authorize(&authorize_request(&base(PUBLIC_ID, uri, &pkce)), Some(USER))
            .await
            .unwrap_err();
        assert!(!error.is_redirect(), "{uri} must not be redirected to");
    }
}

#[tokio::test]
async fn put_is_method_not_allowed() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let request = http::Request::builder()
        .method(Method::PUT)
        .uri(format!(
            "/authorize?{}",
            encode(&base(CONF_ID, CONF_REDIRECT, &pkce))
        ))
        .body(Bytes::new())
        .unwrap();
    let error = ts.authorize(&request, Some(USER)).await.unwrap_err();
    assert!(!error.is_redirect());
    let response = error.into_response();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header_str(&response, header::ALLOW), Some("GET, POST"));
}

#[tokio::test]
async fn state_is_echoed_unchanged() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let state = "a b&c=d/é?#%";
    let mut params = base(CONF_ID, CONF_REDIRECT, &pkce);
    params[4] = ("state", state);
    let url = ts.authorize_ok(&params).await;
    assert_eq!(
        query_params(&url).get("state").map(String::as_str),
        Some(state)
    );
}

#[tokio::test]
async fn registered_redirect_uri_query_is_kept() {
    let ts = TestServer::new();
    let mut client = other_client(
        "with-query",
        "with-query-secret",
        "client_secret_basic",
        &["authorization_code"],
    );
    client.redirect_uris = vec!["https://app.example/cb?tenant=7".into()];
    ts.add_client(client);
    let pkce = PkcePair::new();
    let url = ts
        .authorize_ok(&base(
            "with-query",
            "https://app.example/cb?tenant=7",
            &pkce,
        ))
        .await;
    let params = query_params(&url);
    assert_eq!(params.get("tenant").map(String::as_str), Some("7"));
    assert!(params.contains_key("code"));
}

/// Issue 9, finding 12: a redirect URI registered without validation (by code that
/// inserts records directly, or before validation existed) that is unsafe to send a
/// browser to is refused at the authorization endpoint too: no redirect, no code.
#[tokio::test]
async fn an_unsafe_registered_redirect_uri_is_never_redirected_to() {
    let pkce = PkcePair::new();
    for uri in [
        "https://app.example/cb\r\nSet-Cookie: a=b",
        "https://evil.example\\@app.example/cb",
        "https://app.example@evil.example/cb",
        "https://app.example/cb?code=attacker",
        "https://app.example/cb?iss=https://evil.example",
    ] {
        let ts = TestServer::new();
        let mut client = confidential_client();
        client.redirect_uris = vec![uri.to_owned()];
        ts.add_client(client);
        let request = authorize_request(&base(CONF_ID, uri, &pkce));
        let error = ts.authorize(&request, Some(USER)).await.unwrap_err();
        assert_not_redirected(&error);
        assert!(
            error.description().contains("not a safe redirect target"),
            "{error}"
        );
        // With the URI left out (it is the only one registered), the same.
        let mut params = base(CONF_ID, uri, &pkce);
        params.retain(|(name, _)| *name != "redirect_uri");
        let error = ts
            .authorize(&authorize_request(&params), Some(USER))
            .await
            .unwrap_err();
        assert_not_redirected(&error);
    }
}
