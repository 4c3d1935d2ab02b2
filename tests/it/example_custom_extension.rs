//! `examples/custom_extension.rs` through the server's `http::Request` API: the
//! extension's member is in every token response, its value is in the saved token's
//! extras (in memory and in SQLite, which needed no migration for it), and its refusal
//! is an RFC 6749 §5.2 error that leaves no token behind.

use portcullis_core::{
    hash_secret, token_key, AuthorizationServer, ClientCredentialsGrant, ClientRecord, Scope,
    Token, TokenStore,
};
use portcullis_sql::SqlStore;

use crate::custom_extension::{
    authorization_server, request_token, Tenant, TenantExtension, SECRET,
};

#[tokio::test]
async fn the_extension_adds_a_member_and_records_the_tenant_in_the_token() {
    let server = authorization_server().unwrap();
    for _ in 0..2 {
        let response = request_token(&server, "acme-reports").await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["x-tenant"], "acme");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "reports:read");
    }
    let tokens = server.store().tokens().unwrap();
    assert_eq!(tokens.len(), 2);
    for token in &tokens {
        assert_eq!(token.client_id, "acme-reports");
        assert_eq!(token.extras().get::<Tenant>(), Some("acme".to_owned()));
        assert_eq!(token.extras.to_json(), r#"{"tenant":"acme"}"#);
    }
}

#[tokio::test]
async fn the_extension_refuses_other_clients_with_an_rfc_error_and_issues_nothing() {
    let server = authorization_server().unwrap();
    let response = request_token(&server, "globex-reports").await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "error": "unauthorized_client",
            "error_description": "this client does not belong to the tenant 'acme'",
        })
    );
    assert!(server.store().tokens().unwrap().is_empty());
}

#[tokio::test]
async fn the_tenant_recorded_by_the_extension_survives_sql_storage_without_a_migration() {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    store
        .insert_client(
            &ClientRecord::new("acme-reports")
                .with_secret_hash(hash_secret(SECRET))
                .with_scope(Scope::from_tokens(["reports:read"]))
                .with_grant_types(["client_credentials"])
                .with_auth_method("client_secret_post"),
        )
        .await
        .unwrap();
    let mut server = AuthorizationServer::new(store.clone());
    server
        .register_grant(ClientCredentialsGrant::new())
        .register_extension(TenantExtension::new("acme", &["acme-reports"]));
    let body =
        format!("grant_type=client_credentials&client_id=acme-reports&client_secret={SECRET}");
    let request = axum::http::Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Bytes::from(body))
        .unwrap();
    let response = server.create_token_response(&request).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["x-tenant"], "acme");
    let stored = store
        .find_access_token(&token_key(body["access_token"].as_str().unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.extras().get::<Tenant>(), Some("acme".to_owned()));
}
