//! Resource indicators (RFC 8707): `resource` at the authorization, token and refresh
//! requests, the resources a code remembers, and the audience of the tokens issued.

use http::StatusCode;
use portcullis_core::jose::JwtAccessTokens;
use portcullis_core::model::AllowedResources;
use portcullis_core::{BearerTokenGenerator, ClientMetadata, ResourceIndicators};
use serde_json::{json as j, Value};

use crate::jwt_access_tokens::{claims_of, es256, TestKeys};
use crate::support::*;

/// A registered resource server's audience, registered without the trailing slash.
const MCP: &str = "https://mcp.example.com";
const MCP_ID: &str = "mcp-server";
const MCP_SECRET: &str = "mcp-secret-1d8e5b7a90c2";
/// Another resource server.
const B: &str = "https://b.example/api";
const B_ID: &str = "b-server";
const B_SECRET: &str = "b-secret-3f1a9c6e2d74";
/// In the confidential client's own allow-list only.
const OWN: &str = "https://own.example/x";
const DEFAULT: &str = "https://default.example/";

fn config() -> Config {
    Config {
        resources: Some(
            ResourceIndicators::new()
                .with_default_resource(DEFAULT)
                .unwrap(),
        ),
        ..Config::default()
    }
}

fn setup(config: Config) -> TestServer {
    let ts = TestServer::with_config(config);
    let mut mcp = other_client(
        MCP_ID,
        MCP_SECRET,
        "client_secret_basic",
        &["client_credentials"],
    );
    mcp.resource_server_audience = Some(MCP.into());
    ts.add_client(mcp);
    let mut b = other_client(B_ID, B_SECRET, "client_secret_basic", &[]);
    b.resource_server_audience = Some(B.into());
    ts.add_client(b);
    let mut conf = confidential_client();
    let mut metadata = ClientMetadata::new();
    // The MCP server in the allow-list too, spelt otherwise: the resource server's
    // spelling is what the token names.
    metadata
        .extras
        .insert::<AllowedResources>(vec![OWN.to_owned(), "https://MCP.example.com/".to_owned()]);
    conf.metadata = metadata;
    ts.add_client(conf);
    ts
}

fn server() -> TestServer {
    setup(config())
}

/// The authorization request parameters of the confidential client, with `extra`.
fn authorize_params<'a>(
    pkce: &'a PkcePair,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CONF_ID),
        ("redirect_uri", CONF_REDIRECT),
        ("scope", "read"),
        ("state", STATE),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    params
}

async fn code_with(ts: &TestServer, pkce: &PkcePair, resources: &[&str]) -> String {
    let extra: Vec<(&str, &str)> = resources.iter().map(|r| ("resource", *r)).collect();
    let url = ts.authorize_ok(&authorize_params(pkce, &extra)).await;
    query_params(&url).remove("code").expect("a code")
}

async fn redeem_with(
    ts: &TestServer,
    code: &str,
    pkce: &PkcePair,
    resources: &[&str],
) -> portcullis_core::OAuthResponse {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CONF_REDIRECT),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    params.extend(resources.iter().map(|r| ("resource", *r)));
    ts.post_token(CONF, &params).await
}

fn ok(response: &portcullis_core::OAuthResponse) -> Value {
    assert_eq!(response.status(), StatusCode::OK, "{}", body_text(response));
    json(response)
}

async fn audience(ts: &TestServer, token: &str) -> Vec<String> {
    ts.validate(token, "").await.unwrap().audience
}

async fn refresh_with(
    ts: &TestServer,
    refresh: &str,
    resources: &[&str],
) -> portcullis_core::OAuthResponse {
    let mut params = vec![("grant_type", "refresh_token"), ("refresh_token", refresh)];
    params.extend(resources.iter().map(|r| ("resource", *r)));
    ts.post_token(CONF, &params).await
}

#[tokio::test]
async fn one_resource_at_authorization_is_the_tokens_only_audience_as_registered() {
    let ts = server();
    let pkce = PkcePair::new();
    // Sent with the trailing slash a client adds to a host-only URL, and in capitals.
    let code = code_with(&ts, &pkce, &["https://MCP.example.com/"]).await;
    let body = ok(&redeem_with(&ts, &code, &pkce, &[]).await);
    let token = field(&body, "access_token");
    assert_eq!(audience(&ts, token).await, vec![MCP.to_owned()]);
    // The same resource sent again at the token endpoint, in the other spelling.
    let pkce = PkcePair::new();
    let code = code_with(&ts, &pkce, &[MCP]).await;
    let body = ok(&redeem_with(&ts, &code, &pkce, &["https://mcp.example.com/"]).await);
    assert_eq!(
        audience(&ts, field(&body, "access_token")).await,
        vec![MCP.to_owned()]
    );
}

