//! The authorization code grant (RFC 6749 §4.1) end to end.

use http::{header, StatusCode};
use portcullis_core::{BearerError, Scope};

use crate::support::*;

#[tokio::test]
async fn success_redirects_with_code_state_and_iss() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let response = ts
        .authorize(
            &authorize_request(&[
                ("response_type", "code"),
                ("client_id", CONF_ID),
                ("redirect_uri", CONF_REDIRECT),
                ("scope", "read"),
                ("state", STATE),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
            ]),
            Some(USER),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let url = location(&response);
    assert!(url.as_str().starts_with("https://app.example/cb?"), "{url}");
    assert_eq!(url.fragment(), None);
    let params = query_params(&url);
    assert!(params.get("code").is_some_and(|c| !c.is_empty()));
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER));
    assert!(!params.contains_key("error"));
}

#[tokio::test]
async fn token_response_has_bearer_token_refresh_token_and_no_store() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.conf_code("read profile", &pkce).await;
    let response = ts.redeem_conf(&code, &pkce.verifier).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    assert_eq!(
        header_str(&response, header::CACHE_CONTROL),
        Some("no-store")
    );
    assert_eq!(header_str(&response, header::PRAGMA), Some("no-cache"));
    assert_eq!(
        header_str(&response, header::CONTENT_TYPE),
        Some("application/json")
    );
    let body = json(&response);
    let access = field(&body, "access_token");
    // `{issuing time in ms, 12 hex digits}.{256 secret bits, 43 base64url characters}`
    let (issued_ms, secret) = access.split_once('.').unwrap();
    assert_eq!(
        issued_ms,
        format!("{:012x}", START * 1000),
        "time-ordered prefix"
    );
    assert_eq!(secret.len(), 43, "256-bit opaque token");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"].as_i64(), Some(3600));
    let refresh = field(&body, "refresh_token");
    assert_ne!(refresh, access);
    assert_eq!(
        Scope::parse(field(&body, "scope")).unwrap(),
        Scope::parse("read profile").unwrap()
    );

    let info = ts.validate(access, "read profile").await.unwrap();
    assert_eq!(info.client_id, CONF_ID);
    assert_eq!(info.subject.as_deref(), Some(USER));
    assert_eq!(info.expires_at, START + 3600);
}

#[tokio::test]
async fn no_refresh_token_when_client_may_not_refresh() {
    let ts = TestServer::new();
    let mut client = confidential_client();
    client.grant_types = strings(&["authorization_code"]);
    ts.add_client(client);
    let body = ts.conf_tokens("read").await;
    assert!(body["access_token"].is_string());
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[tokio::test]
async fn no_refresh_token_when_refresh_grant_not_registered() {
    let ts = TestServer::with_config(Config {
        refresh: false,
        ..Config::default()
    });
    let body = ts.conf_tokens("read").await;
    assert!(body["access_token"].is_string());
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[tokio::test]
async fn code_is_single_use_and_replay_revokes_issued_tokens() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    let first = ts.redeem_conf(&code, &pkce.verifier).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = json(&first);
    let access = field(&first, "access_token");
    let refresh = field(&first, "refresh_token");
    assert!(ts.is_active(access).await);

    let second = ts.redeem_conf(&code, &pkce.verifier).await;
    assert_invalid_grant(&second);
    assert!(second.status().is_client_error());
    assert!(json(&second).get("access_token").is_none());

    assert_eq!(
        ts.server
            .resource_protector()
            .validate_token(access, &Scope::empty())
            .await,
        Err(BearerError::InvalidToken)
    );
    // The refresh token of the replayed grant is dead too.
    assert_invalid_grant(&ts.refresh(refresh, None).await);
}

#[tokio::test]
async fn code_redeemed_by_another_client_is_invalid_grant() {
    let ts = TestServer::new();
    ts.add_client(other_client(
        "other-app",
        "other-secret",
        "client_secret_basic",
        &["authorization_code"],
    ));
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    let response = ts
        .post_token(
            Auth::Basic("other-app", "other-secret"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CONF_REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_invalid_grant(&response);
    assert!(
        ts.store().tokens().unwrap().is_empty(),
        "no token may be issued"
    );
}

/// Issue 9, finding 5: a public client presenting another client's code (with its
/// client_id only) gets `invalid_grant` and changes nothing: the code stays
/// redeemable by its client, and once redeemed, the tokens it issued stay valid.
#[tokio::test]
async fn another_clients_code_is_neither_used_up_nor_revoked() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    let burn = |code: String, verifier: String| {
        let ts = &ts;
        async move {
            ts.post_token(
                PUBLIC,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CONF_REDIRECT),
                    ("code_verifier", &verifier),
                ],
            )
            .await
        }
    };
    assert_invalid_grant(&burn(code.clone(), pkce.verifier.clone()).await);
    let redeemed = ts.redeem_conf(&code, &pkce.verifier).await;
    assert_eq!(redeemed.status(), StatusCode::OK, "the code is still good");
    let tokens = json(&redeemed);
    let access = field(&tokens, "access_token");
    // After the redemption, the other client's "replay" revokes nothing.
    assert_invalid_grant(&burn(code.clone(), pkce.verifier.clone()).await);
    assert!(ts.is_active(access).await, "the victim's token survives");
    assert_eq!(
        ts.refresh(field(&tokens, "refresh_token"), None)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    ts.clock.advance(61);
    assert_invalid_grant(&ts.redeem_conf(&code, &pkce.verifier).await);
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn code_is_redeemable_until_just_before_expiry() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    ts.clock.advance(59);
    let response = ts.redeem_conf(&code, &pkce.verifier).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
}

#[tokio::test]
async fn redirect_uri_mismatch_at_token_endpoint_is_invalid_grant() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    // CONF_REDIRECT_2 is registered, but it is not the one the code was issued for.
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CONF_REDIRECT_2),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_invalid_grant(&response);
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn redirect_uri_named_in_authorization_must_be_repeated() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_invalid_grant(&response);
}

