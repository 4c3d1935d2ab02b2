//! Client authentication at the token endpoint (RFC 6749 §2.3).

use bytes::Bytes;
use http::{header, StatusCode};
use portcullis_core::ClientRecord;

use crate::support::*;

const CC: &[(&str, &str)] = &[("grant_type", "client_credentials"), ("scope", "read")];

fn assert_invalid_client(response: &portcullis_core::OAuthResponse) {
    assert_token_error(response, StatusCode::UNAUTHORIZED, "invalid_client");
    let challenge =
        header_str(response, header::WWW_AUTHENTICATE).expect("a WWW-Authenticate challenge");
    assert!(challenge.starts_with("Basic"), "{challenge}");
}

#[tokio::test]
async fn client_secret_basic_authenticates() {
    let ts = TestServer::new();
    let response = ts.post_token(CONF, CC).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    let info = ts
        .validate(field(&json(&response), "access_token"), "read")
        .await
        .unwrap();
    assert_eq!(info.client_id, CONF_ID);
}

#[tokio::test]
async fn client_secret_basic_with_matching_body_client_id_authenticates() {
    let ts = TestServer::new();
    let request = token_request(
        CONF,
        &[("grant_type", "client_credentials"), ("client_id", CONF_ID)],
    );
    let response = ts.token(&request).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
}

#[tokio::test]
async fn client_secret_basic_with_other_body_client_id_is_invalid_request() {
    let ts = TestServer::new();
    let request = token_request(
        CONF,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", PUBLIC_ID),
        ],
    );
    assert_token_error(
        &ts.token(&request).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}

#[tokio::test]
async fn client_secret_post_authenticates() {
    let ts = TestServer::new();
    ts.add_client(other_client(
        "post-app",
        "post-secret",
        "client_secret_post",
        &["client_credentials"],
    ));
    let response = ts
        .post_token(Auth::Post("post-app", "post-secret"), CC)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    let info = ts
        .validate(field(&json(&response), "access_token"), "read")
        .await
        .unwrap();
    assert_eq!(info.client_id, "post-app");
}

#[tokio::test]
async fn none_authenticates_public_client() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.public_code("read", &pkce).await;
    let response = ts
        .post_token(
            Auth::Public(PUBLIC_ID),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", PUBLIC_REDIRECT),
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
    let info = ts
        .validate(field(&json(&response), "access_token"), "read")
        .await
        .unwrap();
    assert_eq!(info.client_id, PUBLIC_ID);
}

