//! Token introspection (RFC 7662).

use std::collections::BTreeSet;

use bytes::Bytes;
use http::{header, StatusCode};
use portcullis_core::{ClientRecord, EndpointName, Scope};
use serde_json::{json, Value};

use crate::support::*;

const REFRESH_LIFETIME: i64 = 30 * 24 * 3600;

const RS_ID: &str = "orders-rs";
const RS_SECRET: &str = "orders-rs-secret-0b9d44e1";
const SHOP_ID: &str = "shop";
const SHOP_SECRET: &str = "shop-secret-6a2f0c7d81";

fn inactive() -> Value {
    json!({"active": false})
}

fn keys(body: &Value) -> BTreeSet<&str> {
    body.as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// A resource server: a confidential client serving the `orders-api` audience.
fn resource_server() -> ClientRecord {
    let mut client = other_client(
        RS_ID,
        RS_SECRET,
        "client_secret_basic",
        &["client_credentials"],
    );
    client.resource_server_audience = Some("orders-api".into());
    client
}

/// A confidential client whose tokens are meant for `audience`.
fn shop_client(audience: &[&str]) -> ClientRecord {
    let mut client = other_client(
        SHOP_ID,
        SHOP_SECRET,
        "client_secret_basic",
        &["client_credentials"],
    );
    client.audience = strings(audience);
    client
}

const RS: Auth<'static> = Auth::Basic(RS_ID, RS_SECRET);

#[tokio::test]
async fn active_access_token_carries_every_claim() {
    let ts = TestServer::with_config(Config {
        usernames: true,
        ..Config::default()
    });
    ts.store().insert_user(USER, "correct horse").unwrap();
    let tokens = ts.conf_tokens("read write").await;
    let access = field(&tokens, "access_token");
    ts.clock.advance(10);

    let body = ts.introspect_ok(CONF, access).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(
        Scope::parse(field(&body, "scope")).unwrap(),
        Scope::parse("read write").unwrap()
    );
    assert_eq!(body["client_id"], CONF_ID);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["exp"], START + 3600);
    assert_eq!(body["iat"], START);
    assert_eq!(body["nbf"], START);
    assert_eq!(body["sub"], USER);
    assert_eq!(body["username"], USER);
    assert_eq!(body["iss"], ISSUER);
    let jti = field(&body, "jti");
    assert!(!jti.is_empty());
    assert!(
        !body.to_string().contains(access),
        "the response must not reveal the token: {body}"
    );
    assert_eq!(
        keys(&body),
        BTreeSet::from([
            "active",
            "scope",
            "client_id",
            "token_type",
            "exp",
            "iat",
            "nbf",
            "sub",
            "username",
            "iss",
            "jti",
        ]),
        "no aud: the client has no audience; {body}"
    );
}

#[tokio::test]
async fn jti_is_stable_and_distinct_per_token() {
    let ts = TestServer::new();
    let a = ts.conf_tokens("read").await;
    let b = ts.conf_tokens("read").await;
    let jti = |body: Value| field(&body, "jti").to_owned();
    let a1 = jti(ts.introspect_ok(CONF, field(&a, "access_token")).await);
    let a2 = jti(ts.introspect_ok(CONF, field(&a, "access_token")).await);
    let b1 = jti(ts.introspect_ok(CONF, field(&b, "access_token")).await);
    assert_eq!(a1, a2);
    assert_ne!(a1, b1);
}

#[tokio::test]
async fn username_is_absent_without_a_resolver() {
    let ts = TestServer::new();
    ts.store().insert_user(USER, "correct horse").unwrap();
    let tokens = ts.conf_tokens("read").await;
    let body = ts.introspect_ok(CONF, field(&tokens, "access_token")).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], USER);
    assert!(body.get("username").is_none(), "{body}");
}

#[tokio::test]
async fn username_is_absent_for_a_subject_the_resolver_does_not_know() {
    // USER was never inserted as a user of the store.
    let ts = TestServer::with_config(Config {
        usernames: true,
        ..Config::default()
    });
    let tokens = ts.conf_tokens("read").await;
    let body = ts.introspect_ok(CONF, field(&tokens, "access_token")).await;
    assert_eq!(body["sub"], USER);
    assert!(body.get("username").is_none(), "{body}");
}

