//! How do I protect an MCP server with Portcullis?
//!
//! Run it with `cargo run --example mcp_server`: a local authorization server on
//! `127.0.0.1:5005` issues JWT access tokens (RFC 9068); an MCP server on
//! `127.0.0.1:5006`, built on `rmcp` (the official Rust MCP SDK) with its Streamable
//! HTTP transport, offers one tool, `add`, at `/mcp`. It is the protected resource
//! `http://127.0.0.1:5006/mcp`:
//!
//! * it publishes its Protected Resource Metadata (RFC 9728) at
//!   `/.well-known/oauth-protected-resource/mcp` (and, being the only resource on its
//!   host, at `/.well-known/oauth-protected-resource`), naming the authorization
//!   server and the scope `mcp:tools`;
//! * a request without a token is answered `401` with
//!   `WWW-Authenticate: Bearer …, resource_metadata="…"`, which is how an MCP client
//!   finds the authorization server to ask;
//! * it validates every token locally with [`JwtValidator`] — issued by that server,
//!   for this resource (`aud`), with the scope `mcp:tools` — so a token meant for
//!   another resource is refused (`401 invalid_token`), and one without the scope is
//!   `403 insufficient_scope` with `scope="mcp:tools"`.
//!
//! ```text
//! curl -si http://127.0.0.1:5006/mcp -X POST            # 401, resource_metadata=…
//! curl -s http://127.0.0.1:5006/.well-known/oauth-protected-resource/mcp
//! curl -s -u mcp-agent:mcp-secret-change-me -d grant_type=client_credentials \
//!      -d scope=mcp:tools http://127.0.0.1:5005/token
//! curl -s http://127.0.0.1:5006/mcp -H "Authorization: Bearer ACCESS_TOKEN" \
//!      -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
//!      -H 'MCP-Protocol-Version: 2025-06-18' \
//!      -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}'
//! ```
//!
//! The client `other-agent` gets tokens for another resource: the MCP server refuses
//! them.
//!
//! With `MCP_AUTHORIZATION_SERVER` set to an issuer, e.g. that of a `portcullis serve`
//! issuing JWT access tokens, no local authorization server is started: the MCP server
//! names that one in its metadata and validates its tokens (found through its RFC 8414
//! metadata and JWKS) for this resource. `MCP_ADDR` sets the MCP server's address
//! (`127.0.0.1:0` for any free port; the address is printed):
//!
//! ```text
//! MCP_AUTHORIZATION_SERVER=http://127.0.0.1:8080 MCP_ADDR=127.0.0.1:5006 \
//!     cargo run --example mcp_server
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::middleware::from_fn_with_state;
use axum::Router;
use bytes::Bytes;
use portcullis_axum::jwt::JwtValidator;
use portcullis_axum::resource_metadata::MetadataError;
use portcullis_axum::{
    endpoint_route, require_bearer, token_route, ProtectedResourceMetadata, ResourceGuard,
};
use portcullis_core::jose::{
    self, Algorithm, JwkSet, JwtAccessTokens, KeySet, Signer, SigningKeys,
};
use portcullis_core::{
    hash_secret, AuthorizationServer, BearerTokenGenerator, ClientCredentialsGrant, ClientRecord,
    JwkSetSource, JwksEndpoint, MemoryStore, MetadataEndpoint, OAuthError, PublishedJwks,
    ResourceProtector, Scope, StoreError,
};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler};

/// The scope a client needs to use the MCP server's tools.
pub const SCOPE: &str = "mcp:tools";
/// The secret of the clients below.
pub const SECRET: &str = "mcp-secret-change-me";
/// The resource the client `other-agent` gets tokens for.
pub const OTHER_RESOURCE: &str = "https://other.example";

// ---------------------------------------------------------------------------------
// The authorization server: a local Portcullis issuing JWT access tokens.
// ---------------------------------------------------------------------------------

/// The authorization server's one signing key, in memory (`portcullis serve` keeps
/// its keys in its database and rotates them).
#[derive(Debug)]
pub struct Key(Arc<Signer>);

impl Key {
    /// A new ES256 key.
    pub fn generate() -> Result<Arc<Key>, jose::JoseError> {
        let signer = Signer::generate(&jose::aws_lc_rs::provider(), Algorithm::Es256)?;
        Ok(Arc::new(Key(Arc::new(signer))))
    }

    fn set(&self) -> JwkSet {
        JwkSet::new(vec![self.0.public_jwk()])
    }
}

impl SigningKeys for Key {
    fn signer(&self, _now: i64) -> Option<Arc<Signer>> {
        Some(self.0.clone())
    }

    fn verification_keys(&self) -> Option<Arc<KeySet>> {
        let provider = jose::aws_lc_rs::provider();
        let keys = KeySet::from_jwk_set(&provider, &self.set(), &[Algorithm::Es256]);
        Some(Arc::new(keys))
    }
}

#[async_trait]
impl JwkSetSource for Key {
    async fn published(&self) -> Result<PublishedJwks, OAuthError> {
        let body = serde_json::to_vec(&self.set()).map_err(|_| OAuthError::server_error())?;
        Ok(PublishedJwks::new(
            Bytes::from(body),
            "\"1\"".to_owned(),
            300,
        ))
    }
}

