//! `examples/mcp_server.rs` on real sockets: an MCP server (rmcp, Streamable HTTP)
//! behind the guard, and a local authorization server. Without a token the client is
//! told where the resource's metadata is (RFC 9728 §5.1); the metadata names the
//! authorization server; a token for this resource calls the tool; a token for
//! another resource, or without the scope, is refused.

use crate::mcp_server::{
    authorization_app, authorization_server, mcp_app, resource_metadata, Key, SCOPE, SECRET,
};
use portcullis_axum::jwt::JwtValidator;

struct Setup {
    issuer: String,
    resource: String,
    http: reqwest::Client,
}

async fn setup() -> Setup {
    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_listener.local_addr().unwrap());
    let resource = format!("http://{}/mcp", mcp_listener.local_addr().unwrap());
    let server = authorization_server(&issuer, &resource, Key::generate().unwrap()).unwrap();
    let authorization = authorization_app(server);
    tokio::spawn(async move { axum::serve(as_listener, authorization).await.unwrap() });
    let metadata = resource_metadata(&resource, &issuer).unwrap();
    let app = mcp_app(
        &metadata,
        JwtValidator::new(issuer.clone(), [resource.clone()]),
    );
    tokio::spawn(async move { axum::serve(mcp_listener, app).await.unwrap() });
    Setup {
        issuer,
        resource,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    async fn token(&self, client_id: &str, scope: &str) -> String {
        let response: serde_json::Value = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{response}"))
            .to_owned()
    }

    /// A JSON-RPC request to the MCP endpoint, as an MCP client sends it.
    async fn mcp(&self, token: Option<&str>, body: serde_json::Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.resource)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-06-18")
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }
}

fn challenge_of(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The value of `name="…"` in a challenge.
fn parameter(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let end = challenge[start..].find('"')? + start;
    Some(challenge[start..end].to_owned())
}

fn initialize() -> serde_json::Value {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "portcullis-test", "version": "1.0"}
        }
    })
}

fn call_add(a: i64, b: i64) -> serde_json::Value {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": a, "b": b}}
    })
}

#[tokio::test]
async fn an_mcp_client_finds_the_authorization_server_and_calls_the_tool() {
    let setup = setup().await;
    // 1. No token: 401, pointing at the resource's metadata.
    let response = setup.mcp(None, initialize()).await;
    assert_eq!(response.status(), 401);
    let challenge = challenge_of(&response);
    let metadata_url = parameter(&challenge, "resource_metadata").expect(&challenge);
    let origin = setup.resource.trim_end_matches("/mcp");
    assert_eq!(
        metadata_url,
        format!("{origin}/.well-known/oauth-protected-resource/mcp")
    );
    assert_eq!(parameter(&challenge, "scope").as_deref(), Some(SCOPE));
    assert_eq!(parameter(&challenge, "error"), None);

    // 2. The metadata names this resource and the authorization server.
    let response = setup.http.get(&metadata_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    let metadata: serde_json::Value = response.json().await.unwrap();
    assert_eq!(metadata["resource"], setup.resource.as_str());
    assert_eq!(
        metadata["authorization_servers"],
        serde_json::json!([setup.issuer])
    );
    assert_eq!(metadata["scopes_supported"], serde_json::json!([SCOPE]));
    assert_eq!(
        metadata["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    // The only resource on its host: also at the root location.
    let root: serde_json::Value = setup
        .http
        .get(format!("{origin}/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(root, metadata);
    // ... and the authorization server's own metadata is where RFC 8414 says.
    let server: serde_json::Value = setup
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            setup.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(server["issuer"], setup.issuer.as_str());

    // 3. A token for this resource: the MCP session starts and the tool answers.
    let token = setup.token("mcp-agent", SCOPE).await;
    let response = setup.mcp(Some(&token), initialize()).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["id"], 1);
    assert!(
        answer["result"]["capabilities"]["tools"].is_object(),
        "{answer}"
    );
    let response = setup.mcp(Some(&token), call_add(2, 3)).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["id"], 2);
    assert_eq!(answer["result"]["content"][0]["text"], "5", "{answer}");
    let response = setup
        .mcp(
            Some(&token),
            serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
        )
        .await;
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["result"]["tools"][0]["name"], "add", "{answer}");
}

#[tokio::test]
async fn tokens_for_another_resource_or_without_the_scope_are_refused() {
    let setup = setup().await;
    // Issued by the same authorization server, with the scope, for another resource.
    let other = setup.token("other-agent", SCOPE).await;
    let response = setup.mcp(Some(&other), call_add(1, 1)).await;
    assert_eq!(response.status(), 401);
    let challenge = challenge_of(&response);
    assert_eq!(
        parameter(&challenge, "error").as_deref(),
        Some("invalid_token")
    );
    assert!(
        parameter(&challenge, "resource_metadata").is_some(),
        "{challenge}"
    );

    // For this resource, without the scope: 403, naming the scope to ask for.
    let narrow = setup.token("mcp-agent", "profile").await;
    let response = setup.mcp(Some(&narrow), call_add(1, 1)).await;
    assert_eq!(response.status(), 403);
    let challenge = challenge_of(&response);
    assert_eq!(
        parameter(&challenge, "error").as_deref(),
        Some("insufficient_scope")
    );
    assert_eq!(parameter(&challenge, "scope").as_deref(), Some(SCOPE));
    assert!(
        parameter(&challenge, "resource_metadata").is_some(),
        "{challenge}"
    );

    // Not a token at all.
    let response = setup.mcp(Some("not-a-token"), call_add(1, 1)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        parameter(&challenge_of(&response), "error").as_deref(),
        Some("invalid_token")
    );
}
