//! Seams that no example shows, driven through the server's `http::Request` API: an
//! endpoint of one's own (`Endpoint`) and a client authentication method of one's own
//! (`ClientAuthenticator`), each answered and listed in the metadata as registered; and
//! a parameter that may repeat only once declared repeatable.

use async_trait::async_trait;
use axum::body::Bytes;
use axum::http::{Request, StatusCode};
use portcullis_core::context::MetadataContext;
use portcullis_core::http::json_response;
use portcullis_core::{
    hash_secret, AuthorizationServer, Client, ClientAuthenticator, ClientCredentialsGrant,
    ClientRecord, ClientStore, Endpoint, EndpointContext, MemoryStore, OAuthError, OAuthRequest,
    OAuthResponse, Params, Scope,
};
use serde_json::{Map, Value};

const SECRET: &str = "seams-secret-0123456789";

/// `whoami`: authenticates the client and names it.
struct WhoAmI;

#[async_trait]
impl<S: ClientStore> Endpoint<S> for WhoAmI {
    fn name(&self) -> &str {
        "whoami"
    }

    fn metadata(&self, context: &MetadataContext<'_>, document: &mut Map<String, Value>) {
        if let Some(url) = context.endpoint_url("whoami") {
            document.insert("x_whoami_endpoint".into(), url.into());
        }
    }

    async fn create_endpoint_response(&self, context: &EndpointContext<'_, S>) -> OAuthResponse {
        let answer = async {
            let params = Params::from_form(context.request())?;
            let client = context.authenticate_client(&params, "whoami").await?;
            Ok::<_, OAuthError>(serde_json::json!({ "client_id": client.client_id() }))
        };
        match answer.await {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(error) => error.into_response(),
        }
    }
}

/// `x_api_key`: `client_id:secret` in an `X-Api-Key` header. (Not the client_id in the
/// body: the built-in `none` claims every request with a client_id and no secret.)
struct ApiKey;

#[async_trait]
impl<S: ClientStore> ClientAuthenticator<S> for ApiKey {
    fn method(&self) -> &'static str {
        "x_api_key"
    }

    fn presented(&self, request: &OAuthRequest, _params: &Params) -> bool {
        request.headers().contains_key("x-api-key")
    }

    async fn authenticate(
        &self,
        store: &S,
        request: &OAuthRequest,
        _params: &Params,
        endpoint: &str,
    ) -> Result<S::Client, OAuthError> {
        let failed = || OAuthError::invalid_client("client authentication failed");
        let header = request.headers()["x-api-key"]
            .to_str()
            .map_err(|_| failed())?;
        let (client_id, key) = header.split_once(':').ok_or_else(failed)?;
        let client = store.find_client(client_id).await?.ok_or_else(failed)?;
        if client.check_endpoint_auth_method("x_api_key", endpoint)
            && client.check_client_secret(key)
        {
            Ok(client)
        } else {
            Err(failed())
        }
    }
}

fn server() -> AuthorizationServer<MemoryStore> {
    let store = MemoryStore::new();
    store
        .insert_client(
            ClientRecord::new("keyed")
                .with_secret_hash(hash_secret(SECRET))
                .with_scope(Scope::from_tokens(["read"]))
                .with_grant_types(["client_credentials"])
                .with_auth_method("x_api_key"),
        )
        .unwrap();
    let mut server = AuthorizationServer::new(store)
        .with_issuer("https://as.example")
        .with_endpoint_path("whoami", "/whoami");
    server
        .register_grant(ClientCredentialsGrant::new())
        .register_endpoint(WhoAmI)
        .register_client_authenticator(ApiKey);
    server
}

fn post(body: &str, api_key: Option<&str>) -> OAuthRequest {
    let mut request =
        Request::post("/").header("content-type", "application/x-www-form-urlencoded");
    if let Some(key) = api_key {
        request = request.header("x-api-key", key);
    }
    request.body(Bytes::from(body.to_owned())).unwrap()
}

fn json(response: &OAuthResponse) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

#[tokio::test]
async fn a_custom_endpoint_is_answered_by_name_and_writes_its_metadata() {
    let server = server();
    let response = server
        .create_endpoint_response("whoami", &post("", Some(&format!("keyed:{SECRET}"))))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(&response), serde_json::json!({"client_id": "keyed"}));

    let refused = server
        .create_endpoint_response("whoami", &post("", Some("keyed:wrong")))
        .await;
    assert_eq!(refused.status(), 401);
    assert_eq!(json(&refused)["error"], "invalid_client");

    assert!(server.endpoint_names().contains(&"whoami"));
    let metadata = server.metadata().unwrap();
    assert_eq!(metadata["x_whoami_endpoint"], "https://as.example/whoami");
}

#[tokio::test]
async fn a_custom_client_authenticator_is_used_and_listed_exactly_as_registered() {
    let mut server = server();
    let body = "grant_type=client_credentials&scope=read";
    let key = format!("keyed:{SECRET}");
    let response = server.create_token_response(&post(body, Some(&key))).await;
    assert_eq!(response.status(), 200, "{}", json(&response));
    assert_eq!(json(&response)["scope"], "read");

    let wrong = server
        .create_token_response(&post(body, Some("keyed:wrong")))
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(json(&wrong)["error"], "invalid_client");

    let methods = |server: &AuthorizationServer<MemoryStore>| {
        server.metadata().unwrap()["token_endpoint_auth_methods_supported"].clone()
    };
    assert_eq!(
        methods(&server),
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "none",
            "x_api_key"
        ])
    );
    server.remove_client_authenticator("client_secret_post");
    assert_eq!(
        methods(&server),
        serde_json::json!(["client_secret_basic", "none", "x_api_key"])
    );
}

#[tokio::test]
async fn a_parameter_repeats_only_once_declared_repeatable() {
    let mut server = server();
    let body =
        "grant_type=client_credentials&resource=https://a.example&resource=https://b.example";
    let key = format!("keyed:{SECRET}");
    let refused = server.create_token_response(&post(body, Some(&key))).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(json(&refused)["error"], "invalid_request");

    server.allow_repeated_parameter("resource");
    let accepted = server.create_token_response(&post(body, Some(&key))).await;
    assert_eq!(accepted.status(), 200, "{}", json(&accepted));
    // Every other parameter still may not repeat.
    let twice = format!("{body}&grant_type=client_credentials");
    let refused = server
        .create_token_response(&post(&twice, Some(&key)))
        .await;
    assert_eq!(json(&refused)["error"], "invalid_request");
}