#[tokio::test]
async fn two_resources_are_remembered_by_the_code_and_a_token_request_narrows_to_one() {
    let ts = server();
    let pkce = PkcePair::new();
    let code = code_with(&ts, &pkce, &[MCP, OWN]).await;
    let body = ok(&redeem_with(&ts, &code, &pkce, &[]).await);
    assert_eq!(
        audience(&ts, field(&body, "access_token")).await,
        vec![MCP.to_owned(), OWN.to_owned()],
        "without resource at the token endpoint: every resource the code remembers"
    );

    let pkce = PkcePair::new();
    let code = code_with(&ts, &pkce, &[MCP, OWN]).await;
    let body = ok(&redeem_with(&ts, &code, &pkce, &[OWN]).await);
    assert_eq!(
        audience(&ts, field(&body, "access_token")).await,
        vec![OWN.to_owned()]
    );
    // The grant keeps both: a refresh may ask for the other one.
    let refreshed = ok(&refresh_with(&ts, field(&body, "refresh_token"), &[MCP]).await);
    assert_eq!(
        audience(&ts, field(&refreshed, "access_token")).await,
        vec![MCP.to_owned()]
    );
}

#[tokio::test]
async fn a_token_request_for_a_resource_not_granted_is_invalid_target() {
    let ts = server();
    let pkce = PkcePair::new();
    let code = code_with(&ts, &pkce, &[MCP]).await;
    // B is a registered resource server, but not granted at authorization.
    let response = redeem_with(&ts, &code, &pkce, &[B]).await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_target");

    // A grant authorized for no resource takes none at the token endpoint.
    let pkce = PkcePair::new();
    let code = code_with(&ts, &pkce, &[]).await;
    let response = redeem_with(&ts, &code, &pkce, &[MCP]).await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_target");
}

#[tokio::test]
async fn malformed_or_unknown_resources_at_authorization_are_redirected_invalid_target() {
    let ts = server();
    let pkce = PkcePair::new();
    for bad in [
        "/relative/path",
        "mcp.example.com",
        "https://mcp.example.com/#section",
        // Absolute, but neither a registered resource server nor in the allow-list.
        "https://unknown.example/",
        // A registered path differs from another path on the same host.
        "https://b.example/api/other",
    ] {
        let found = ts
            .authorize_redirect_error(
                &authorize_params(&pkce, &[("resource", MCP), ("resource", bad)]),
                "invalid_target",
            )
            .await;
        assert_eq!(found.get("state").map(String::as_str), Some(STATE), "{bad}");
        assert_eq!(found.get("iss").map(String::as_str), Some(ISSUER), "{bad}");
        assert!(!found.contains_key("code"));
    }
    // Another client's allow-list is not this client's.
    let found = ts
        .authorize_redirect_error(
            &[
                ("response_type", "code"),
                ("client_id", PUBLIC_ID),
                ("redirect_uri", PUBLIC_REDIRECT),
                ("state", STATE),
                ("code_challenge", &pkce.challenge),
                ("code_challenge_method", "S256"),
                ("resource", OWN),
            ],
            "invalid_target",
        )
        .await;
    assert_eq!(found.get("iss").map(String::as_str), Some(ISSUER));
}

#[tokio::test]
async fn malformed_or_unknown_resources_at_the_token_endpoint_are_invalid_target() {
    let ts = server();
    for bad in [
        "relative",
        "https://mcp.example.com/#frag",
        "https://unknown.example/",
    ] {
        let response = ts
            .post_token(
                CONF,
                &[("grant_type", "client_credentials"), ("resource", bad)],
            )
            .await;
        assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_target");
    }
    let pkce = PkcePair::new();
    let code = code_with(&ts, &pkce, &[MCP]).await;
    let response = redeem_with(&ts, &code, &pkce, &["https://mcp.example.com/#x"]).await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_target");
}

#[tokio::test]
async fn refresh_narrows_to_a_granted_resource_and_never_widens() {
    let ts = server();
    let pkce = PkcePair::new();
    let code = code_with(&ts, &pkce, &[MCP, OWN]).await;
    let body = ok(&redeem_with(&ts, &code, &pkce, &[]).await);
    let narrowed = ok(&refresh_with(&ts, field(&body, "refresh_token"), &[OWN]).await);
    assert_eq!(
        audience(&ts, field(&narrowed, "access_token")).await,
        vec![OWN.to_owned()]
    );
    // B was never granted.
    let refused = refresh_with(&ts, field(&narrowed, "refresh_token"), &[OWN, B]).await;
    assert_token_error(&refused, StatusCode::BAD_REQUEST, "invalid_target");
    // A refused refresh does not use up the refresh token; without resource, the
    // whole grant again.
    let again = ok(&refresh_with(&ts, field(&narrowed, "refresh_token"), &[]).await);
    assert_eq!(
        audience(&ts, field(&again, "access_token")).await,
        vec![MCP.to_owned(), OWN.to_owned()]
    );

    // A grant without resources gets none on refresh.
    let plain = ts.conf_tokens("read").await;
    let refused = refresh_with(&ts, field(&plain, "refresh_token"), &[MCP]).await;
    assert_token_error(&refused, StatusCode::BAD_REQUEST, "invalid_target");
}

