//! refresh_token with rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14).

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, RefreshToken, Scope, TokenResponse};

use crate::support::{oauth_error, ConfiguredClient, TestApp, WEB_SECRET};

async fn tokens(
    app: &TestApp,
    client: &ConfiguredClient,
    scope: &str,
) -> oauth2::basic::BasicTokenResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for s in scope.split(' ') {
        request = request.add_scope(Scope::new(s.into()));
    }
    let (url, _) = request.url();
    let code = app.authorize(url.as_str()).await["code"].clone();
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_rotates_and_a_replay_revokes_the_grant() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    let first = tokens(&app, &client, "profile email").await;
    let first_refresh = first.refresh_token().unwrap().clone();

    let second = client
        .exchange_refresh_token(&first_refresh)
        .request_async(&app.http)
        .await
        .unwrap();
    let second_refresh = second.refresh_token().unwrap().clone();
    assert_ne!(
        second_refresh.secret(),
        first_refresh.secret(),
        "rotation issues a new refresh token"
    );
    assert_eq!(
        app.api_me(second.access_token().secret()).await.status(),
        200
    );
    assert_eq!(
        app.api_me(first.access_token().secret()).await.status(),
        401
    );

    // The rotated token comes back: theft is assumed, the whole grant is revoked.
    let replay = client
        .exchange_refresh_token(&first_refresh)
        .request_async(&app.http)
        .await;
    assert_eq!(oauth_error(replay), "invalid_grant");
    assert_eq!(
        app.api_me(second.access_token().secret()).await.status(),
        401
    );
    let after = client
        .exchange_refresh_token(&second_refresh)
        .request_async(&app.http)
        .await;
    assert_eq!(oauth_error(after), "invalid_grant");
}

#[tokio::test]
async fn refresh_may_narrow_the_scope_but_never_widen_it() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    let first = tokens(&app, &client, "profile").await;
    let wider = client
        .exchange_refresh_token(first.refresh_token().unwrap())
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .request_async(&app.http)
        .await;
    assert_eq!(oauth_error(wider), "invalid_scope");

    let both = tokens(&app, &client, "profile email").await;
    let narrower = client
        .exchange_refresh_token(both.refresh_token().unwrap())
        .add_scope(Scope::new("email".into()))
        .request_async(&app.http)
        .await
        .unwrap();
    assert_eq!(narrower.scopes().unwrap().len(), 1);
    assert_eq!(narrower.scopes().unwrap()[0].as_str(), "email");
}

#[tokio::test]
async fn unknown_refresh_token_is_invalid_grant() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("web-app", WEB_SECRET);
    let result = client
        .exchange_refresh_token(&RefreshToken::new("no-such-token".into()))
        .request_async(&app.http)
        .await;
    assert_eq!(oauth_error(result), "invalid_grant");
}
