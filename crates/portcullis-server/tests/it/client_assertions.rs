//! JWT client authentication (RFC 7523 §2.2, OpenID Connect Core §9) against
//! `portcullis serve` over real sockets: `private_key_jwt` with inline `jwks` and with
//! a `jwks_uri` served by a local HTTP server (key rotation through the unknown-`kid`
//! refetch, rate-limited), `client_secret_jwt` with the secret sealed by the
//! key-encryption key, replay refused (also across two instances on PostgreSQL), and
//! every check an assertion must pass, each with the error it gets.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use portcullis_core::jose::{self, Algorithm, HmacAlgorithm, JwkSet, Signer};
use portcullis_core::{ClientMetadata, ClientRecord, Clock, Scope, SystemClock};
use portcullis_server::clients::{validate, ClientRegistration};
use serde_json::{json, Value};

use crate::support::{seed, TestDb, TestServer};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn now() -> i64 {
    SystemClock.now()
}

fn new_jti() -> String {
    portcullis_core::random::random_string(&portcullis_core::OsRandom::default(), 16)
}

fn provider() -> portcullis_core::jose::CryptoProvider {
    jose::aws_lc_rs::provider()
}

/// Claims of a good assertion of `client_id` for `aud`, living 60 seconds.
fn claims(client_id: &str, aud: &str) -> Value {
    let now = now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 60,
        "jti": new_jti(),
    })
}

/// A `client_credentials` client authenticating with `method`, registered with
/// `metadata`.
fn jwt_client(id: &str, method: &str, metadata: ClientMetadata) -> ClientRecord {
    ClientRecord::new(id)
        .with_name("JWT client")
        .with_scope(Scope::empty())
        .with_grant_types(vec!["client_credentials"])
        .with_auth_method(method)
        .with_metadata(metadata)
}

fn inline_jwks(keys: &[&Signer]) -> ClientMetadata {
    let mut metadata = ClientMetadata::new();
    metadata.jwks = Some(
        serde_json::to_value(JwkSet::new(keys.iter().map(|k| k.public_jwk()).collect())).unwrap(),
    );
    metadata
}

/// POSTs `form` to `path`: the status and the JSON answer.
async fn post(server: &TestServer, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A client_credentials token request authenticated by `assertion`.
async fn token_with(server: &TestServer, assertion: &str) -> (u16, Value) {
    post(
        server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await
}

/// Asserts `answer` is `error` with a description containing `needle`.
fn assert_refused(answer: &(u16, Value), status: u16, error: &str, needle: &str) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(needle),
        "expected '{needle}' in the description: {body}"
    );
}

fn sign(key: &Signer, claims: &Value) -> String {
    key.sign(None, claims).unwrap()
}

/// The compact JWS of `header` and `claims` with an empty signature (`alg: none`).
fn unsigned(header: &Value, claims: &Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.",
        b64.encode(serde_json::to_vec(header).unwrap()),
        b64.encode(serde_json::to_vec(claims).unwrap())
    )
}