#[tokio::test]
async fn wrong_secret_is_401_invalid_client_with_www_authenticate() {
    let ts = TestServer::new();
    assert_invalid_client(
        &ts.post_token(Auth::Basic(CONF_ID, "wrong-secret"), CC)
            .await,
    );
    assert_invalid_client(&ts.post_token(Auth::Basic(CONF_ID, ""), CC).await);
    ts.add_client(other_client(
        "post-app",
        "post-secret",
        "client_secret_post",
        &["client_credentials"],
    ));
    assert_invalid_client(
        &ts.post_token(Auth::Post("post-app", "post-secreT"), CC)
            .await,
    );
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_client_is_invalid_client() {
    let ts = TestServer::new();
    assert_invalid_client(&ts.post_token(Auth::Basic("nobody", CONF_SECRET), CC).await);
    assert_invalid_client(&ts.post_token(Auth::Public("nobody"), CC).await);
}

#[tokio::test]
async fn basic_and_body_secret_is_invalid_request() {
    let ts = TestServer::new();
    let request = token_request(
        CONF,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CONF_ID),
            ("client_secret", CONF_SECRET),
        ],
    );
    assert_token_error(
        &ts.token(&request).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn confidential_client_using_none_is_invalid_client() {
    let ts = TestServer::new();
    assert_invalid_client(&ts.post_token(Auth::Public(CONF_ID), CC).await);
    assert!(ts.store().tokens().unwrap().is_empty());
}

/// A client registered as strict: it may use its registered method only.
fn strict(mut client: ClientRecord) -> ClientRecord {
    client
        .metadata
        .extras
        .insert_raw(portcullis_core::STRICT_AUTH_METHOD, true.into());
    client
}

fn assert_ok(response: &portcullis_core::OAuthResponse) -> serde_json::Value {
    assert_eq!(response.status(), StatusCode::OK, "{}", body_text(response));
    json(response)
}

fn description(response: &portcullis_core::OAuthResponse) -> String {
    json(response)["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn basic_client_using_post_succeeds() {
    let ts = TestServer::new();
    let body = assert_ok(&ts.post_token(Auth::Post(CONF_ID, CONF_SECRET), CC).await);
    let info = ts
        .validate(field(&body, "access_token"), "read")
        .await
        .unwrap();
    assert_eq!(info.client_id, CONF_ID);
}

#[tokio::test]
async fn post_client_using_basic_succeeds() {
    let ts = TestServer::new();
    ts.add_client(other_client(
        "post-app",
        "post-secret",
        "client_secret_post",
        &["client_credentials"],
    ));
    let body = assert_ok(
        &ts.post_token(Auth::Basic("post-app", "post-secret"), CC)
            .await,
    );
    let info = ts
        .validate(field(&body, "access_token"), "read")
        .await
        .unwrap();
    assert_eq!(info.client_id, "post-app");
}

#[tokio::test]
async fn the_other_secret_method_still_needs_the_right_secret() {
    let ts = TestServer::new();
    assert_invalid_client(&ts.post_token(Auth::Post(CONF_ID, "wrong-secret"), CC).await);
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn strict_client_using_the_other_method_is_invalid_client() {
    let ts = TestServer::new();
    ts.add_client(strict(other_client(
        "strict-basic",
        "strict-basic-secret",
        "client_secret_basic",
        &["client_credentials"],
    )));
    ts.add_client(strict(other_client(
        "strict-post",
        "strict-post-secret",
        "client_secret_post",
        &["client_credentials"],
    )));
    for (wrong, right) in [
        (
            Auth::Post("strict-basic", "strict-basic-secret"),
            Auth::Basic("strict-basic", "strict-basic-secret"),
        ),
        (
            Auth::Basic("strict-post", "strict-post-secret"),
            Auth::Post("strict-post", "strict-post-secret"),
        ),
    ] {
        let refused = ts.post_token(wrong, CC).await;
        assert_invalid_client(&refused);
        let words = description(&refused);
        assert!(
            words.contains("registered to use one method only (strict)"),
            "{words}"
        );
        assert_ok(&ts.post_token(right, CC).await);
    }
    // With a wrong secret, nothing is said about the method.
    let refused = ts.post_token(Auth::Post("strict-basic", "wrong"), CC).await;
    assert_invalid_client(&refused);
    assert!(!description(&refused).contains("strict"));
}

#[tokio::test]
async fn strict_false_is_not_strict() {
    let ts = TestServer::new();
    let mut client = other_client(
        "lenient",
        "lenient-secret",
        "client_secret_basic",
        &["client_credentials"],
    );
    client
        .metadata
        .extras
        .insert_raw(portcullis_core::STRICT_AUTH_METHOD, false.into());
    ts.add_client(client);
    assert_ok(
        &ts.post_token(Auth::Post("lenient", "lenient-secret"), CC)
            .await,
    );
}

#[tokio::test]
async fn public_client_never_uses_a_secret_method_and_confidential_never_none() {
    let ts = TestServer::new();
    // A public client with a secret hash (a record edited by hand): still `none` only.
    let mut public = other_client(
        "public-with-hash",
        "leftover-secret",
        "none",
        &["client_credentials"],
    );
    public.redirect_uris = vec![PUBLIC_REDIRECT.to_owned()];
    ts.add_client(public);
    for auth in [
        Auth::Basic("public-with-hash", "leftover-secret"),
        Auth::Post("public-with-hash", "leftover-secret"),
    ] {
        assert_invalid_client(&ts.post_token(auth, CC).await);
    }
    for auth in [
        Auth::Basic(PUBLIC_ID, "made-up"),
        Auth::Post(PUBLIC_ID, "made-up"),
    ] {
        assert_invalid_client(&ts.post_token(auth, CC).await);
    }
    // Confidential clients, lenient or strict, never authenticate with `none`.
    ts.add_client(other_client(
        "post-app",
        "post-secret",
        "client_secret_post",
        &["client_credentials"],
    ));
    for id in [CONF_ID, "post-app"] {
        assert_invalid_client(&ts.post_token(Auth::Public(id), CC).await);
    }
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn revocation_and_introspection_accept_either_secret_method_unless_strict() {
    let ts = TestServer::new();
    ts.add_client(strict(other_client(
        "strict-basic",
        "strict-basic-secret",
        "client_secret_basic",
        &["client_credentials"],
    )));
    // conf-app is registered for client_secret_basic and uses client_secret_post.
    let tokens = ts.conf_tokens("read").await;
    let access = field(&tokens, "access_token").to_owned();
    let post = Auth::Post(CONF_ID, CONF_SECRET);
    let body = json(&ts.introspect(post, &[("token", &access)]).await);
    assert_eq!(body["active"], true, "{body}");
    let response = ts.revoke(post, &[("token", &access)]).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    assert!(!ts.is_active(&access).await);

    let strict_token = field(
        &assert_ok(
            &ts.post_token(Auth::Basic("strict-basic", "strict-basic-secret"), CC)
                .await,
        ),
        "access_token",
    )
    .to_owned();
    let wrong = Auth::Post("strict-basic", "strict-basic-secret");
    for response in [
        ts.introspect(wrong, &[("token", &strict_token)]).await,
        ts.revoke(wrong, &[("token", &strict_token)]).await,
    ] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(json(&response)["error"], "invalid_client");
        assert!(description(&response).contains("(strict)"));
    }
    assert!(ts.is_active(&strict_token).await);
}

#[tokio::test]
async fn public_client_sending_a_secret_is_invalid_client() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.public_code("read", &pkce).await;
    let response = ts
        .post_token(
            Auth::Basic(PUBLIC_ID, "made-up"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", PUBLIC_REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_invalid_client(&response);
}

#[tokio::test]
async fn missing_authentication_is_invalid_client() {
    let ts = TestServer::new();
    assert_invalid_client(&ts.post_token(Auth::Anonymous, CC).await);
}

#[tokio::test]
async fn malformed_basic_header_is_invalid_client() {
    let ts = TestServer::new();
    for value in ["Basic !!!", "Basic", "Bearer abc", "Basic Zm9v"] {
        let request = http::Request::post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, value)
            .body(Bytes::from_static(b"grant_type=client_credentials"))
            .unwrap();
        let response = ts.token(&request).await;
        assert_token_error(&response, StatusCode::UNAUTHORIZED, "invalid_client");
    }
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded() {
    let ts = TestServer::new();
    let id = "my app:1";
    let secret = "p@ss word:+/%";
    ts.add_client(other_client(
        id,
        secret,
        "client_secret_basic",
        &["client_credentials"],
    ));
    let response = ts.post_token(Auth::Basic(id, secret), CC).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    // The raw (not form-encoded) secret after the first colon does not match.
    let raw = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("my%20app%3A1:{secret}")
        )
    );
    let request = http::Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, raw)
        .body(Bytes::from(encode(CC)))
        .unwrap();
    assert_invalid_client(&ts.token(&request).await);
}