/// The authorization server at `issuer`: the client `mcp-agent` gets tokens for the
/// MCP server `resource`, `other-agent` for [`OTHER_RESOURCE`]; both may ask for
/// [`SCOPE`] and `profile`.
pub fn authorization_server(
    issuer: &str,
    resource: &str,
    key: Arc<Key>,
) -> Result<AuthorizationServer<MemoryStore>, StoreError> {
    let store = MemoryStore::new();
    let scope =
        Scope::parse(&format!("{SCOPE} profile")).map_err(|e| StoreError::new(e.description()))?;
    for (client_id, audience) in [("mcp-agent", resource), ("other-agent", OTHER_RESOURCE)] {
        store.insert_client(
            ClientRecord::new(client_id)
                .with_secret_hash(hash_secret(SECRET))
                .with_scope(scope.clone())
                .with_grant_types(["client_credentials"])
                .with_audience([audience]),
        )?;
    }
    let mut server = AuthorizationServer::new(store)
        .with_issuer(issuer)
        .with_bearer_tokens(
            BearerTokenGenerator::default().with_strategy(JwtAccessTokens::new(key.clone())),
        );
    server
        .register_grant(ClientCredentialsGrant::new())
        .register_endpoint(JwksEndpoint::new(key))
        .register_endpoint(MetadataEndpoint::new());
    Ok(server)
}

/// The authorization server's routes: `/token`, `/jwks` and its RFC 8414 metadata.
pub fn authorization_app(server: AuthorizationServer<MemoryStore>) -> Router {
    let server = Arc::new(server);
    Router::new()
        .route("/token", token_route(server.clone()))
        .route("/jwks", endpoint_route(server.clone(), "jwks"))
        .route(
            "/.well-known/oauth-authorization-server",
            endpoint_route(server, "metadata"),
        )
}

// ---------------------------------------------------------------------------------
// The MCP server: one tool, on rmcp's Streamable HTTP transport.
// ---------------------------------------------------------------------------------

/// The arguments of `add`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct AddRequest {
    /// The first number.
    pub a: i64,
    /// The second number.
    pub b: i64,
}

/// The MCP server's tools.
#[derive(Debug, Clone)]
pub struct Calculator {
    #[allow(dead_code)] // read by the code `#[tool_handler]` writes
    tool_router: ToolRouter<Self>,
}

impl Default for Calculator {
    fn default() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl Calculator {
    /// `add`: the sum of two numbers.
    #[tool(description = "Add two numbers")]
    fn add(&self, Parameters(AddRequest { a, b }): Parameters<AddRequest>) -> String {
        a.saturating_add(b).to_string()
    }
}

#[tool_handler]
impl ServerHandler for Calculator {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("A calculator behind Portcullis: call add with a and b.")
    }
}

/// The MCP server's metadata (RFC 9728): the resource `resource` (where `/mcp` is
/// served, e.g. `http://127.0.0.1:5006/mcp`), its authorization server `issuer`, its
/// scope.
pub fn resource_metadata(
    resource: &str,
    issuer: &str,
) -> Result<ProtectedResourceMetadata, MetadataError> {
    ProtectedResourceMetadata::builder(resource)
        .authorization_server(issuer)
        .scopes_supported([SCOPE])
        .resource_name("Portcullis example MCP server")
        .build()
}

/// The MCP server's routes: `/mcp` behind the guard, the metadata outside it. Tokens
/// are validated by `validator`; the guard also requires [`SCOPE`] and the resource
/// as the audience, and names the metadata in its challenges.
pub fn mcp_app(metadata: &ProtectedResourceMetadata, validator: JwtValidator) -> Router {
    let guard = ResourceGuard::new(ResourceProtector::new(Arc::new(validator)))
        .require_scope(SCOPE)
        .with_resource_metadata(metadata);
    // Stateless, with plain JSON answers: every request stands alone, so any instance
    // behind a load balancer can answer it. rmcp refuses `Host` headers other than
    // loopback ones by default (DNS rebinding); list your public host name.
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None);
    let mcp = StreamableHttpService::new(
        || Ok(Calculator::default()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", mcp)
        .route_layer(from_fn_with_state(guard, require_bearer))
        .merge(metadata.router())
}

/// The environment variable naming an external authorization server (its issuer, e.g.
/// a `portcullis serve` at `http://127.0.0.1:8080`) to use instead of the local one.
pub const AUTHORIZATION_SERVER_VAR: &str = "MCP_AUTHORIZATION_SERVER";
/// The environment variable with the MCP server's address (`127.0.0.1:5006` unset).
pub const ADDR_VAR: &str = "MCP_ADDR";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mcp_addr: SocketAddr = std::env::var(ADDR_VAR)
        .unwrap_or_else(|_| "127.0.0.1:5006".to_owned())
        .parse()?;
    let mcp_listener = tokio::net::TcpListener::bind(mcp_addr).await?;
    // With port 0 in MCP_ADDR, the port the system chose.
    let mcp_addr = mcp_listener.local_addr()?;
    let resource = format!("http://{mcp_addr}/mcp");
    let issuer = match std::env::var(AUTHORIZATION_SERVER_VAR) {
        // An external authorization server: its tokens for this resource are JWTs
        // (RFC 9068) signed with the keys of its `jwks_uri`, found in its metadata.
        Ok(issuer) if !issuer.is_empty() => {
            println!("Authorization server at {issuer} (external)");
            issuer
        }
        _ => {
            let as_addr: SocketAddr = "127.0.0.1:5005".parse()?;
            let issuer = format!("http://{as_addr}");
            let key = Key::generate()?;
            let as_listener = tokio::net::TcpListener::bind(as_addr).await?;
            let authorization = authorization_app(authorization_server(&issuer, &resource, key)?);
            tokio::spawn(async move { axum::serve(as_listener, authorization).await });
            println!(
                "Authorization server at {issuer} (clients mcp-agent, other-agent / {SECRET})"
            );
            issuer
        }
    };
    let metadata = resource_metadata(&resource, &issuer)?;
    println!(
        "MCP server at {resource}, its metadata at {}",
        metadata.url()
    );
    let validator = JwtValidator::new(issuer, [resource]);
    axum::serve(mcp_listener, mcp_app(&metadata, validator)).await?;
    Ok(())
}