#[tokio::test]
async fn code_is_43_chars_of_base64url_and_unique() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let a = ts.conf_code("read", &pkce).await;
    let b = ts.conf_code("read", &pkce).await;
    for code in [&a, &b] {
        assert_eq!(
            code.len(),
            43,
            "256 bits in base64url without padding: {code}"
        );
        assert!(code
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
    assert_ne!(a, b);
}

#[tokio::test]
async fn denied_consent_redirects_access_denied_with_state_and_iss() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let request = authorize_request(&[
        ("response_type", "code"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("scope", "read"),
        ("state", STATE),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]);
    let error = ts.authorize(&request, None).await.unwrap_err();
    assert!(error.is_redirect());
    let response = error.into_response();
    assert_eq!(response.status(), StatusCode::FOUND);
    let url = location(&response);
    assert!(url.as_str().starts_with("https://app.example/cb?"), "{url}");
    let params = query_params(&url);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("access_denied")
    );
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER));
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn consent_grant_describes_the_request() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let request = authorize_request(&[
        ("response_type", "code"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT_2),
        ("scope", "profile read"),
        ("state", STATE),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]);
    let consent = ts.server.get_consent_grant(&request, None).await.unwrap();
    assert_eq!(consent.client.client_id, CONF_ID);
    assert_eq!(consent.redirect_uri(), CONF_REDIRECT_2);
    assert_eq!(consent.state(), Some(STATE));
    assert_eq!(consent.scope(), &Scope::parse("read profile").unwrap());
}

#[tokio::test]
async fn unknown_code_is_invalid_grant() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let forged = PkcePair::new().verifier;
    assert_invalid_grant(&ts.redeem_conf(&forged, &pkce.verifier).await);
}

#[tokio::test]
async fn missing_code_is_invalid_request() {
    let ts = TestServer::new();
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "authorization_code"),
                ("redirect_uri", CONF_REDIRECT),
            ],
        )
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn default_redirect_uri_used_when_only_one_registered() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let url = ts
        .authorize_ok(&[
            ("response_type", "code"),
            ("client_id", PUBLIC_ID),
            ("state", STATE),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert!(url.as_str().starts_with("http://127.0.0.1/cb?"), "{url}");
    let code = query_params(&url).remove("code").unwrap();
    // The request named no redirect_uri, so the token request need not either.
    let response = ts
        .post_token(
            PUBLIC,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
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