#[tokio::test]
async fn client_credentials_token_has_no_sub() {
    let ts = TestServer::new();
    let token = ts
        .client_credentials_token(CONF_ID, CONF_SECRET, "read")
        .await;
    let body = ts.introspect_ok(CONF, &token).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], CONF_ID);
    assert!(body.get("sub").is_none(), "{body}");
    assert!(body.get("username").is_none(), "{body}");
}

#[tokio::test]
async fn a_token_without_scope_has_no_scope_member() {
    let ts = TestServer::new();
    let token = ts.client_credentials_token(CONF_ID, CONF_SECRET, "").await;
    let body = ts.introspect_ok(CONF, &token).await;
    assert_eq!(body["active"], true);
    assert!(body.get("scope").is_none(), "no empty scope string: {body}");
}

#[tokio::test]
async fn aud_is_the_audience_of_the_client() {
    let ts = TestServer::new();
    ts.add_client(shop_client(&["orders-api"]));
    let token = ts
        .client_credentials_token(SHOP_ID, SHOP_SECRET, "read")
        .await;
    let body = ts
        .introspect_ok(Auth::Basic(SHOP_ID, SHOP_SECRET), &token)
        .await;
    assert_eq!(body["active"], true);
    assert_eq!(body["aud"], "orders-api");

    ts.add_client(shop_client(&["orders-api", "billing-api"]));
    let token = ts
        .client_credentials_token(SHOP_ID, SHOP_SECRET, "read")
        .await;
    let body = ts
        .introspect_ok(Auth::Basic(SHOP_ID, SHOP_SECRET), &token)
        .await;
    assert_eq!(body["aud"], json!(["orders-api", "billing-api"]));
}

