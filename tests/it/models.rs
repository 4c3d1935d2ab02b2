//! The example's own token model keeps everything the core hands it (issue 10): the
//! audience and the extras (the grant's absolute end) survive the store round trip and
//! every refresh, because the `Token` trait requires them back.

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope, TokenResponse};
use portcullis_core::model::GrantExpiresAt;
use portcullis_core::{token_key, Token, TokenStore};

use crate::support::{TestApp, AUDIENCE_SECRET, PROFILE_API};

#[tokio::test]
async fn a_custom_token_model_keeps_the_audience_and_the_extras_through_refreshes() {
    let app = TestApp::start(false).await;
    let client = app.oauth_client("audience-app", AUDIENCE_SECRET);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_scope(Scope::new("profile".into()))
        .url();
    let code = app.authorize(url.as_str()).await["code"].clone();
    let first = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .unwrap();

    let stored = |access: String| {
        let store = app.store.clone();
        async move {
            store
                .find_access_token(&token_key(&access))
                .await
                .unwrap()
                .expect("the example stored the token")
        }
    };
    let first_stored = stored(first.access_token().secret().clone()).await;
    assert_eq!(first_stored.audience(), vec![PROFILE_API.to_owned()]);
    let grant_end = first_stored
        .extras()
        .get::<GrantExpiresAt>()
        .expect("the grant's absolute end is kept in the model's extras");
    assert_eq!(first_stored.grant_expires_at(), Some(grant_end));

    // The guard in front of /api/me sees the audience the model kept.
    let me: serde_json::Value = app
        .api_me(first.access_token().secret())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["aud"], serde_json::json!([PROFILE_API]));

    // A refresh reads both back from the model and carries them on: the grant's end
    // does not move, the audience stays.
    let second = client
        .exchange_refresh_token(first.refresh_token().unwrap())
        .request_async(&app.http)
        .await
        .unwrap();
    let second_stored = stored(second.access_token().secret().clone()).await;
    assert_eq!(second_stored.audience(), vec![PROFILE_API.to_owned()]);
    assert_eq!(second_stored.grant_expires_at(), Some(grant_end));
}
