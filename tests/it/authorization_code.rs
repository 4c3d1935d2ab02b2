//! Authorization code + PKCE with the `oauth2` crate as the client (RFC 6749 §4.1,
//! RFC 7636), against the example's router on a real socket.

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope, TokenResponse};

use crate::support::{oauth_error, redirect_params, TestApp, OTHER_SECRET, WEB_SECRET};

#[tokio::test]
async fn code_flow_with_pkce_issues_tokens_that_open_the_api() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let params = app.authorize(url.as_str()).await;
    assert_eq!(params["state"], *state.secret());
    assert_eq!(
        params["iss"], app.base,
        "RFC 9207 iss in the authorization response"
    );
    assert_eq!(params["code"].len(), 43, "256-bit code");

    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .unwrap();
    assert_eq!(token.scopes().unwrap()[0].as_str(), "profile");
    assert!(token.refresh_token().is_some(), "web-app may refresh");
    assert!(token.expires_in().is_some());

    let me = app.api_me(token.access_token().secret()).await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["client_id"], "web-app");
}

#[tokio::test]
async fn consent_denied_sends_access_denied_with_state_and_iss() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let response = app.consent(url.as_str(), "deny").await;
    assert_eq!(response.status(), 302);
    let params = redirect_params(&response);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], *state.secret());
    assert_eq!(params["iss"], app.base);
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn replayed_code_is_refused_and_revokes_the_first_token() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let verifier_again = oauth2::PkceCodeVerifier::new(verifier.secret().clone());
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = app.authorize(url.as_str()).await["code"].clone();
    let first = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .unwrap();
    assert_eq!(
        app.api_me(first.access_token().secret()).await.status(),
        200
    );

    let second = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier_again)
        .request_async(&app.http)
        .await;
    assert_eq!(oauth_error(second), "invalid_grant");
    let me = app.api_me(first.access_token().secret()).await;
    assert_eq!(me.status(), 401, "the first access token must stop working");
    assert!(me.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
}

#[tokio::test]
async fn code_redeemed_by_another_client_is_invalid_grant() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    let thief = app.oauth_client("other-app", OTHER_SECRET);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = app.authorize(url.as_str()).await["code"].clone();
    let stolen = thief
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await;
    assert_eq!(oauth_error(stolen), "invalid_grant");
}

#[tokio::test]
async fn wrong_or_missing_pkce_verifier_is_invalid_grant() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    for verifier in [Some("x".repeat(43)), None] {
        let (challenge, _right) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let code = app.authorize(url.as_str()).await["code"].clone();
        let mut request = client.exchange_code(AuthorizationCode::new(code));
        if let Some(wrong) = verifier.clone() {
            request = request.set_pkce_verifier(oauth2::PkceCodeVerifier::new(wrong));
        }
        let result = request.request_async(&app.http).await;
        assert_eq!(
            oauth_error(result),
            "invalid_grant",
            "verifier {verifier:?}"
        );
    }
}

#[tokio::test]
async fn authorization_without_pkce_is_refused_back_to_the_client() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .url();
    let response = app.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let params = redirect_params(&response);
    assert_eq!(params["error"], "invalid_request");
    assert!(params["error_description"].contains("code_challenge"));
    assert_eq!(params["state"], *state.secret());
}

#[tokio::test]
async fn loopback_redirect_may_use_any_port() {
    let app = TestApp::start(false).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let url = format!(
        "{}?response_type=code&client_id=web-app&scope=profile&redirect_uri={}&code_challenge={}&code_challenge_method=S256",
        app.url("/oauth/authorize"),
        "http%3A%2F%2F127.0.0.1%3A53124%2Fnative-cb",
        challenge.as_str()
    );
    let response = app.consent(&url, "allow").await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:53124/native-cb?code="),
        "{location}"
    );
}
