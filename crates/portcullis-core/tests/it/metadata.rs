//! Authorization server metadata (RFC 8414), built from what is registered.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::{header, StatusCode};
use portcullis_core::{
    AuthorizationCodeGrant, AuthorizationServer, ClientCredentialsGrant, ImplicitGrant,
    IntrospectionEndpoint, MemoryStore, MetadataEndpoint, PasswordGrant, Pkce, RefreshTokenGrant,
    RevocationEndpoint,
};
use serde_json::{json, Value};

use crate::support::*;

const WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";

fn server() -> AuthorizationServer<MemoryStore> {
    AuthorizationServer::new(MemoryStore::new()).with_issuer(ISSUER)
}

/// Every grant and endpoint the core ships, with `pkce`.
fn full(server: AuthorizationServer<MemoryStore>, pkce: Pkce) -> AuthorizationServer<MemoryStore> {
    let mut server = server;
    server
        .register_grant(AuthorizationCodeGrant::new().with_pkce(pkce))
        .register_grant(ClientCredentialsGrant::new())
        .register_grant(RefreshTokenGrant::new())
        .register_grant(PasswordGrant::new())
        .register_grant(ImplicitGrant::new())
        .register_endpoint(RevocationEndpoint::new())
        .register_endpoint(IntrospectionEndpoint::new())
        .register_endpoint(MetadataEndpoint::new());
    server
}

fn get_metadata() -> portcullis_core::OAuthRequest {
    http::Request::get(WELL_KNOWN).body(Bytes::new()).unwrap()
}

/// The document served at the well-known URI: `200`, JSON.
async fn document(server: &AuthorizationServer<MemoryStore>) -> Value {
    let response = server
        .create_endpoint_response("metadata", &get_metadata())
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        body_text(&response)
    );
    assert_eq!(
        header_str(&response, header::CONTENT_TYPE),
        Some("application/json")
    );
    let body = json(&response);
    // The endpoint serves exactly what the server builds.
    assert_eq!(body, Value::Object(server.metadata().unwrap()));
    body
}

fn set(values: &Value) -> BTreeSet<&str> {
    values
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {values}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn set_of<'a>(values: &[&'a str]) -> BTreeSet<&'a str> {
    values.iter().copied().collect()
}

#[tokio::test]
async fn endpoints_are_the_issuer_plus_default_paths() {
    let doc = document(&full(server(), Pkce::default())).await;
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(
        doc["authorization_endpoint"],
        "https://as.example/authorize"
    );
    assert_eq!(doc["token_endpoint"], "https://as.example/token");
    assert_eq!(doc["revocation_endpoint"], "https://as.example/revoke");
    assert_eq!(
        doc["introspection_endpoint"],
        "https://as.example/introspect"
    );
}

#[tokio::test]
async fn endpoint_paths_can_be_changed() {
    let server = server()
        .with_endpoint_path("authorization", "/oauth2/auth")
        .with_endpoint_path("token", "/oauth2/token")
        .with_endpoint_path("revocation", "/oauth2/revoke")
        .with_endpoint_path("introspection", "/oauth2/introspect");
    let doc = document(&full(server, Pkce::default())).await;
    assert_eq!(
        doc["authorization_endpoint"],
        "https://as.example/oauth2/auth"
    );
    assert_eq!(doc["token_endpoint"], "https://as.example/oauth2/token");
    assert_eq!(
        doc["revocation_endpoint"],
        "https://as.example/oauth2/revoke"
    );
    assert_eq!(
        doc["introspection_endpoint"],
        "https://as.example/oauth2/introspect"
    );
}

#[tokio::test]
async fn issuer_with_a_path_prefixes_the_endpoints() {
    let server = AuthorizationServer::new(MemoryStore::new()).with_issuer("https://as.example/t1");
    let doc = document(&full(server, Pkce::default())).await;
    assert_eq!(doc["issuer"], "https://as.example/t1");
    assert_eq!(doc["token_endpoint"], "https://as.example/t1/token");
    assert_eq!(
        doc["authorization_endpoint"],
        "https://as.example/t1/authorize"
    );
}

#[tokio::test]
async fn grant_types_are_the_registered_ones_plus_implicit_only_when_registered() {
    let doc = document(&full(server(), Pkce::default())).await;
    assert_eq!(
        set(&doc["grant_types_supported"]),
        set_of(&[
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "password",
            "implicit",
        ])
    );
    assert_eq!(doc["grant_types_supported"].as_array().unwrap().len(), 5);

    let mut server = server();
    server
        .register_grant(AuthorizationCodeGrant::new())
        .register_grant(RefreshTokenGrant::new())
        .register_endpoint(MetadataEndpoint::new());
    let doc = document(&server).await;
    assert_eq!(
        set(&doc["grant_types_supported"]),
        set_of(&["authorization_code", "refresh_token"])
    );
    assert_eq!(doc["grant_types_supported"].as_array().unwrap().len(), 2);
    assert_eq!(set(&doc["response_types_supported"]), set_of(&["code"]));
}

#[tokio::test]
async fn response_types_and_modes() {
    let doc = document(&full(server(), Pkce::default())).await;
    assert_eq!(
        set(&doc["response_types_supported"]),
        set_of(&["code", "token"])
    );
    assert_eq!(
        set(&doc["response_modes_supported"]),
        set_of(&["query", "fragment", "form_post"])
    );
}

