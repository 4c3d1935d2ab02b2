//! How do I add a grant type of my own?
//!
//! Run it with `cargo run --example custom_grant` (it listens on `127.0.0.1:5001`, or
//! on `EXAMPLE_ADDR`), then trade the ticket for a token and call the API with it:
//!
//! ```text
//! curl -s -u demo-client:demo-secret-change-me -d scope=profile -d ticket=let-me-in \
//!      -d grant_type=urn:example:params:oauth:grant-type:demo http://127.0.0.1:5001/oauth/token
//! curl -s -H "Authorization: Bearer ACCESS_TOKEN" http://127.0.0.1:5001/api/me
//! ```
//!
//! [`DemoGrant`] is an extension grant (RFC 6749 §4.5), a toy: a client presenting the
//! right `ticket` gets a token for one fixed user. It implements the token endpoint's
//! handler trait, [`TokenGrant`]: the server asks each registered handler in turn
//! whether it [`can_handle`](TokenGrant::can_handle) the request, authenticates the
//! client, checks that the client may use this grant type, and calls
//! [`handle`](TokenGrant::handle), which validates the request and returns an
//! [`Issuance`]: what to issue, before any token exists. Minting, the server-level
//! extensions, saving and the JSON response are the server's, the same for every
//! grant. [`Grant`] puts the handler in the registry: nothing else is edited, the
//! metadata lists the new grant type, and the resource guard accepts its tokens.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_axum::{token_route, Bearer};
use portcullis_core::grants::{GrantRegistry, TokenGrant};
use portcullis_core::model::check_scope;
use portcullis_core::random::random_string;
use portcullis_core::{
    hash_secret, verify_secret, AuthorizationServer, Client, ClientRecord, ClientStore,
    EndpointName, Grant, Issuance, MemoryStore, OAuthError, Params, Scope, StoreError,
    TokenContext,
};

/// The grant type this example adds: an absolute URI, as RFC 6749 §4.5 asks.
pub const GRANT_TYPE: &str = "urn:example:params:oauth:grant-type:demo";
/// The client registered for the demo grant, and its secret (stored as a hash).
pub const CLIENT_ID: &str = "demo-client";
/// The secret of both clients.
pub const CLIENT_SECRET: &str = "demo-secret-change-me";
/// A client registered for `client_credentials` only: the demo grant refuses it.
pub const OTHER_CLIENT_ID: &str = "other-client";
/// The ticket the demo grant accepts.
pub const TICKET: &str = "let-me-in";
/// The user every demo token is issued for.
pub const SUBJECT: &str = "demo-user";

/// The demo grant: the right `ticket` buys a token for `subject`.
#[derive(Debug, Clone)]
pub struct DemoGrant {
    ticket_hash: String,
    subject: String,
}

impl DemoGrant {
    /// A grant that trades `ticket` for tokens of `subject`.
    pub fn new(ticket: &str, subject: impl Into<String>) -> Self {
        Self {
            ticket_hash: hash_secret(ticket),
            subject: subject.into(),
        }
    }
}

impl<S: ClientStore> Grant<S> for DemoGrant {
    fn register(self, registry: &mut GrantRegistry<S>) {
        registry.add_token_grant(Arc::new(self));
    }
}

#[async_trait]
impl<S: ClientStore> TokenGrant<S> for DemoGrant {
    fn grant_type(&self) -> &str {
        GRANT_TYPE
    }

    // The default, written out: a handler may also look at other parameters.
    fn can_handle(&self, params: &Params) -> bool {
        params.get("grant_type") == Some(GRANT_TYPE)
    }

    async fn handle(&self, context: &TokenContext<'_, S>) -> Result<Issuance, OAuthError> {
        // Authenticated already, and allowed this grant type (its `grant_types`).
        let client = context.client()?;
        let params = context.params();
        if !verify_secret(params.require("ticket")?, &self.ticket_hash) {
            return Err(OAuthError::invalid_grant("the ticket is not valid"));
        }
        let scope = check_scope(client, &Scope::parse(params.get("scope").unwrap_or(""))?)?;
        let grant_id = random_string(context.env().random(), 16);
        Ok(
            Issuance::new(GRANT_TYPE, client.client_id(), scope, grant_id)
                .with_subject(Some(self.subject.clone()))
                .with_audience(client.audience()),
        )
    }
}

/// The authorization server: a memory store with the two clients, and the demo grant.
pub fn authorization_server(issuer: &str) -> Result<AuthorizationServer<MemoryStore>, StoreError> {
    let store = MemoryStore::new();
    for (client_id, grant_type) in [
        (CLIENT_ID, GRANT_TYPE),
        (OTHER_CLIENT_ID, "client_credentials"),
    ] {
        store.insert_client(
            ClientRecord::new(client_id)
                .with_secret_hash(hash_secret(CLIENT_SECRET))
                .with_scope(Scope::from_tokens(["profile"]))
                .with_grant_types([grant_type]),
        )?;
    }
    let mut server = AuthorizationServer::new(store)
        .with_issuer(issuer)
        .with_endpoint_path(EndpointName::TOKEN, "/oauth/token");
    server.register_grant(DemoGrant::new(TICKET, SUBJECT));
    Ok(server)
}

/// The router: the token endpoint at `/oauth/token`, and `/api/me`, which any valid
/// access token may call and which answers whom the token is for.
pub fn app(server: AuthorizationServer<MemoryStore>) -> Router {
    let protector = server.resource_protector();
    Router::new()
        .route("/api/me", get(me))
        .with_state(protector)
        .route("/oauth/token", token_route(Arc::new(server)))
}

async fn me(Bearer(token): Bearer) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "sub": token.subject,
        "client_id": token.client_id,
        "scope": token.scope.to_string(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::var("EXAMPLE_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:5001".into())
        .parse()?;
    let server = authorization_server(&format!("http://{addr}"))?;
    println!("Listening on http://{addr}: {:?}", server.grant_types());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app(server)).await?;
    Ok(())
}
