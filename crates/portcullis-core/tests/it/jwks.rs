//! The JWK Set endpoint: serves its source's set with an entity tag and a cache
//! lifetime, answers revalidation with 304, and publishes `jwks_uri`.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{header, StatusCode};
use portcullis_core::jose::{aws_lc_rs, Algorithm, JwkSet, Signer};
use portcullis_core::{
    AuthorizationServer, JwkSetSource, JwksEndpoint, MemoryStore, MetadataEndpoint, OAuthError,
    PublishedJwks,
};
use serde_json::Value;

use crate::support::*;

#[derive(Debug)]
struct OneKey(PublishedJwks);

#[async_trait]
impl JwkSetSource for OneKey {
    async fn published(&self) -> Result<PublishedJwks, OAuthError> {
        Ok(self.0.clone())
    }
}

fn server() -> (AuthorizationServer<MemoryStore>, Signer) {
    let signer = Signer::generate(&aws_lc_rs::provider(), Algorithm::Es256).unwrap();
    let body = serde_json::to_vec(&JwkSet::new(vec![signer.public_jwk()])).unwrap();
    let published = PublishedJwks::new(Bytes::from(body), "\"v1\"", 660);
    let mut server = AuthorizationServer::new(MemoryStore::new()).with_issuer(ISSUER);
    server
        .register_endpoint(JwksEndpoint::new(Arc::new(OneKey(published))))
        .register_endpoint(MetadataEndpoint::new());
    (server, signer)
}

fn get(headers: &[(&str, &str)]) -> portcullis_core::OAuthRequest {
    let mut request = http::Request::get("/jwks");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Bytes::new()).unwrap()
}

#[tokio::test]
async fn serves_the_set_with_its_etag_and_cache_lifetime() {
    let (server, signer) = server();
    let response = server.create_endpoint_response("jwks", &get(&[])).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers[header::CONTENT_TYPE], "application/jwk-set+json");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=660");
    assert_eq!(headers[header::ETAG], "\"v1\"");
    let set: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(set["keys"][0]["kid"], signer.kid());
    assert_eq!(set["keys"][0]["use"], "sig");
    assert!(set["keys"][0].get("d").is_none());
}

#[tokio::test]
async fn revalidation_with_the_current_etag_is_not_modified() {
    let (server, _) = server();
    for tag in ["\"v1\"", "W/\"v1\"", "\"v0\", \"v1\"", "*"] {
        let response = server
            .create_endpoint_response("jwks", &get(&[("if-none-match", tag)]))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{tag}");
        assert!(response.body().is_empty());
        assert_eq!(response.headers()[header::ETAG], "\"v1\"");
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=660"
        );
    }
    let stale = server
        .create_endpoint_response("jwks", &get(&[("if-none-match", "\"v0\"")]))
        .await;
    assert_eq!(stale.status(), StatusCode::OK);
}

#[tokio::test]
async fn only_get_and_head() {
    let (server, _) = server();
    let post = http::Request::post("/jwks").body(Bytes::new()).unwrap();
    let response = server.create_endpoint_response("jwks", &post).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[http::header::ALLOW], "GET, HEAD");
    let head = http::Request::head("/jwks").body(Bytes::new()).unwrap();
    let response = server.create_endpoint_response("jwks", &head).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_metadata_names_the_jwks_uri() {
    let (server, _) = server();
    let request = http::Request::get("/.well-known/oauth-authorization-server")
        .body(Bytes::new())
        .unwrap();
    let response = server.create_endpoint_response("metadata", &request).await;
    let metadata: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(metadata["jwks_uri"], format!("{ISSUER}/jwks"));
    // Without the endpoint, no jwks_uri.
    let mut bare = AuthorizationServer::new(MemoryStore::new()).with_issuer(ISSUER);
    bare.register_endpoint(MetadataEndpoint::new());
    let response = bare.create_endpoint_response("metadata", &request).await;
    let metadata: Value = serde_json::from_slice(response.body()).unwrap();
    assert!(metadata.get("jwks_uri").is_none(), "{metadata}");
}