#[tokio::test]
async fn client_authentication_methods() {
    let doc = document(&full(server(), Pkce::default())).await;
    let all = set_of(&["client_secret_basic", "client_secret_post", "none"]);
    assert_eq!(set(&doc["token_endpoint_auth_methods_supported"]), all);
    assert_eq!(set(&doc["revocation_endpoint_auth_methods_supported"]), all);
    assert_eq!(
        set(&doc["introspection_endpoint_auth_methods_supported"]),
        set_of(&["client_secret_basic", "client_secret_post"]),
        "public clients may not introspect"
    );
}

#[tokio::test]
async fn code_challenge_methods_follow_the_pkce_policy() {
    let doc = document(&full(server(), Pkce::default())).await;
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    let doc = document(&full(server(), Pkce::default().allow_plain())).await;
    assert_eq!(
        doc["code_challenge_methods_supported"],
        json!(["S256", "plain"])
    );
}

#[tokio::test]
async fn iss_parameter_is_announced() {
    let doc = document(&full(server(), Pkce::default())).await;
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn scopes_and_service_documentation_come_from_the_metadata_endpoint() {
    let doc = document(&full(server(), Pkce::default())).await;
    assert!(doc.get("scopes_supported").is_none(), "{doc}");
    assert!(doc.get("service_documentation").is_none(), "{doc}");

    let mut server = full(server(), Pkce::default());
    server.register_endpoint(
        MetadataEndpoint::new()
            .with_scopes_supported(strings(&["read", "write", "profile"]))
            .with_service_documentation("https://docs.as.example/oauth"),
    );
    let doc = document(&server).await;
    assert_eq!(doc["scopes_supported"], json!(["read", "write", "profile"]));
    assert_eq!(
        doc["service_documentation"],
        "https://docs.as.example/oauth"
    );
}

#[tokio::test]
async fn client_credentials_only_server_has_no_authorization_endpoint() {
    let mut server = server();
    server
        .register_grant(ClientCredentialsGrant::new())
        .register_endpoint(MetadataEndpoint::new());
    let doc = document(&server).await;
    assert!(doc.get("authorization_endpoint").is_none(), "{doc}");
    assert_eq!(doc["response_types_supported"], json!([]));
    assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(doc["token_endpoint"], "https://as.example/token");
    assert!(
        doc.get("code_challenge_methods_supported").is_none(),
        "{doc}"
    );
    assert!(doc.get("revocation_endpoint").is_none(), "{doc}");
    assert!(doc.get("introspection_endpoint").is_none(), "{doc}");
}

#[tokio::test]
async fn document_follows_endpoint_registrations() {
    let mut server = server();
    server
        .register_grant(AuthorizationCodeGrant::new())
        .register_grant(ClientCredentialsGrant::new())
        .register_endpoint(MetadataEndpoint::new());
    let doc = document(&server).await;
    for key in [
        "revocation_endpoint",
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint",
        "introspection_endpoint_auth_methods_supported",
    ] {
        assert!(doc.get(key).is_none(), "{key} without its endpoint: {doc}");
    }

    server.register_endpoint(RevocationEndpoint::new());
    let doc = document(&server).await;
    assert_eq!(doc["revocation_endpoint"], "https://as.example/revoke");
    assert!(doc.get("introspection_endpoint").is_none(), "{doc}");

    server.register_endpoint(IntrospectionEndpoint::new());
    let doc = document(&server).await;
    assert_eq!(
        doc["introspection_endpoint"],
        "https://as.example/introspect"
    );
}

#[tokio::test]
async fn no_issuer_is_server_error() {
    let mut server = AuthorizationServer::new(MemoryStore::new());
    server
        .register_grant(AuthorizationCodeGrant::new())
        .register_endpoint(MetadataEndpoint::new());
    let response = server
        .create_endpoint_response("metadata", &get_metadata())
        .await;
    assert_token_error(&response, StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    assert!(server.metadata().is_err());
}

#[tokio::test]
async fn post_is_405() {
    let server = full(server(), Pkce::default());
    let request = http::Request::post(WELL_KNOWN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Bytes::new())
        .unwrap();
    let response = server.create_endpoint_response("metadata", &request).await;
    assert_token_error(&response, StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert!(header_str(&response, header::ALLOW).is_some_and(|allow| allow.contains("GET")));
    // Both methods it answers are named, and HEAD is answered.
    assert_eq!(header_str(&response, header::ALLOW), Some("GET, HEAD"));
    let head = http::Request::head(WELL_KNOWN).body(Bytes::new()).unwrap();
    let response = server.create_endpoint_response("metadata", &head).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unregistered_endpoint_is_404() {
    let mut server = server();
    server.register_grant(ClientCredentialsGrant::new());
    let response = server
        .create_endpoint_response("metadata", &get_metadata())
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn test_server_document_matches_its_registrations() {
    // The shared test server registers every endpoint; its document lists them all.
    let ts = TestServer::new();
    let response = ts.endpoint("metadata", &get_metadata()).await;
    let doc = json(&response);
    assert_eq!(doc["revocation_endpoint"], "https://as.example/revoke");
    assert_eq!(
        doc["introspection_endpoint"],
        "https://as.example/introspect"
    );
    assert_eq!(
        set(&doc["grant_types_supported"]),
        set_of(&["authorization_code", "client_credentials", "refresh_token"])
    );
}
