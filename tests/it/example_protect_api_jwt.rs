//! `examples/protect_api_jwt.rs` on real sockets: an authorization server issuing JWT
//! access tokens and an API validating them locally with `JwtValidator` — the right
//! token passes, every wrong one is `401`, a key rotation is picked up on the first
//! unknown `kid`, and a flood of forged `kid`s costs at most one fetch per interval.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use portcullis_axum::jwt::JwtValidator;
use portcullis_core::jose::{self, Algorithm, Signer};
use portcullis_core::{Clock, ManualClock, SystemClock};

use crate::protect_api_jwt::{
    api, authorization_app, authorization_server, Keys, API_AUDIENCE, SECRET,
};

struct Setup {
    clock: Arc<ManualClock>,
    issuer: String,
    api: String,
    keys: Arc<Keys>,
    jwks_fetches: Arc<AtomicUsize>,
    /// The `/jwks` requests answered `304 Not Modified`.
    jwks_not_modified: Arc<AtomicUsize>,
    http: reqwest::Client,
}

async fn listen(listener: tokio::net::TcpListener, router: axum::Router) {
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
}

async fn setup() -> Setup {
    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_listener.local_addr().unwrap());
    let keys = Keys::new().unwrap();
    let jwks_fetches = Arc::new(AtomicUsize::new(0));
    let jwks_not_modified = Arc::new(AtomicUsize::new(0));
    let (fetches, not_modified) = (jwks_fetches.clone(), jwks_not_modified.clone());
    let authorization = authorization_app(authorization_server(&issuer, keys.clone()).unwrap())
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let (fetches, not_modified) = (fetches.clone(), not_modified.clone());
            async move {
                let jwks = request.uri().path() == "/jwks";
                let response = next.run(request).await;
                if jwks {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    if response.status() == axum::http::StatusCode::NOT_MODIFIED {
                        not_modified.fetch_add(1, Ordering::SeqCst);
                    }
                }
                response
            }
        }));
    listen(as_listener, authorization).await;
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_base = format!("http://{}", api_listener.local_addr().unwrap());
    // The API's clock: the real time, standing still unless the test moves it.
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let validator = JwtValidator::new(issuer.clone(), [API_AUDIENCE])
        .with_refetch_interval(5)
        .with_clock(clock.clone());
    listen(api_listener, api(validator)).await;
    Setup {
        clock,
        issuer,
        api: api_base,
        keys,
        jwks_fetches,
        jwks_not_modified,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    async fn token(&self, client_id: &str) -> String {
        let response: serde_json::Value = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(&self, token: Option<&str>) -> u16 {
        let mut request = self.http.get(format!("{}/api/reports", self.api));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().status().as_u16()
    }

    /// The authorization server's JWK Set, as served.
    async fn jwk_set(&self) -> String {
        let response = self.http.get(format!("{}/jwks", self.issuer)).send().await;
        response.unwrap().text().await.unwrap()
    }

    /// A token signed by the authorization server's key that names `issuer`.
    fn token_of_issuer(&self, issuer: &str) -> String {
        use portcullis_core::jose::SigningKeys as _;
        let mut claims = self.claims();
        claims["iss"] = issuer.into();
        let signer = self.keys.signer(0).unwrap();
        signer.sign(Some("at+jwt"), &claims).unwrap()
    }

    /// Claims the API would accept, were they signed by the issuer's key.
    fn claims(&self) -> serde_json::Value {
        serde_json::json!({
            "iss": self.issuer, "aud": API_AUDIENCE, "client_id": "reporting",
            "scope": "reports:read", "exp": 4_000_000_000i64, "sub": "reporting",
        })
    }
}

/// A signer of `attacker`'s key that names `kid`, a kid the issuer never published.
fn forged_signer(attacker: &Signer, kid: String) -> Signer {
    let key = jose::aws_lc_rs::provider()
        .require(Algorithm::Es256)
        .unwrap()
        .load(&attacker.key().to_pkcs8_der().unwrap())
        .unwrap();
    Signer::new(key, kid)
}

/// `token` with `from` replaced by `to` in its decoded claims, encoded again; the
/// signature is kept. With `from == to` the token comes back byte for byte.
fn tampered(token: &str, from: &str, to: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let parts: Vec<&str> = token.split('.').collect();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert!(claims.contains(from), "{claims}");
    let payload = URL_SAFE_NO_PAD.encode(claims.replacen(from, to, 1));
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test]
async fn the_api_accepts_its_tokens_and_refuses_the_others() {
    let setup = setup().await;
    let token = setup.token("reporting").await;
    assert_eq!(token.matches('.').count(), 2, "a JWT: {token}");
    assert_eq!(setup.call(Some(&token)).await, 200);
    assert_eq!(setup.call(Some(&token)).await, 200);
    // The keys were fetched once, not per request, and are kept for the set's
    // max-age (300 s here); then revalidated with its ETag (a 304) and kept on.
    assert_eq!(setup.jwks_fetches.load(Ordering::SeqCst), 1);
    setup.clock.advance(299);
    assert_eq!(setup.call(Some(&token)).await, 200);
    assert_eq!(setup.jwks_fetches.load(Ordering::SeqCst), 1);
    setup.clock.advance(2);
    assert_eq!(setup.call(Some(&token)).await, 200);
    assert_eq!(setup.jwks_fetches.load(Ordering::SeqCst), 2);
    assert_eq!(setup.jwks_not_modified.load(Ordering::SeqCst), 1);

    assert_eq!(setup.call(None).await, 401);
    // A token for another API.
    let billing = setup.token("billing").await;
    assert_eq!(setup.call(Some(&billing)).await, 401);
    // A tampered one: the scope widened, the signature kept. The control, decoded
    // and encoded again unchanged, still passes.
    let scope = r#""scope":"reports:read""#;
    let unchanged = tampered(&token, scope, scope);
    assert_eq!(unchanged, token);
    assert_eq!(
        setup.call(Some(&unchanged)).await,
        200,
        "the control passes"
    );
    let widened = tampered(&token, scope, r#""scope":"reports:read reports:write""#);
    assert_eq!(setup.call(Some(&widened)).await, 401);
    // An opaque-looking token, and garbage.
    assert_eq!(setup.call(Some("018bcfe56800.abcdef")).await, 401);
    assert_eq!(setup.call(Some("a.b.c")).await, 401);
}

#[tokio::test]
async fn a_rotation_is_picked_up_and_forged_kids_do_not_flood_the_issuer() {
    let setup = setup().await;
    let before = setup.token("reporting").await;
    assert_eq!(setup.call(Some(&before)).await, 200);
    assert_eq!(setup.jwks_fetches.load(Ordering::SeqCst), 1);

    // The authorization server rotates; a token of the new key is unknown to the
    // cached set. Within the refetch interval it is refused without a fetch; after
    // it, the set is refetched once and the token passes.
    setup.keys.rotate().unwrap();
    let after = setup.token("reporting").await;
    assert_eq!(setup.call(Some(&after)).await, 401);
    assert_eq!(setup.jwks_fetches.load(Ordering::SeqCst), 1);
    setup.clock.advance(6);
    assert_eq!(setup.call(Some(&after)).await, 200);
    assert_eq!(setup.jwks_fetches.load(Ordering::SeqCst), 2);
    assert_eq!(
        setup.call(Some(&before)).await,
        200,
        "old keys stay published"
    );

    // Tokens naming kids nobody published: refused, with no fetch inside the
    // refetch interval.
    let attacker = Signer::generate(&jose::aws_lc_rs::provider(), Algorithm::Es256).unwrap();
    for n in 0..20 {
        let forged = forged_signer(&attacker, format!("forged-{n}"));
        let token = forged.sign(Some("at+jwt"), &setup.claims()).unwrap();
        assert_eq!(setup.call(Some(&token)).await, 401);
    }
    assert_eq!(setup.jwks_fetches.load(Ordering::SeqCst), 2);
}

/// A server whose metadata names another issuer (RFC 8414 §3.3) is not trusted, even
/// though its `jwks_uri` holds the real keys: the guard answers 500 (it cannot
/// validate). The control — the same metadata naming the right issuer — loads the keys
/// and answers 401 for the token of another issuer, so the 500 is the issuer check.
#[tokio::test]
async fn an_issuer_whose_metadata_names_another_issuer_is_refused() {
    use axum::routing::get;
    let setup = setup().await;
    let token = setup.token("reporting").await;
    let status_with = |named_issuer: Option<String>| {
        let setup = &setup;
        let token = token.clone();
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let metadata = serde_json::json!({
                "issuer": named_issuer.unwrap_or_else(|| base.clone()),
                "jwks_uri": format!("{}/jwks", setup.issuer),
            });
            let fake = axum::Router::new().route(
                "/.well-known/oauth-authorization-server",
                get(move || {
                    let metadata = metadata.clone();
                    async move { axum::Json(metadata) }
                }),
            );
            listen(listener, fake).await;
            let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let api_base = format!("http://{}", api_listener.local_addr().unwrap());
            listen(api_listener, api(JwtValidator::new(base, [API_AUDIENCE]))).await;
            setup
                .http
                .get(format!("{api_base}/api/reports"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        status_with(Some("https://elsewhere.example".into())).await,
        500
    );
    assert_eq!(status_with(None).await, 401);
}

/// Concurrent tokens naming unknown kids share one fetch.
#[tokio::test]
async fn concurrent_forged_kids_cause_one_fetch() {
    let setup = setup().await;
    let good = setup.token("reporting").await;
    assert_eq!(setup.call(Some(&good)).await, 200);
    setup.clock.advance(6);
    let attacker = Signer::generate(&jose::aws_lc_rs::provider(), Algorithm::Es256).unwrap();
    let claims = setup.claims();
    let forged: Vec<String> = (0..30)
        .map(|n| {
            let mut header = serde_json::Map::new();
            header.insert("typ".into(), "at+jwt".into());
            forged_signer(&attacker, format!("forged-{n}"))
                .sign_with_header(header, &claims)
                .unwrap()
        })
        .collect();
    // All at once: each request runs in its own task.
    let mut tasks = tokio::task::JoinSet::new();
    for token in forged {
        let http = setup.http.clone();
        let url = format!("{}/api/reports", setup.api);
        tasks.spawn(async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = tasks.join_all().await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(
        setup.jwks_fetches.load(Ordering::SeqCst),
        2,
        "one refetch for all"
    );
}

/// The validator's own checks: an expired token, a token of the right key with
/// another `typ`, and an algorithm not on the allowed list are refused.
#[tokio::test]
async fn expired_mistyped_and_disallowed_tokens_are_refused() {
    use portcullis_core::jose::SigningKeys as _;
    let setup = setup().await;
    let token = setup.token("reporting").await;
    assert_eq!(setup.call(Some(&token)).await, 200);
    let signer = setup.keys.signer(0).unwrap();
    let claims = setup.claims();
    let plain_jwt = signer.sign(Some("JWT"), &claims).unwrap();
    assert_eq!(setup.call(Some(&plain_jwt)).await, 401);
    let good_typ = signer.sign(Some("at+jwt"), &claims).unwrap();
    assert_eq!(setup.call(Some(&good_typ)).await, 200, "the control passes");
    // The API's clock past the token's exp (an hour) and the skew.
    setup.clock.advance(3600 + 31);
    assert_eq!(setup.call(Some(&token)).await, 401);

    // An API that allows EdDSA only refuses the ES256 token.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let eddsa_only =
        JwtValidator::new(setup.issuer.clone(), [API_AUDIENCE]).with_algorithms([Algorithm::EdDsa]);
    listen(listener, api(eddsa_only)).await;
    let status = setup
        .http
        .get(format!("{base}/api/reports"))
        .bearer_auth(&good_typ)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 401);
}

/// A JWT no key verifies: answered `500` while the issuer's keys cannot be loaded.
const UNVERIFIABLE: &str = "eyJhbGciOiJFUzI1NiJ9.e30.AAAA";

/// An issuer of our own whose `/jwks` answers `status`, `cache_control` and `body`,
/// and an API validating its tokens (refetch interval 5 s, on a clock that stands
/// still unless the test moves it).
struct FakeIssuer {
    issuer: String,
    api: String,
    clock: Arc<ManualClock>,
    /// The `/jwks` requests it received.
    hits: Arc<AtomicUsize>,
    http: reqwest::Client,
}

impl FakeIssuer {
    async fn start(status: u16, cache_control: &'static str, body: String) -> Self {
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let metadata = serde_json::json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
        let counter = hits.clone();
        let status = axum::http::StatusCode::from_u16(status).unwrap();
        let router = axum::Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || {
                    let metadata = metadata.clone();
                    async move { axum::Json(metadata) }
                }),
            )
            .route(
                "/jwks",
                get(move || {
                    let (counter, body) = (counter.clone(), body.clone());
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let headers = [
                            ("content-type", "application/json"),
                            ("cache-control", cache_control),
                        ];
                        (status, headers, body)
                    }
                }),
            );
        listen(listener, router).await;
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_base = format!("http://{}", api_listener.local_addr().unwrap());
        let validator = JwtValidator::new(issuer.clone(), [API_AUDIENCE])
            .with_refetch_interval(5)
            .with_clock(clock.clone());
        listen(api_listener, api(validator)).await;
        FakeIssuer {
            issuer,
            api: api_base,
            clock,
            hits,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, token: &str) -> u16 {
        self.http
            .get(format!("{}/api/reports", self.api))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Ten calls with `token` answer `status` and cost one fetch; one more after the
    /// refetch interval costs a second.
    async fn fetches_once_per_interval(&self, token: &str, status: u16) {
        for _ in 0..10 {
            assert_eq!(self.call(token).await, status);
        }
        assert_eq!(self.hits(), 1);
        self.clock.advance(6);
        assert_eq!(self.call(token).await, status);
        assert_eq!(self.hits(), 2);
    }
}

/// An issuer that fails: the API answers 500 (it cannot validate) and asks again only
/// after the refetch interval, however many requests come in meanwhile.
#[tokio::test]
async fn a_failing_issuer_is_asked_again_only_after_the_interval() {
    let fake = FakeIssuer::start(503, "no-store", "down".into()).await;
    fake.fetches_once_per_interval(UNVERIFIABLE, 500).await;
}

/// A `200` whose body is JSON but no JWK Set backs off like an unreachable issuer.
#[tokio::test]
async fn an_invalid_jwk_set_is_asked_again_only_after_the_interval() {
    let fake = FakeIssuer::start(200, "max-age=300", r#"{"keys": 5}"#.into()).await;
    fake.fetches_once_per_interval(UNVERIFIABLE, 500).await;
}

/// A JWK Set served `no-cache` is kept for the refetch interval, not fetched again
/// for every request; once the interval is over it is fetched again.
#[tokio::test]
async fn a_no_cache_jwk_set_is_fetched_once_per_interval() {
    let setup = setup().await;
    let jwks = setup.jwk_set().await;
    let fake = FakeIssuer::start(200, "no-cache", jwks).await;
    let token = setup.token_of_issuer(&fake.issuer);
    fake.fetches_once_per_interval(&token, 200).await;
}

/// An issuer that moves its JWK Set: once the old `jwks_uri` fails, the next attempt
/// (after the refetch interval) reads the metadata again and fetches the new one.
#[tokio::test]
async fn a_moved_jwk_set_is_found_again_through_the_metadata() {
    use axum::routing::get;
    use std::sync::atomic::AtomicBool;
    let setup = setup().await;
    let jwks = setup.jwk_set().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let moved = Arc::new(AtomicBool::new(false));
    let new_hits = Arc::new(AtomicUsize::new(0));
    let (metadata_moved, old_moved, counter) = (moved.clone(), moved.clone(), new_hits.clone());
    let metadata_issuer = issuer.clone();
    let (old_set, new_set) = (jwks.clone(), jwks);
    let router = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || {
                let path = if metadata_moved.load(Ordering::SeqCst) {
                    "new"
                } else {
                    "old"
                };
                let metadata = serde_json::json!({
                    "issuer": metadata_issuer,
                    "jwks_uri": format!("{metadata_issuer}/{path}"),
                });
                async move { axum::Json(metadata) }
            }),
        )
        .route(
            "/old",
            get(move || {
                let (gone, body) = (old_moved.load(Ordering::SeqCst), old_set.clone());
                async move {
                    if gone {
                        (axum::http::StatusCode::NOT_FOUND, String::new())
                    } else {
                        (axum::http::StatusCode::OK, body)
                    }
                }
            }),
        )
        .route(
            "/new",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = new_set.clone();
                async move { body }
            }),
        );
    listen(listener, router).await;
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_base = format!("http://{}", api_listener.local_addr().unwrap());
    let validator = JwtValidator::new(issuer.clone(), [API_AUDIENCE])
        .with_refetch_interval(5)
        .with_clock(clock.clone());
    listen(api_listener, api(validator)).await;
    let token = setup.token_of_issuer(&issuer);
    let call = || async {
        let url = format!("{api_base}/api/reports");
        let response = setup
            .http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    };
    assert_eq!(call().await, 200);
    // The issuer moves its keys. Once the cached set is stale (300 s), its old URL
    // fails: the cached keys stay in use, and the new URL is not known yet.
    moved.store(true, Ordering::SeqCst);
    clock.advance(301);
    assert_eq!(call().await, 200);
    assert_eq!(new_hits.load(Ordering::SeqCst), 0);
    // After the refetch interval, the metadata is read again: the new URL is fetched.
    clock.advance(6);
    assert_eq!(call().await, 200);
    assert_eq!(new_hits.load(Ordering::SeqCst), 1);
}
