//! PKCE (RFC 7636) with the RFC 9700 defaults: S256 required of everyone, plain off.

use http::StatusCode;
use portcullis_core::Pkce;

use crate::support::*;

fn conf_params<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("scope", "read"),
        ("state", STATE),
    ];
    params.extend_from_slice(extra);
    params
}

fn public_params<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", PUBLIC_ID),
        ("redirect_uri", PUBLIC_REDIRECT),
        ("scope", "read"),
        ("state", STATE),
    ];
    params.extend_from_slice(extra);
    params
}

async fn code_from(ts: &TestServer, params: &[(&str, &str)]) -> String {
    let url = ts.authorize_ok(params).await;
    query_params(&url).remove("code").expect("a code")
}

async fn redeem_public(
    ts: &TestServer,
    code: &str,
    verifier: Option<&str>,
) -> portcullis_core::OAuthResponse {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", PUBLIC_REDIRECT),
    ];
    if let Some(verifier) = verifier {
        params.push(("code_verifier", verifier));
    }
    ts.post_token(PUBLIC, &params).await
}

async fn redeem_conf_opt(
    ts: &TestServer,
    code: &str,
    verifier: Option<&str>,
) -> portcullis_core::OAuthResponse {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CONF_REDIRECT),
    ];
    if let Some(verifier) = verifier {
        params.push(("code_verifier", verifier));
    }
    ts.post_token(CONF, &params).await
}

#[tokio::test]
async fn s256_public_client_success() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.public_code("read", &pkce).await;
    let response = redeem_public(&ts, &code, Some(&pkce.verifier)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    let body = json(&response);
    let info = ts
        .validate(field(&body, "access_token"), "read")
        .await
        .unwrap();
    assert_eq!(info.client_id, PUBLIC_ID);
}

#[tokio::test]
async fn s256_confidential_client_success() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    let response = ts.redeem_conf(&code, &pkce.verifier).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
}

