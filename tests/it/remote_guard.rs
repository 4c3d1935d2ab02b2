//! The resource guard validating tokens remotely, through the introspection endpoint of
//! another Portcullis (RFC 7662), with a bounded cache; and the axum endpoint routes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::routing::get;
use axum::Router;
use portcullis_axum::remote::RemoteIntrospection;
use portcullis_axum::{endpoint_route, require_bearer, token_route, Bearer, ResourceGuard};
use portcullis_core::{
    hash_secret, AuthorizationServer, ClientCredentialsGrant, ClientRecord, Clock,
    IntrospectionEndpoint, ManualClock, MemoryStore, PasswordGrant, RefreshTokenGrant,
    ResourceProtector, RevocationEndpoint, Scope,
};

const APP_SECRET: &str = "app-secret-0123456789abcdefghijklmnop";
const API_SECRET: &str = "orders-api-secret-0123456789abcdefghij";
const ALICE_PASSWORD: &str = "correct horse battery staple";

fn client(id: &str, secret: &str, grants: &[&str], scope: &str) -> ClientRecord {
    ClientRecord::new(id)
        .with_secret_hash(hash_secret(secret))
        .with_name(id)
        .with_scope(Scope::parse(scope).unwrap())
        .with_grant_types(grants.iter().copied())
        .with_auth_method("client_secret_basic")
}

struct Setup {
    auth: String,
    api: String,
    introspections: Arc<AtomicUsize>,
    clock: Arc<ManualClock>,
    validator: RemoteIntrospection,
    http: reqwest::Client,
}