#[tokio::test]
async fn private_key_jwt_with_inline_jwks() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let key = Signer::generate(&provider(), Algorithm::Es256).unwrap();
    store
        .insert_client(&jwt_client("pkj", "private_key_jwt", inline_jwks(&[&key])))
        .await
        .unwrap();
    let server = TestServer::start_on(&db, store, |_| {}).await;
    let token_url = server.url("/token");

    // aud the token endpoint, with the client_id sent too: a token.
    let assertion = sign(&key, &claims("pkj", &token_url));
    let (status, body) = post(
        &server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "pkj"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    // The same assertion again: a replay.
    assert_refused(
        &token_with(&server, &assertion).await,
        401,
        "invalid_client",
        "used before",
    );
    // aud the issuer, or an array naming it: accepted.
    let mut by_issuer = claims("pkj", &server.base);
    assert_eq!(token_with(&server, &sign(&key, &by_issuer)).await.0, 200);
    by_issuer["aud"] = json!(["https://other.example", server.base]);
    by_issuer["jti"] = json!(new_jti());
    assert_eq!(token_with(&server, &sign(&key, &by_issuer)).await.0, 200);
    // At the revocation and introspection endpoints, their own URLs.
    let (status, body) = post(
        &server,
        "/revoke",
        &[
            ("token", "unknown"),
            ("client_assertion_type", ASSERTION_TYPE),
            (
                "client_assertion",
                &sign(&key, &claims("pkj", &server.url("/revoke"))),
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &server,
        "/introspect",
        &[
            ("token", "unknown"),
            ("client_assertion_type", ASSERTION_TYPE),
            (
                "client_assertion",
                &sign(&key, &claims("pkj", &server.url("/introspect"))),
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false);
    // The token endpoint's URL is not the introspection endpoint's.
    let (status, body) = post(
        &server,
        "/introspect",
        &[
            ("token", "unknown"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &sign(&key, &claims("pkj", &token_url))),
        ],
    )
    .await;
    assert_refused(&(status, body), 401, "invalid_client", "aud");
    drop(server);
    db.drop_db().await;
}

/// Every claim check, each refused with its own words.
#[tokio::test]
async fn private_key_jwt_refuses_bad_assertions() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let key = Signer::generate(&provider(), Algorithm::Es256).unwrap();
    let stranger = Signer::generate(&provider(), Algorithm::Es256).unwrap();
    store
        .insert_client(&jwt_client("pkj", "private_key_jwt", inline_jwks(&[&key])))
        .await
        .unwrap();
    store
        .insert_client(&crate::support::service_client(
            "basic",
            "basic-secret-0123456789",
        ))
        .await
        .unwrap();
    let server = TestServer::start_on(&db, store, |_| {}).await;
    let token_url = server.url("/token");
    let good = || claims("pkj", &token_url);
    let with = |member: &str, value: Value| {
        let mut claims = good();
        claims[member] = value;
        claims
    };
    let without = |member: &str| {
        let mut claims = good();
        claims.as_object_mut().unwrap().remove(member);
        claims
    };
    let now = now();

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong aud",
            sign(&key, &with("aud", json!("https://elsewhere.example/token"))),
            "aud",
        ),
        ("no aud", sign(&key, &without("aud")), "aud"),
        (
            "expired",
            sign(
                &key,
                &with("exp", json!(now - 120)).tap(|c| c["iat"] = json!(now - 150)),
            ),
            "expired",
        ),
        ("no exp", sign(&key, &without("exp")), "exp"),
        (
            "lifetime too long",
            sign(&key, &with("exp", json!(now + 3600))),
            "lives too long",
        ),
        (
            "lifetime too long without iat",
            sign(&key, &without("iat").tap(|c| c["exp"] = json!(now + 3600))),
            "lives too long",
        ),
        (
            "iat in the future",
            sign(
                &key,
                &with("iat", json!(now + 600)).tap(|c| c["exp"] = json!(now + 660)),
            ),
            "future",
        ),
        (
            "nbf ahead",
            sign(&key, &with("nbf", json!(now + 600))),
            "nbf",
        ),
        ("no jti", sign(&key, &without("jti")), "jti"),
        (
            "iss differs from sub",
            sign(&key, &with("sub", json!("someone-else"))),
            "iss and sub",
        ),
        (
            "another key",
            sign(&stranger, &good()),
            "no key of the client",
        ),
        (
            "alg none",
            unsigned(&json!({"alg": "none"}), &good()),
            "alg none",
        ),
        (
            "HS256 for a private_key_jwt client",
            HmacAlgorithm::Hs256
                .sign(b"guessed-secret-guessed-secret-guessed", None, &good())
                .unwrap(),
            "authentication method this client may not use",
        ),
        (
            "a tampered payload",
            {
                let token = sign(&key, &good());
                let parts: Vec<&str> = token.split('.').collect();
                let other = sign(&key, &with("sub", json!("pkj")));
                let other_parts: Vec<&str> = other.split('.').collect();
                format!("{}.{}.{}", parts[0], other_parts[1], parts[2])
            },
            "signature",
        ),
        ("not a JWT", "not-a-jwt".to_owned(), "well-formed"),
        (
            "an unknown client",
            sign(&key, &{
                let mut c = claims("nobody", &token_url);
                c["sub"] = json!("nobody");
                c
            }),
            "client authentication failed",
        ),
        (
            "a client of client_secret_basic",
            sign(&key, &claims("basic", &token_url)),
            "client authentication failed",
        ),
    ];
    for (case, assertion, needle) in cases {
        let answer = token_with(&server, &assertion).await;
        assert_eq!(answer.0, 401, "{case}: {}", answer.1);
        assert_refused(&answer, 401, "invalid_client", needle);
    }

    // Malformed requests.
    let assertion = sign(&key, &good());
    let (status, body) = post(
        &server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_refused(
        &(status, body),
        400,
        "invalid_request",
        "client_assertion_type",
    );
    let (status, body) = post(
        &server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:saml"),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_refused(
        &(status, body),
        400,
        "invalid_request",
        "unsupported client_assertion_type",
    );
    // A client_id that is not the assertion's.
    let (status, body) = post(
        &server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "basic"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_refused(&(status, body), 401, "invalid_client", "client_id");
    // An assertion and a secret: two methods.
    let (status, body) = post(
        &server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "pkj"),
            ("client_secret", "whatever"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_refused(
        &(status, body),
        400,
        "invalid_request",
        "one client authentication method",
    );
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("basic", Some("basic-secret-0123456789"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_refused(
        &(status, body),
        400,
        "invalid_request",
        "one client authentication method",
    );
    // None of these used the good assertion up: it still works.
    assert_eq!(token_with(&server, &assertion).await.0, 200);
    drop(server);
    db.drop_db().await;
}

/// A small extension to build a value from another in an expression.
trait Tap: Sized {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}

impl Tap for Value {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

/// A client that registered `token_endpoint_auth_signing_alg` may use that algorithm
/// only, even with a key of another algorithm in its set.
#[tokio::test]
async fn private_key_jwt_keeps_to_the_registered_signing_alg() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let es256 = Signer::generate(&provider(), Algorithm::Es256).unwrap();
    let eddsa = Signer::generate(&provider(), Algorithm::EdDsa).unwrap();
    let mut metadata = inline_jwks(&[&es256, &eddsa]);
    metadata.token_endpoint_auth_signing_alg = Some("ES256".into());
    store
        .insert_client(&jwt_client("pinned", "private_key_jwt", metadata))
        .await
        .unwrap();
    let server = TestServer::start_on(&db, store, |_| {}).await;
    let token_url = server.url("/token");
    assert_eq!(
        token_with(&server, &sign(&es256, &claims("pinned", &token_url)))
            .await
            .0,
        200
    );
    assert_refused(
        &token_with(&server, &sign(&eddsa, &claims("pinned", &token_url))).await,
        401,
        "invalid_client",
        "token_endpoint_auth_signing_alg ES256",
    );
    drop(server);
    db.drop_db().await;
}

/// A local `jwks_uri`: serves `body`, counts the fetches.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: &[&Signer]) -> JwksServer {
        let body = Arc::new(Mutex::new(String::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let (served, counted) = (body.clone(), hits.clone());
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let served = served.clone();
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().clone();
                    ([("content-type", "application/json")], body)
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let server = JwksServer { url, body, hits };
        server.serve(keys);
        server
    }

    fn serve(&self, keys: &[&Signer]) {
        let set = JwkSet::new(keys.iter().map(|k| k.public_jwk()).collect());
        *self.body.lock().unwrap() = serde_json::to_string(&set).unwrap();
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Keys at a `jwks_uri` (allowed to be loopback by `fetch_allowed_addresses`): fetched
/// once and cached; after the client rotates its key, the unknown `kid` makes the
/// server fetch again — not more often than every few seconds, however many unknown
/// `kid`s arrive.
#[tokio::test]
async fn private_key_jwt_with_jwks_uri_and_key_rotation() {
    let old_key = Signer::generate(&provider(), Algorithm::Es256).unwrap();
    let new_key = Signer::generate(&provider(), Algorithm::Rs256).unwrap();
    let jwks = JwksServer::start(&[&old_key]).await;
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let mut metadata = ClientMetadata::new();
    metadata.jwks_uri = Some(jwks.url.clone());
    store
        .insert_client(&jwt_client("remote", "private_key_jwt", metadata))
        .await
        .unwrap();
    let server = TestServer::start_on(&db, store, |config| {
        config.http.fetch_allowed_addresses = vec!["127.0.0.1".into()];
    })
    .await;
    let token_url = server.url("/token");
    for _ in 0..2 {
        let answer = token_with(&server, &sign(&old_key, &claims("remote", &token_url))).await;
        assert_eq!(answer.0, 200, "{}", answer.1);
    }
    assert_eq!(jwks.hits(), 1, "the key set is cached");

    // The client rotates its key. Right after the last fetch, an unknown kid does not
    // make the server fetch again (anyone could send unknown kids all day)...
    jwks.serve(&[&new_key]);
    for _ in 0..3 {
        assert_refused(
            &token_with(&server, &sign(&new_key, &claims("remote", &token_url))).await,
            401,
            "invalid_client",
            "no key of the client",
        );
    }
    assert_eq!(jwks.hits(), 1, "no refetch within the minimum interval");
    // ...a few seconds later it does, once, and the new key works.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let answer = token_with(&server, &sign(&new_key, &claims("remote", &token_url))).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(jwks.hits(), 2);
    assert_refused(
        &token_with(&server, &sign(&old_key, &claims("remote", &token_url))).await,
        401,
        "invalid_client",
        "no key of the client",
    );
    assert_eq!(
        jwks.hits(),
        2,
        "the old key's kid is unknown, but it was just fetched"
    );

    // A jwks_uri that does not serve a key set: refused, and nothing is cached.
    *jwks.body.lock().unwrap() = "not json".into();
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_refused(
        &token_with(&server, &sign(&old_key, &claims("remote", &token_url))).await,
        401,
        "invalid_client",
        "JWK Set",
    );
    drop(server);
    db.drop_db().await;
}

/// A `jwks_uri` on a loopback address the operator did not allow is never fetched.
#[tokio::test]
async fn private_key_jwt_jwks_uri_is_fetched_through_the_guard() {
    let key = Signer::generate(&provider(), Algorithm::Es256).unwrap();
    let jwks = JwksServer::start(&[&key]).await;
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let mut metadata = ClientMetadata::new();
    metadata.jwks_uri = Some(jwks.url.clone());
    store
        .insert_client(&jwt_client("remote", "private_key_jwt", metadata))
        .await
        .unwrap();
    let server = TestServer::start_on(&db, store, |_| {}).await;
    assert_refused(
        &token_with(
            &server,
            &sign(&key, &claims("remote", &server.url("/token"))),
        )
        .await,
        401,
        "invalid_client",
        "jwks_uri cannot be fetched",
    );
    assert_eq!(jwks.hits(), 0);
    drop(server);
    db.drop_db().await;
}

/// A replayed assertion is refused by a second instance on the same PostgreSQL
/// database: the record of used assertions is shared.
#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "PORTCULLIS_TEST_POSTGRES_URL is not set")]
async fn replay_is_refused_by_a_second_instance_on_postgres() {
    let db = TestDb::postgres().await;
    let store = seed(&db).await;
    let key = Signer::generate(&provider(), Algorithm::Es256).unwrap();
    store
        .insert_client(&jwt_client("pkj", "private_key_jwt", inline_jwks(&[&key])))
        .await
        .unwrap();
    let first = TestServer::start_on(&db, store, |_| {}).await;
    let second_store = portcullis_sql::SqlStore::connect(&db.url()).await.unwrap();
    let issuer = first.base.clone();
    let second = TestServer::start_on(&db, second_store, |config| {
        // One service behind a load balancer: one issuer.
        config.http.issuer = Some(issuer);
    })
    .await;
    let assertion = sign(&key, &claims("pkj", &first.base));
    let answer = token_with(&first, &assertion).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_refused(
        &token_with(&second, &assertion).await,
        401,
        "invalid_client",
        "used before",
    );
    // Racing: of many attempts with one new assertion on both instances, one wins.
    let racing = sign(&key, &claims("pkj", &first.base));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let url = if i % 2 == 0 {
                first.url("/token")
            } else {
                second.url("/token")
            };
            let racing = racing.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_assertion_type", ASSERTION_TYPE),
                        ("client_assertion", racing.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        1,
        "{statuses:?}"
    );
    drop((first, second));
    db.drop_db().await;
}

// ---- client_secret_jwt and the CLI ----

/// `portcullis --database-url DB ARGS` with `env` (and no other PORTCULLIS_ variable).
fn portcullis(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Output {
    let url = db.url();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .arg("--database-url")
        .arg(&url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().unwrap();
    drop(child.stdin.take().map(|mut stdin| stdin.write_all(b"")));
    child.wait_with_output().unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn kek() -> String {
    base64::engine::general_purpose::STANDARD.encode([7u8; 32])
}

/// `client_secret_jwt`: registered by the CLI with a key-encryption key, which keeps
/// the secret sealed; an assertion MACed with the right secret gets a token, with a
/// wrong one or another HMAC algorithm than registered it does not.
#[tokio::test]
async fn client_secret_jwt_right_and_wrong_secret() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let kek = kek();
    let env = [("PORTCULLIS_KEY_ENCRYPTION_KEY", kek.as_str())];
    let created = json_of(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "HMAC client",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "client_secret_jwt",
            "--token-endpoint-auth-signing-alg",
            "HS256",
        ],
        &env,
    ));
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_jwt");
    assert_eq!(created["token_endpoint_auth_signing_alg"], "HS256");
    // Kept sealed, never shown.
    let shown = portcullis(&db, &["client", "show", &client_id], &env);
    let shown_text = String::from_utf8_lossy(&shown.stdout);
    assert!(!shown_text.contains("client_secret_sealed"), "{shown_text}");
    assert!(!shown_text.contains(&secret));

    let kek_setting = kek.clone();
    let server = TestServer::start_on(&db, store, move |config| {
        config.keys.key_encryption_key = Some(kek_setting);
    })
    .await;
    let token_url = server.url("/token");
    let mac = |alg: HmacAlgorithm, key: &[u8]| {
        alg.sign(key, None, &claims(&client_id, &token_url))
            .unwrap()
    };
    let answer = token_with(&server, &mac(HmacAlgorithm::Hs256, secret.as_bytes())).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_refused(
        &token_with(
            &server,
            &mac(HmacAlgorithm::Hs256, b"the-wrong-secret-the-wrong-secret"),
        )
        .await,
        401,
        "invalid_client",
        "signature",
    );
    assert_refused(
        &token_with(&server, &mac(HmacAlgorithm::Hs512, secret.as_bytes())).await,
        401,
        "invalid_client",
        "token_endpoint_auth_signing_alg HS256",
    );
    // Basic with the same secret is not this client's method.
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // A rotated secret is sealed again: the old one stops working, the new one works.
    let rotated = json_of(&portcullis(
        &db,
        &["client", "rotate-secret", &client_id],
        &env,
    ));
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    // The server sees the CLI's change once its client cache entry expires
    // (client_cache_ttl, 5 seconds by default).
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let answer = token_with(&server, &mac(HmacAlgorithm::Hs256, new_secret.as_bytes())).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_refused(
        &token_with(&server, &mac(HmacAlgorithm::Hs256, secret.as_bytes())).await,
        401,
        "invalid_client",
        "signature",
    );
    drop(server);
    db.drop_db().await;
}

/// Without a key-encryption key, a client_secret_jwt client cannot be registered (its
/// secret could only be kept in the clear): the error says how to fix it.
#[tokio::test]
async fn client_secret_jwt_without_a_kek_is_refused() {
    let db = TestDb::sqlite();
    drop(seed(&db).await);
    let output = portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "HMAC client",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "client_secret_jwt",
        ],
        &[],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PORTCULLIS_KEY_ENCRYPTION_KEY"), "{stderr}");
    // Nor can an existing client become one.
    let created = json_of(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Basic client",
            "--grant-type",
            "client_credentials",
        ],
        &[],
    ));
    let id = created["client_id"].as_str().unwrap();
    let output = portcullis(
        &db,
        &["client", "update", id, "--auth-method", "client_secret_jwt"],
        &[],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PORTCULLIS_KEY_ENCRYPTION_KEY"), "{stderr}");
    db.drop_db().await;
}

/// `client create --auth-method private_key_jwt --jwks JSON` registers a client whose
/// assertions work; the CLI refuses what cannot work.
#[tokio::test]
async fn client_create_private_key_jwt_with_the_cli() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let key = Signer::generate(&provider(), Algorithm::EdDsa).unwrap();
    let jwks = serde_json::to_string(&JwkSet::new(vec![key.public_jwk()])).unwrap();
    let created = json_of(&portcullis(
        &db,
        &[
            "client",
            "create",
            "--name",
            "Key client",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            &jwks,
        ],
        &[],
    ));
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    assert!(created["client_secret"].is_null(), "no secret: {created}");
    let server = TestServer::start_on(&db, store, |_| {}).await;
    let answer = token_with(
        &server,
        &sign(&key, &claims(&client_id, &server.url("/token"))),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    // rotate-secret has nothing to rotate.
    let output = portcullis(&db, &["client", "rotate-secret", &client_id], &[]);
    assert!(!output.status.success());
    // A jwks_uri to a private address is refused at registration.
    let output = portcullis(
        &db,
        &[
            "client",
            "update",
            &client_id,
            "--jwks",
            "",
            "--jwks-uri",
            "https://10.0.0.1/jwks.json",
        ],
        &[],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("jwks_uri"), "{stderr}");
    drop(server);
    db.drop_db().await;
}

/// The registration rules for the new members, each with its error.
#[test]
fn registration_of_jwt_clients_is_validated() {
    let key = Signer::generate(&provider(), Algorithm::Es256).unwrap();
    let public = serde_json::to_string(&JwkSet::new(vec![key.public_jwk()])).unwrap();
    let base = |method: &str| ClientRegistration {
        name: "App".into(),
        grant_types: vec!["client_credentials".into()],
        auth_method: method.into(),
        ..ClientRegistration::default()
    };
    let refused = |registration: ClientRegistration, needle: &str| {
        let error = validate(&registration).unwrap_err().to_string();
        assert!(error.contains(needle), "expected '{needle}' in: {error}");
    };
    let ok = validate(&ClientRegistration {
        jwks: Some(public.clone()),
        token_endpoint_auth_signing_alg: Some("ES256".into()),
        ..base("private_key_jwt")
    })
    .unwrap();
    assert_eq!(ok.metadata.jwks.as_ref().unwrap()["keys"][0]["kty"], "EC");
    assert_eq!(
        portcullis_server::clients::registration_of(&ok).token_endpoint_auth_signing_alg,
        Some("ES256".into())
    );
    refused(base("private_key_jwt"), "--jwks-uri URL or --jwks JSON");
    refused(
        ClientRegistration {
            jwks: Some(public.clone()),
            jwks_uri: Some("https://client.example/jwks".into()),
            ..base("private_key_jwt")
        },
        "not both",
    );
    refused(
        ClientRegistration {
            jwks: Some("[1, 2]".into()),
            ..base("private_key_jwt")
        },
        "keys array",
    );
    refused(
        ClientRegistration {
            jwks: Some("{not json".into()),
            ..base("private_key_jwt")
        },
        "not JSON",
    );
    let mut private: Value = serde_json::from_str(&public).unwrap();
    private["keys"][0]["d"] = json!("c2VjcmV0");
    refused(
        ClientRegistration {
            jwks: Some(private.to_string()),
            ..base("private_key_jwt")
        },
        "private member 'd'",
    );
    refused(
        ClientRegistration {
            jwks: Some(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.into()),
            ..base("private_key_jwt")
        },
        "private member 'k'",
    );
    refused(
        ClientRegistration {
            jwks: Some(r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}"#.into()),
            ..base("private_key_jwt")
        },
        "cannot be used",
    );
    refused(
        ClientRegistration {
            jwks_uri: Some("http://client.example/jwks".into()),
            ..base("private_key_jwt")
        },
        "jwks_uri",
    );
    refused(
        ClientRegistration {
            jwks: Some(public),
            token_endpoint_auth_signing_alg: Some("HS256".into()),
            ..base("private_key_jwt")
        },
        "does not fit private_key_jwt",
    );
    refused(
        ClientRegistration {
            token_endpoint_auth_signing_alg: Some("RS256".into()),
            ..base("client_secret_jwt")
        },
        "does not fit client_secret_jwt",
    );
    refused(
        ClientRegistration {
            token_endpoint_auth_signing_alg: Some("none".into()),
            ..base("client_secret_jwt")
        },
        "does not fit client_secret_jwt",
    );
    refused(
        ClientRegistration {
            token_endpoint_auth_signing_alg: Some("ES256".into()),
            ..base("client_secret_basic")
        },
        "for the auth methods private_key_jwt and client_secret_jwt",
    );
    validate(&base("client_secret_jwt")).unwrap();
}

/// The metadata lists both methods and their algorithms, at every endpoint.
#[tokio::test]
async fn metadata_lists_the_jwt_methods_and_algorithms() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |_| {}).await;
    let metadata: Value = reqwest::get(server.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for endpoint in ["token", "revocation", "introspection"] {
        let methods = &metadata[format!("{endpoint}_endpoint_auth_methods_supported")];
        for method in ["private_key_jwt", "client_secret_jwt"] {
            assert!(
                methods.as_array().unwrap().contains(&json!(method)),
                "{endpoint}: {methods}"
            );
        }
        let algs = &metadata[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")];
        for alg in [
            "RS256", "PS256", "ES256", "EdDSA", "HS256", "HS384", "HS512",
        ] {
            assert!(
                algs.as_array().unwrap().contains(&json!(alg)),
                "{endpoint}: {algs}"
            );
        }
        assert!(!algs.as_array().unwrap().contains(&json!("none")));
    }
    drop(server);
    db.drop_db().await;
}

/// Dynamic registration (RFC 7591) of a private_key_jwt client with inline `jwks`: the
/// keys are checked as the CLI's are (a private member refused), the client
/// authenticates with its assertion; client_secret_jwt is not offered there.
#[tokio::test]
async fn dynamic_registration_of_a_private_key_jwt_client() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        config.dynamic_registration.mode = "open".into();
    })
    .await;
    let key = Signer::generate(&provider(), Algorithm::Es256).unwrap();
    let jwks = serde_json::to_value(JwkSet::new(vec![key.public_jwk()])).unwrap();
    let register = |body: Value| {
        let url = server.url("/register");
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = register(json!({
        "client_name": "Key client",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks": jwks,
    }))
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["client_secret"].is_null(), "{body}");
    let client_id = body["client_id"].as_str().unwrap().to_owned();
    let answer = token_with(
        &server,
        &sign(&key, &claims(&client_id, &server.url("/token"))),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    let mut private = jwks.clone();
    private["keys"][0]["d"] = json!("c2VjcmV0");
    let (status, body) = register(json!({
        "client_name": "Key client",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": private,
    }))
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("private member"),
        "{body}"
    );
    let (status, body) = register(json!({
        "client_name": "HMAC client",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_jwt",
    }))
    .await;
    assert_eq!(status, 400, "{body}");
    drop(server);
    db.drop_db().await;
}

/// `client_assertion_max_lifetime` bounds how long an assertion may live: an
/// hour-long one (what Authlib signs by default) is refused under the default 300
/// seconds and accepted when the setting allows an hour; `0` is refused at start.
#[tokio::test]
async fn the_assertion_lifetime_bound_is_a_setting() {
    let db = TestDb::sqlite();
    let store = seed(&db).await;
    let key = Signer::generate(&provider(), Algorithm::Es256).unwrap();
    store
        .insert_client(&jwt_client("hour", "private_key_jwt", inline_jwks(&[&key])))
        .await
        .unwrap();
    let hour_long = |aud: &str| {
        let mut claims = claims("hour", aud);
        claims["exp"] = json!(now() + 3600);
        claims
    };
    let strict = TestServer::start_on(&db, store.clone(), |_| {}).await;
    assert_refused(
        &token_with(&strict, &sign(&key, &hour_long(&strict.url("/token")))).await,
        401,
        "invalid_client",
        "at most 300 seconds",
    );
    let lenient = TestServer::start_on(&db, store, |config| {
        config.tokens.client_assertion_max_lifetime = 3600;
    })
    .await;
    let (status, body) =
        token_with(&lenient, &sign(&key, &hour_long(&lenient.url("/token")))).await;
    assert_eq!(status, 200, "{body}");
    let mut zero = portcullis_server::Config::default();
    zero.tokens.client_assertion_max_lifetime = 0;
    let error = zero.validate().unwrap_err().to_string();
    assert!(error.contains("client_assertion_max_lifetime"), "{error}");
    db.drop_db().await;
}

/// A client registering itself with `client_secret_jwt` gets a secret the server
/// keeps sealed with the key-encryption key: its assertions work, also after it
/// replaces its registration (RFC 7592); without a key-encryption key the method is
/// refused with the reason.
#[tokio::test]
async fn dynamic_registration_of_a_client_secret_jwt_client_seals_its_secret() {
    let db = TestDb::sqlite();
    let kek = kek();
    let server = TestServer::start(&db, move |config| {
        config.dynamic_registration.mode = "open".into();
        config.keys.key_encryption_key = Some(kek);
    })
    .await;
    let http = reqwest::Client::new();
    let document = json!({
        "client_name": "HMAC client",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_jwt",
        "token_endpoint_auth_signing_alg": "HS256",
    });
    let response = http
        .post(server.url("/register"))
        .json(&document)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let registered: Value = response.json().await.unwrap();
    assert!(
        registered.get("client_secret_sealed").is_none(),
        "{registered}"
    );
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let secret = registered["client_secret"].as_str().unwrap().to_owned();
    let token_url = server.url("/token");
    let mac = |key: &str| {
        HmacAlgorithm::Hs256
            .sign(key.as_bytes(), None, &claims(&client_id, &token_url))
            .unwrap()
    };
    let answer = token_with(&server, &mac(&secret)).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_refused(
        &token_with(&server, &mac("not-the-secret")).await,
        401,
        "invalid_client",
        "",
    );
    // Replacing the registration keeps the sealed secret.
    let mut replacement = document.clone();
    replacement["client_id"] = json!(client_id);
    replacement["client_name"] = json!("HMAC client, renamed");
    let updated = http
        .put(registered["registration_client_uri"].as_str().unwrap())
        .bearer_auth(registered["registration_access_token"].as_str().unwrap())
        .json(&replacement)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert!(updated.get("client_secret").is_none(), "{updated}");
    let answer = token_with(&server, &mac(&secret)).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    drop(server);
    db.drop_db().await;

    let db = TestDb::sqlite();
    let server = TestServer::start(&db, |config| {
        config.dynamic_registration.mode = "open".into();
    })
    .await;
    let refused = http
        .post(server.url("/register"))
        .json(&document)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("key-encryption key"));
    assert_eq!(crate::support::count_rows(&db, "clients").await, 1);
    db.drop_db().await;
}