#[tokio::test]
async fn without_resource_the_token_gets_the_clients_audience_or_the_default() {
    let ts = server();
    let body = ts.conf_tokens("read").await;
    assert_eq!(
        audience(&ts, field(&body, "access_token")).await,
        vec![DEFAULT.to_owned()],
        "a client without audience: the default resource"
    );
    let mut shop = other_client(
        "shop",
        "shop-secret-6a2f0c7d81",
        "client_secret_basic",
        &["client_credentials"],
    );
    shop.audience = vec!["https://api.example".into()];
    ts.add_client(shop);
    let token = ts
        .client_credentials_token("shop", "shop-secret-6a2f0c7d81", "read")
        .await;
    assert_eq!(
        audience(&ts, &token).await,
        vec!["https://api.example".to_owned()]
    );
    // No default configured: no audience, as without the extension.
    let ts = setup(Config {
        resources: Some(ResourceIndicators::new()),
        ..Config::default()
    });
    let body = ts.conf_tokens("read").await;
    assert!(audience(&ts, field(&body, "access_token")).await.is_empty());
    // The default must be an absolute URI.
    assert!(ResourceIndicators::new()
        .with_default_resource("not a uri")
        .is_err());
}

#[tokio::test]
async fn client_credentials_with_resources_gets_exactly_them() {
    let ts = server();
    let response = ts
        .post_token(
            CONF,
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://mcp.example.com/"),
                ("resource", B),
            ],
        )
        .await;
    let body = ok(&response);
    assert_eq!(
        audience(&ts, field(&body, "access_token")).await,
        vec![MCP.to_owned(), B.to_owned()]
    );
    // Without the extension, `resource` may not repeat (and is ignored once).
    let plain = TestServer::new();
    let response = plain
        .post_token(
            CONF,
            &[
                ("grant_type", "client_credentials"),
                ("resource", MCP),
                ("resource", B),
            ],
        )
        .await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn a_token_for_resource_a_is_refused_by_resource_b() {
    let ts = server();
    let pkce = PkcePair::new();
    let code = code_with(&ts, &pkce, &[MCP]).await;
    let body = ok(&redeem_with(&ts, &code, &pkce, &[]).await);
    let token = field(&body, "access_token");
    // Resource server A (the MCP server) introspects it: active, aud is A.
    let at_a = ts
        .introspect_ok(Auth::Basic(MCP_ID, MCP_SECRET), token)
        .await;
    assert_eq!(at_a["active"], true, "{at_a}");
    assert_eq!(at_a["aud"], MCP);
    // Resource server B learns nothing about it.
    let at_b = ts.introspect_ok(Auth::Basic(B_ID, B_SECRET), token).await;
    assert_eq!(at_b, j!({"active": false}));
}

#[tokio::test]
async fn a_jwt_access_tokens_aud_is_the_resource() {
    let keys = TestKeys::new(es256());
    let ts = setup(Config {
        bearer: Some(BearerTokenGenerator::default().with_strategy(JwtAccessTokens::new(keys))),
        ..config()
    });
    let pkce = PkcePair::new();
    let code = code_with(&ts, &pkce, &["https://mcp.example.com/"]).await;
    let body = ok(&redeem_with(&ts, &code, &pkce, &[]).await);
    assert_eq!(claims_of(field(&body, "access_token"))["aud"], MCP);
    let pkce = PkcePair::new();
    let code = code_with(&ts, &pkce, &[MCP, OWN]).await;
    let body = ok(&redeem_with(&ts, &code, &pkce, &[]).await);
    assert_eq!(
        claims_of(field(&body, "access_token"))["aud"],
        j!([MCP, OWN])
    );
}

#[tokio::test]
async fn the_implicit_grants_token_is_for_the_resource_too() {
    let ts = setup(Config {
        implicit: true,
        ..config()
    });
    let url = ts
        .authorize_ok(&[
            ("response_type", "token"),
            ("client_id", CONF_ID),
            ("redirect_uri", CONF_REDIRECT),
            ("scope", "read"),
            ("state", STATE),
            ("resource", "https://mcp.example.com/"),
        ])
        .await;
    let params = fragment_params(&url);
    assert_eq!(
        audience(&ts, &params["access_token"]).await,
        vec![MCP.to_owned()]
    );
    ts.authorize_redirect_error(
        &[
            ("response_type", "token"),
            ("client_id", CONF_ID),
            ("redirect_uri", CONF_REDIRECT),
            ("state", STATE),
            ("resource", "https://unknown.example/"),
        ],
        "invalid_target",
    )
    .await;
}