async fn listen(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

async fn setup(capacity: usize) -> Setup {
    // The authorization server: its own machine in real life.
    let store = MemoryStore::new();
    let mut app = client(
        "app",
        APP_SECRET,
        &["client_credentials", "password", "refresh_token"],
        "orders:read orders:write",
    );
    app.audience = vec!["orders-api".into()];
    store.insert_client(app).unwrap();
    store.insert_user("alice", ALICE_PASSWORD).unwrap();
    store
        .insert_client(client(
            "other-app",
            APP_SECRET,
            &["client_credentials"],
            "orders:read",
        ))
        .unwrap();
    let mut api = client("orders-api", API_SECRET, &[], "");
    api.resource_server_audience = Some("orders-api".into());
    store.insert_client(api).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let auth = format!("http://{}", listener.local_addr().unwrap());
    let mut server = AuthorizationServer::new(store).with_issuer(auth.clone());
    server
        .register_grant(ClientCredentialsGrant::new())
        .register_grant(PasswordGrant::new())
        .register_grant(RefreshTokenGrant::new())
        .register_endpoint(IntrospectionEndpoint::new())
        .register_endpoint(RevocationEndpoint::new());
    let server = Arc::new(server);
    let introspections = Arc::new(AtomicUsize::new(0));
    let counter = introspections.clone();
    let router = Router::new()
        .route("/token", token_route(server.clone()))
        .route("/revoke", endpoint_route(server.clone(), "revocation"))
        .route(
            "/introspect",
            endpoint_route(server.clone(), "introspection").layer(middleware::from_fn(
                move |request: Request, next: Next| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    next.run(request)
                },
            )),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    // The API, protected through the authorization server's introspection endpoint.
    let clock = Arc::new(ManualClock::new(portcullis_core::SystemClock.now()));
    let validator =
        RemoteIntrospection::new(format!("{auth}/introspect"), "orders-api", API_SECRET)
            .with_clock(clock.clone())
            .with_cache_capacity(capacity);
    let guard = ResourceGuard::new(ResourceProtector::new(Arc::new(validator.clone())))
        .require_scope("orders:read");
    async fn orders(Bearer(token): Bearer) -> String {
        format!("orders for {}", token.client_id)
    }
    let api_router = Router::new()
        .route("/orders", get(orders).post(orders))
        .route_layer(middleware::from_fn_with_state(guard, require_bearer))
        .with_state(ResourceProtector::new(Arc::new(validator.clone())));
    let api = listen(api_router).await;
    Setup {
        auth,
        api,
        introspections,
        clock,
        validator,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    async fn token(&self, client_id: &str, scope: &str) -> String {
        let response = self
            .http
            .post(format!("{}/token", self.auth))
            .basic_auth(client_id, Some(APP_SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(&self, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/orders", self.api))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn api_accepts_a_token_issued_for_its_audience() {
    let s = setup(16).await;
    let token = s.token("app", "orders:read").await;
    let response = s.call(&token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "orders for app");
}

#[tokio::test]
async fn api_refuses_a_token_for_another_audience_and_a_missing_scope() {
    let s = setup(16).await;
    // other-app's tokens are not for orders-api: introspection says inactive to it.
    let foreign = s.token("other-app", "orders:read").await;
    let response = s.call(&foreign).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    // app's token without orders:read: valid, but not enough.
    let narrow = s.token("app", "orders:write").await;
    let response = s.call(&narrow).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    // No token at all.
    let response = s
        .http
        .get(format!("{}/orders", s.api))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"portcullis\""
    );
}

#[tokio::test]
async fn answers_are_cached_until_the_ttl_then_a_revocation_shows() {
    let s = setup(16).await;
    let token = s.token("app", "orders:read").await;
    assert_eq!(s.call(&token).await.status(), 200);
    assert_eq!(s.call(&token).await.status(), 200);
    assert_eq!(
        s.introspections.load(Ordering::SeqCst),
        1,
        "the second call used the cache"
    );

    let revoked = s
        .http
        .post(format!("{}/revoke", s.auth))
        .basic_auth("app", Some(APP_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(s.call(&token).await.status(), 200, "still cached");
    s.clock.advance(31);
    assert_eq!(
        s.call(&token).await.status(),
        401,
        "the cache expired; the revocation shows"
    );
    assert_eq!(s.introspections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let s = setup(2).await;
    for _ in 0..3 {
        let token = s.token("app", "orders:read").await;
        assert_eq!(s.call(&token).await.status(), 200);
    }
    assert_eq!(s.validator.cached(), 2);
}

#[tokio::test]
async fn a_token_in_a_form_body_is_accepted_by_the_middleware() {
    let s = setup(16).await;
    let token = s.token("app", "orders:read").await;
    let response = s
        .http
        .post(format!("{}/orders", s.api))
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let both = s
        .http
        .post(format!("{}/orders", s.api))
        .bearer_auth(&token)
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400, "one token, one way (RFC 6750 §2)");
}

#[tokio::test]
async fn wrong_resource_server_credentials_fail_closed() {
    let s = setup(16).await;
    let token = s.token("app", "orders:read").await;
    let bad = RemoteIntrospection::new(format!("{}/introspect", s.auth), "orders-api", "wrong");
    let protector = ResourceProtector::new(Arc::new(bad));
    let error = protector
        .validate_token(&token, &Scope::empty())
        .await
        .unwrap_err();
    assert_eq!(error, portcullis_core::BearerError::ServerError);
}

/// Issue 9, finding 1: a refresh token never opens an API behind `RemoteIntrospection`
/// — not with the resource server's credentials (introspection tells it nothing about
/// refresh tokens), and not even with the credentials of the client it was issued to
/// (introspection reports a `refresh_token`, which the validator refuses).
#[tokio::test]
async fn a_refresh_token_never_opens_the_api() {
    let s = setup(16).await;
    let response = s
        .http
        .post(format!("{}/token", s.auth))
        .basic_auth("app", Some(APP_SECRET))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", ALICE_PASSWORD),
            ("scope", "orders:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_eq!(s.call(access).await.status(), 200);
    let refused = s.call(refresh).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    let as_owner = ResourceProtector::new(Arc::new(RemoteIntrospection::new(
        format!("{}/introspect", s.auth),
        "app",
        APP_SECRET,
    )));
    assert!(as_owner
        .validate_token(access, &Scope::empty())
        .await
        .is_ok());
    assert_eq!(
        as_owner.validate_token(refresh, &Scope::empty()).await,
        Err(portcullis_core::BearerError::InvalidToken)
    );
}