#[tokio::test]
async fn rfc7636_appendix_b_vector_is_accepted() {
    let ts = TestServer::new();
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    assert_eq!(s256(verifier), challenge);
    let code = code_from(
        &ts,
        &public_params(&[
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]),
    )
    .await;
    let response = redeem_public(&ts, &code, Some(verifier)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
}

#[tokio::test]
async fn missing_challenge_public_client_is_redirected_invalid_request() {
    let ts = TestServer::new();
    let params = ts
        .authorize_redirect_error(&public_params(&[]), "invalid_request")
        .await;
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER));
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn missing_challenge_confidential_client_is_redirected_invalid_request_by_default() {
    let ts = TestServer::new();
    let params = ts
        .authorize_redirect_error(&conf_params(&[]), "invalid_request")
        .await;
    assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn missing_challenge_is_refused_already_at_consent() {
    let ts = TestServer::new();
    let error = ts
        .server
        .get_consent_grant(&authorize_request(&public_params(&[])), None)
        .await
        .unwrap_err();
    assert!(error.is_redirect());
    assert_eq!(error.code().as_str(), "invalid_request");
}

#[tokio::test]
async fn optional_for_confidential_lets_confidential_client_omit_challenge() {
    let ts = TestServer::with_pkce(Pkce::default().optional_for_confidential_clients());
    let code = code_from(&ts, &conf_params(&[])).await;
    let response = redeem_conf_opt(&ts, &code, None).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
}

#[tokio::test]
async fn optional_for_confidential_still_requires_challenge_of_public_client() {
    let ts = TestServer::with_pkce(Pkce::default().optional_for_confidential_clients());
    ts.authorize_redirect_error(&public_params(&[]), "invalid_request")
        .await;
}

#[tokio::test]
async fn optional_for_confidential_still_checks_a_challenge_that_was_sent() {
    let ts = TestServer::with_pkce(Pkce::default().optional_for_confidential_clients());
    let pkce = PkcePair::new();
    let code = ts.conf_code("read", &pkce).await;
    assert_invalid_grant(&redeem_conf_opt(&ts, &code, None).await);
}

#[tokio::test]
async fn plain_is_refused_by_default() {
    let ts = TestServer::new();
    let verifier = PkcePair::new().verifier;
    ts.authorize_redirect_error(
        &conf_params(&[
            ("code_challenge", &verifier),
            ("code_challenge_method", "plain"),
        ]),
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn challenge_without_method_means_plain_and_is_refused_by_default() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    ts.authorize_redirect_error(
        &conf_params(&[("code_challenge", &pkce.challenge)]),
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn allow_plain_accepts_plain_from_confidential_client() {
    let ts = TestServer::with_pkce(Pkce::default().allow_plain());
    let verifier = PkcePair::new().verifier;
    let code = code_from(
        &ts,
        &conf_params(&[
            ("code_challenge", &verifier),
            ("code_challenge_method", "plain"),
        ]),
    )
    .await;
    let response = redeem_conf_opt(&ts, &code, Some(&verifier)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
}

#[tokio::test]
async fn allow_plain_checks_the_plain_verifier() {
    let ts = TestServer::with_pkce(Pkce::default().allow_plain());
    let verifier = PkcePair::new().verifier;
    let code = code_from(
        &ts,
        &conf_params(&[
            ("code_challenge", &verifier),
            ("code_challenge_method", "plain"),
        ]),
    )
    .await;
    let other = PkcePair::new().verifier;
    assert_invalid_grant(&redeem_conf_opt(&ts, &code, Some(&other)).await);
}

#[tokio::test]
async fn allow_plain_still_refuses_plain_from_public_client() {
    let ts = TestServer::with_pkce(Pkce::default().allow_plain());
    let verifier = PkcePair::new().verifier;
    ts.authorize_redirect_error(
        &public_params(&[
            ("code_challenge", &verifier),
            ("code_challenge_method", "plain"),
        ]),
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn missing_verifier_is_invalid_grant() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.public_code("read", &pkce).await;
    assert_invalid_grant(&redeem_public(&ts, &code, None).await);
}

#[tokio::test]
async fn wrong_verifier_is_invalid_grant() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.public_code("read", &pkce).await;
    let wrong = PkcePair::new().verifier;
    assert_invalid_grant(&redeem_public(&ts, &code, Some(&wrong)).await);
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn the_challenge_itself_is_not_a_valid_verifier() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    let code = ts.public_code("read", &pkce).await;
    assert_invalid_grant(&redeem_public(&ts, &code, Some(&pkce.challenge)).await);
}

#[tokio::test]
async fn verifier_without_earlier_challenge_is_invalid_grant() {
    let ts = TestServer::with_pkce(Pkce::default().optional_for_confidential_clients());
    let code = code_from(&ts, &conf_params(&[])).await;
    let verifier = PkcePair::new().verifier;
    assert_invalid_grant(&redeem_conf_opt(&ts, &code, Some(&verifier)).await);
    assert!(ts.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn malformed_challenge_is_invalid_request() {
    let ts = TestServer::new();
    let too_short = "a".repeat(42);
    let too_long = "a".repeat(129);
    let bad_char = format!("{}+", "a".repeat(43));
    for challenge in [too_short.as_str(), too_long.as_str(), bad_char.as_str()] {
        let params = ts
            .authorize_redirect_error(
                &public_params(&[
                    ("code_challenge", challenge),
                    ("code_challenge_method", "S256"),
                ]),
                "invalid_request",
            )
            .await;
        assert_eq!(
            params.get("state").map(String::as_str),
            Some(STATE),
            "{challenge}"
        );
    }
}

#[tokio::test]
async fn unknown_challenge_method_is_invalid_request() {
    let ts = TestServer::new();
    let pkce = PkcePair::new();
    ts.authorize_redirect_error(
        &public_params(&[
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S512"),
        ]),
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn challenge_method_without_challenge_is_invalid_request() {
    let ts = TestServer::with_pkce(Pkce::default().optional_for_confidential_clients());
    ts.authorize_redirect_error(
        &conf_params(&[("code_challenge_method", "S256")]),
        "invalid_request",
    )
    .await;
}

/// `conf-app`'s twin `legacy-rp` (same secret and redirect URI), registered with
/// `require_pkce: false`; and the public client likewise opted out.
fn opted_out_server() -> TestServer {
    let ts = TestServer::new();
    let mut metadata = portcullis_core::ClientMetadata::new();
    metadata
        .extras
        .insert_raw(portcullis_core::extensions::REQUIRE_PKCE, false.into());
    let mut legacy = confidential_client().with_metadata(metadata.clone());
    legacy.client_id = "legacy-rp".into();
    ts.add_client(legacy);
    let mut public = public_client().with_metadata(metadata);
    public.client_id = "public-opted-out".into();
    ts.add_client(public);
    ts
}

fn legacy_params<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = conf_params(extra);
    params[1] = ("client_id", "legacy-rp");
    params
}

async fn redeem_legacy(
    ts: &TestServer,
    code: &str,
    verifier: Option<&str>,
) -> portcullis_core::OAuthResponse {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CONF_REDIRECT),
    ];
    if let Some(verifier) = verifier {
        params.push(("code_verifier", verifier));
    }
    ts.post_token(Auth::Basic("legacy-rp", CONF_SECRET), &params)
        .await
}

#[tokio::test]
async fn a_confidential_client_registered_without_pkce_may_omit_it_and_no_other() {
    let ts = opted_out_server();
    let code = code_from(&ts, &legacy_params(&[])).await;
    let response = redeem_legacy(&ts, &code, None).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );

    // Control: the same server still requires PKCE of the other confidential client.
    ts.authorize_redirect_error(&conf_params(&[]), "invalid_request")
        .await;
    // A public client cannot opt out.
    let mut public = public_params(&[]);
    public[1] = ("client_id", "public-opted-out");
    ts.authorize_redirect_error(&public, "invalid_request")
        .await;
}

#[tokio::test]
async fn a_challenge_the_opted_out_client_sends_is_still_enforced() {
    let ts = opted_out_server();
    let pkce = PkcePair::new();
    let code = code_from(
        &ts,
        &legacy_params(&[
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ]),
    )
    .await;
    assert_invalid_grant(&redeem_legacy(&ts, &code, None).await);
    let code = code_from(
        &ts,
        &legacy_params(&[
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ]),
    )
    .await;
    let response = redeem_legacy(&ts, &code, Some(&pkce.verifier)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
}
