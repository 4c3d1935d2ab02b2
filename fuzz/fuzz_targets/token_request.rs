//! The token endpoint as a client reaches it: the `Authorization` header (HTTP Basic,
//! form-urlencoded credentials) and the form body, through client authentication and
//! the grants. Any input is answered with a JSON error or a token, never a panic or
//! a 500.
#![no_main]

use std::sync::LazyLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use portcullis_core::{
    hash_secret, AuthorizationServer, ClientCredentialsGrant, ClientRecord, MemoryStore,
    RefreshTokenGrant, Scope,
};

static SERVER: LazyLock<AuthorizationServer<MemoryStore>> = LazyLock::new(|| {
    let store = MemoryStore::new();
    store
        .insert_client(
            ClientRecord::new("svc")
                .with_secret_hash(hash_secret("s3cret"))
                .with_name("Service")
                .with_scope(Scope::parse("read write").unwrap())
                .with_grant_types(vec!["client_credentials", "refresh_token"])
                .with_auth_method("client_secret_basic"),
        )
        .unwrap();
    let mut server = AuthorizationServer::new(store).with_issuer("https://as.example");
    server
        .register_grant(ClientCredentialsGrant::new())
        .register_grant(RefreshTokenGrant::new());
    server
});

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    // The first line is the Authorization header's value, the rest the body.
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let mut request =
        http::Request::post("/token").header("content-type", "application/x-www-form-urlencoded");
    if let Ok(value) = http::HeaderValue::from_bytes(header) {
        if !header.is_empty() {
            request = request.header("authorization", value);
        }
    }
    let request = request.body(Bytes::copy_from_slice(body)).unwrap();
    let response = RUNTIME.block_on(SERVER.create_token_response(&request));
    assert!(response.status().as_u16() < 500, "{response:?}");
});