#[tokio::test]
async fn aud_survives_refresh() {
    let ts = TestServer::new();
    let mut client = confidential_client();
    client.audience = strings(&["orders-api"]);
    ts.add_client(client);
    let tokens = ts.conf_tokens("read").await;
    let response = ts.refresh(field(&tokens, "refresh_token"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = ts
        .introspect_ok(CONF, field(&json(&response), "access_token"))
        .await;
    assert_eq!(body["active"], true);
    assert_eq!(body["aud"], "orders-api");
}

#[tokio::test]
async fn expired_access_token_is_exactly_inactive() {
    let ts = TestServer::new();
    let tokens = ts.conf_tokens("read").await;
    let access = field(&tokens, "access_token");
    ts.clock.advance(3599);
    assert_eq!(ts.introspect_ok(CONF, access).await["active"], true);
    ts.clock.advance(1);
    assert_eq!(ts.introspect_ok(CONF, access).await, inactive());
}

#[tokio::test]
async fn revoked_access_token_is_exactly_inactive() {
    let ts = TestServer::new();
    let tokens = ts.conf_tokens("read").await;
    let access = field(&tokens, "access_token");
    assert_revocation_ok(&ts.revoke(CONF, &[("token", access)]).await);
    assert_eq!(ts.introspect_ok(CONF, access).await, inactive());
}

#[tokio::test]
async fn rotated_refresh_token_and_its_access_token_are_inactive() {
    let ts = TestServer::new();
    let tokens = ts.conf_tokens("read").await;
    let response = ts.refresh(field(&tokens, "refresh_token"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    for token in [
        field(&tokens, "access_token"),
        field(&tokens, "refresh_token"),
    ] {
        assert_eq!(ts.introspect_ok(CONF, token).await, inactive());
    }
}

#[tokio::test]
async fn unknown_token_is_exactly_inactive() {
    let ts = TestServer::new();
    for hint in [None, Some("access_token"), Some("refresh_token")] {
        let mut params = vec![("token", "no-such-token")];
        if let Some(hint) = hint {
            params.push(("token_type_hint", hint));
        }
        let response = ts.introspect(CONF, &params).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(json(&response), inactive());
    }
}

#[tokio::test]
async fn refresh_token_is_active_until_its_own_expiry() {
    let ts = TestServer::new();
    let tokens = ts.conf_tokens("read write").await;
    let refresh = field(&tokens, "refresh_token");

    let response = ts
        .introspect(
            CONF,
            &[("token", refresh), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(&response);
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["exp"], START + REFRESH_LIFETIME);
    assert_eq!(body["client_id"], CONF_ID);
    assert_eq!(body["sub"], USER);
    assert_eq!(
        Scope::parse(field(&body, "scope")).unwrap(),
        Scope::parse("read write").unwrap()
    );
    assert_ne!(
        body["token_type"], "Bearer",
        "a refresh token is no bearer token"
    );

    // The hint is not trusted: without it, or with the wrong one, it is still found.
    for hint in [None, Some("access_token")] {
        let mut params = vec![("token", refresh)];
        if let Some(hint) = hint {
            params.push(("token_type_hint", hint));
        }
        let body = json(&ts.introspect(CONF, &params).await);
        assert_eq!(body["active"], true, "{hint:?}: {body}");
        assert_eq!(body["exp"], START + REFRESH_LIFETIME, "{hint:?}");
    }

    // The access token expiring does not end the refresh token.
    ts.clock.advance(3600);
    assert_eq!(
        ts.introspect_ok(CONF, field(&tokens, "access_token")).await,
        inactive()
    );
    assert_eq!(ts.introspect_ok(CONF, refresh).await["active"], true);

    ts.clock.set(START + REFRESH_LIFETIME);
    assert_eq!(ts.introspect_ok(CONF, refresh).await, inactive());
}

#[tokio::test]
async fn access_token_with_refresh_hint_is_still_found() {
    let ts = TestServer::new();
    let tokens = ts.conf_tokens("read").await;
    let body = json(
        &ts.introspect(
            CONF,
            &[
                ("token", field(&tokens, "access_token")),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await,
    );
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["exp"], START + 3600);
}

#[tokio::test]
async fn another_clients_token_is_exactly_inactive() {
    let ts = TestServer::new();
    ts.add_client(shop_client(&[]));
    let tokens = ts.conf_tokens("read").await;
    let shop = Auth::Basic(SHOP_ID, SHOP_SECRET);
    for token in [
        field(&tokens, "access_token"),
        field(&tokens, "refresh_token"),
    ] {
        assert_eq!(ts.introspect_ok(shop, token).await, inactive());
    }
    // The owner still sees it active.
    assert_eq!(
        ts.introspect_ok(CONF, field(&tokens, "access_token")).await["active"],
        true
    );
}

#[tokio::test]
async fn resource_server_introspects_tokens_of_its_audience_only() {
    let ts = TestServer::new();
    ts.add_client(resource_server());
    ts.add_client(shop_client(&["orders-api"]));
    let for_orders = ts
        .client_credentials_token(SHOP_ID, SHOP_SECRET, "read")
        .await;
    let not_for_orders = ts
        .client_credentials_token(CONF_ID, CONF_SECRET, "read")
        .await;

    let body = ts.introspect_ok(RS, &for_orders).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["client_id"], SHOP_ID);
    assert_eq!(body["aud"], "orders-api");

    assert_eq!(ts.introspect_ok(RS, &not_for_orders).await, inactive());
}

#[tokio::test]
async fn resource_server_does_not_see_tokens_of_another_audience() {
    let ts = TestServer::new();
    ts.add_client(resource_server());
    ts.add_client(shop_client(&["billing-api", "orders-api-v2"]));
    let token = ts
        .client_credentials_token(SHOP_ID, SHOP_SECRET, "read")
        .await;
    assert_eq!(ts.introspect_ok(RS, &token).await, inactive());
}

#[tokio::test]
async fn public_client_is_invalid_client() {
    let ts = TestServer::new();
    let tokens = ts.public_tokens("read").await;
    let response = ts
        .introspect(PUBLIC, &[("token", field(&tokens, "access_token"))])
        .await;
    assert_token_error(&response, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(header_str(&response, header::WWW_AUTHENTICATE).is_some());
}

#[tokio::test]
async fn unauthenticated_request_is_401() {
    let ts = TestServer::new();
    let tokens = ts.conf_tokens("read").await;
    let access = field(&tokens, "access_token");
    for auth in [
        Auth::Anonymous,
        Auth::Basic(CONF_ID, "not-the-secret"),
        Auth::Public(CONF_ID),
        Auth::Basic("no-such-client", CONF_SECRET),
    ] {
        let response = ts.introspect(auth, &[("token", access)]).await;
        let body = assert_token_error(&response, StatusCode::UNAUTHORIZED, "invalid_client");
        assert!(body.get("active").is_none(), "{auth:?}: {body}");
    }
}

#[tokio::test]
async fn get_is_405() {
    let ts = TestServer::new();
    let tokens = ts.conf_tokens("read").await;
    let request = http::Request::get(format!(
        "/introspect?{}",
        encode(&[("token", field(&tokens, "access_token"))])
    ))
    .header(header::AUTHORIZATION, basic_header(CONF_ID, CONF_SECRET))
    .body(Bytes::new())
    .unwrap();
    let response = ts.endpoint(EndpointName::INTROSPECTION, &request).await;
    assert_token_error(&response, StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(header_str(&response, header::ALLOW), Some("POST"));
}

#[tokio::test]
async fn missing_token_is_invalid_request() {
    let ts = TestServer::new();
    let response = ts.introspect(CONF, &[]).await;
    assert_token_error(&response, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn every_response_is_no_store() {
    let ts = TestServer::new();
    let tokens = ts.conf_tokens("read").await;
    let access = field(&tokens, "access_token");
    let get = http::Request::get("/introspect")
        .body(Bytes::new())
        .unwrap();
    let responses = [
        ts.introspect(CONF, &[("token", access)]).await,
        ts.introspect(CONF, &[("token", "unknown")]).await,
        ts.introspect(CONF, &[]).await,
        ts.introspect(Auth::Anonymous, &[("token", access)]).await,
        ts.introspect(PUBLIC, &[("token", access)]).await,
        ts.endpoint(EndpointName::INTROSPECTION, &get).await,
    ];
    for response in &responses {
        assert_eq!(
            header_str(response, header::CACHE_CONTROL),
            Some("no-store"),
            "{} {}",
            response.status(),
            body_text(response)
        );
    }
}

/// Issue 9, finding 1: a resource server, even for the token's own audience, learns
/// nothing of a refresh token; its owner does, as `refresh_token` (never `Bearer`).
#[tokio::test]
async fn a_resource_server_never_learns_about_a_refresh_token() {
    let ts = TestServer::new();
    ts.add_client(resource_server());
    let mut client = confidential_client();
    client.audience = strings(&["orders-api"]);
    ts.add_client(client);
    let tokens = ts.conf_tokens("read").await;
    let refresh = field(&tokens, "refresh_token");
    let access = field(&tokens, "access_token");
    // The resource server sees the access token of its audience...
    assert_eq!(ts.introspect_ok(RS, access).await["token_type"], "Bearer");
    // ...but not the refresh token, with any hint.
    for hint in [None, Some("access_token"), Some("refresh_token")] {
        let mut params = vec![("token", refresh)];
        if let Some(hint) = hint {
            params.push(("token_type_hint", hint));
        }
        assert_eq!(
            json(&ts.introspect(RS, &params).await),
            inactive(),
            "{hint:?}"
        );
    }
    // Its owner does, and is told it is a refresh token.
    let body = ts.introspect_ok(CONF, refresh).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
}

/// A token strategy that stores access tokens under keys of its own, as a JWT strategy
/// would: `key` is not `token_key`.
struct PrefixedTokens;

impl portcullis_core::AccessTokenStrategy for PrefixedTokens {
    fn mint(
        &self,
        context: &portcullis_core::tokens::StrategyContext<'_>,
    ) -> Result<String, portcullis_core::OAuthError> {
        Ok(format!(
            "pfx.{}",
            portcullis_core::random::random_token(context.random)
        ))
    }

    fn key(&self, token: &str) -> Option<String> {
        token
            .strip_prefix("pfx.")
            .map(|rest| format!("custom-key:{}", portcullis_core::token_key(rest)))
    }
}

/// Introspection and revocation find access tokens by the strategy's keys, like the
/// resource guard does (issue 10: the strategy validates as well as mints).
#[tokio::test]
async fn introspection_and_revocation_use_the_access_token_strategy() {
    let ts = TestServer::with_config(Config {
        bearer: Some(
            portcullis_core::BearerTokenGenerator::default().with_strategy(PrefixedTokens),
        ),
        ..Config::default()
    });
    let tokens = ts.conf_tokens("read").await;
    let access = field(&tokens, "access_token").to_owned();
    assert!(access.starts_with("pfx."), "{access}");
    let stored = ts.store().tokens().unwrap();
    assert!(stored
        .iter()
        .any(|t| t.access_token_hash.starts_with("custom-key:")));

    let info = ts.introspect_ok(CONF, &access).await;
    assert_eq!(info["active"], true, "{info}");
    assert!(ts.is_active(&access).await, "the guard agrees");
    // A token the strategy does not recognise is no access token.
    assert_eq!(ts.introspect_ok(CONF, "not-a-pfx-token").await, inactive());

    let revoked = ts.revoke(CONF, &[("token", &access)]).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(ts.introspect_ok(CONF, &access).await, inactive());
    assert!(!ts.is_active(&access).await);
}
