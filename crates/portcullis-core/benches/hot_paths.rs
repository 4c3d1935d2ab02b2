//! Microbenchmarks of the engine's hot paths (`cargo bench -p portcullis-core`):
//! request parsing, client authentication, secret hashing, token generation, and a
//! whole client_credentials token request against the in-memory store (no HTTP, no
//! database), with opaque and with JWT access tokens; JWS signing and verification per
//! algorithm (`jose/…`).
#![allow(missing_docs, clippy::unwrap_used)]
// A bench is a composition root: it may use the OS CSPRNG directly.
#![allow(clippy::disallowed_types)]

use std::hint::black_box;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_core::client_auth::authenticate_client;
use portcullis_core::tokens::Issuance;
use portcullis_core::{
    hash_secret, token_key, verify_secret, AuthorizationServer, BearerTokenGenerator,
    ClientCredentialsGrant, ClientRecord, EndpointName, MemoryStore, OAuthRequest, OsRandom,
    Params, Scope, SystemClock,
};

const SECRET: &str = "4m0C3pQ2v7lH1tqvGcCjZ5f0dE6bWwzr8JkYxN2sR1U";

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store
        .insert_client(
            ClientRecord::new("bench")
                .with_secret_hash(hash_secret(SECRET))
                .with_name("Bench")
                .with_scope(Scope::parse("read write").unwrap())
                .with_grant_types(vec!["client_credentials"])
                .with_auth_method("client_secret_basic"),
        )
        .unwrap();
    store
}

fn token_request() -> OAuthRequest {
    http::Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("bench:{SECRET}"))),
        )
        .body(Bytes::from_static(
            b"grant_type=client_credentials&scope=read",
        ))
        .unwrap()
}

fn parsing(c: &mut Criterion) {
    let request = token_request();
    c.bench_function("parse/token_request_form", |b| {
        b.iter(|| Params::from_form(black_box(&request)).unwrap())
    });
}

fn secrets(c: &mut Criterion) {
    let hash = hash_secret(SECRET);
    c.bench_function("secret/hash_secret", |b| {
        b.iter(|| hash_secret(black_box(SECRET)))
    });
    c.bench_function("secret/verify_secret", |b| {
        b.iter(|| verify_secret(black_box(SECRET), black_box(&hash)))
    });
    let token = portcullis_core::random::ordered_token(&OsRandom::default(), 1_700_000_000_000);
    c.bench_function("secret/token_key", |b| {
        b.iter(|| token_key(black_box(&token)))
    });
}

fn tokens(c: &mut Criterion) {
    let generator = BearerTokenGenerator::default();
    let clock = SystemClock;
    let random = OsRandom::default();
    let client = ClientRecord::new("bench");
    let issuance = Issuance::new(
        "authorization_code",
        "bench",
        Scope::from_tokens(["read"]),
        "grant",
    )
    .with_subject(Some("alice"))
    .with_refresh_token(true);
    c.bench_function("tokens/issue_opaque_with_refresh", |b| {
        b.iter(|| {
            generator
                .issue(&random, &clock, None, &client, black_box(&issuance))
                .unwrap()
        })
    });
}

fn client_auth(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = store();
    let request = token_request();
    let params = Params::from_form(&request).unwrap();
    c.bench_function("client_auth/client_secret_basic", |b| {
        b.to_async(&runtime).iter(|| async {
            authenticate_client(&store, black_box(&request), &params, EndpointName::TOKEN)
                .await
                .unwrap()
        })
    });
}

fn end_to_end(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut server = AuthorizationServer::new(store());
    server.register_grant(ClientCredentialsGrant::new());
    let request = token_request();
    c.bench_function("server/client_credentials_memory_store", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = server.create_token_response(black_box(&request)).await;
            assert_eq!(response.status(), 200);
            response
        })
    });
}

/// One signing key, for the JWT access-token strategy.
#[derive(Debug)]
struct OneKey(
    std::sync::Arc<portcullis_core::jose::Signer>,
    std::sync::Arc<portcullis_core::jose::KeySet>,
);

impl portcullis_core::jose::SigningKeys for OneKey {
    fn signer(&self, _now: i64) -> Option<std::sync::Arc<portcullis_core::jose::Signer>> {
        Some(self.0.clone())
    }

    fn verification_keys(&self) -> Option<std::sync::Arc<portcullis_core::jose::KeySet>> {
        Some(self.1.clone())
    }
}

/// A whole client_credentials request issuing an RFC 9068 JWT, per algorithm.
fn end_to_end_jwt(c: &mut Criterion) {
    use portcullis_core::jose::{self, Algorithm, JwtAccessTokens, KeySet, Signer};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let provider = jose::aws_lc_rs::provider();
    for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let signer = std::sync::Arc::new(Signer::generate(&provider, alg).unwrap());
        let keys = std::sync::Arc::new(OneKey(signer, std::sync::Arc::new(KeySet::new())));
        let mut server = AuthorizationServer::new(store())
            .with_issuer("https://as.example")
            .with_bearer_tokens(
                BearerTokenGenerator::default().with_strategy(JwtAccessTokens::new(keys)),
            );
        server.register_grant(ClientCredentialsGrant::new());
        let request = token_request();
        c.bench_function(
            &format!("server/client_credentials_jwt_{alg}_memory_store"),
            |b| {
                b.to_async(&runtime).iter(|| async {
                    let response = server.create_token_response(black_box(&request)).await;
                    assert_eq!(response.status(), 200);
                    response
                })
            },
        );
    }
}

/// Signing and verifying a small access-token-sized JWT with each algorithm.
fn jose(c: &mut Criterion) {
    use portcullis_core::jose::{self, Algorithm, JwkSet, KeySet, Signer, Validation};
    let provider = jose::aws_lc_rs::provider();
    let claims = serde_json::json!({
        "iss": "https://as.example", "sub": "bench", "aud": "https://api.example",
        "client_id": "bench", "scope": "read write", "iat": 1_900_000_000,
        "exp": 1_900_003_600, "jti": "018bcfe56800.0123456789abcdef",
    });
    for alg in Algorithm::ALL {
        let signer = Signer::generate(&provider, alg).unwrap();
        let keys = KeySet::from_jwk_set(&provider, &JwkSet::new(vec![signer.public_jwk()]), &[alg]);
        let token = signer.sign(Some("at+jwt"), &claims).unwrap();
        let validation = Validation::new(1_900_000_000)
            .with_typ("at+jwt")
            .with_issuer("https://as.example")
            .with_audience(["https://api.example"]);
        c.bench_function(&format!("jose/sign_{alg}"), |b| {
            b.iter(|| signer.sign(Some("at+jwt"), black_box(&claims)).unwrap())
        });
        c.bench_function(&format!("jose/verify_{alg}"), |b| {
            b.iter(|| jose::verify(black_box(&token), &keys, &validation).unwrap())
        });
    }
}

criterion_group!(
    benches,
    parsing,
    secrets,
    tokens,
    client_auth,
    end_to_end,
    end_to_end_jwt,
    jose
);
criterion_main!(benches);
