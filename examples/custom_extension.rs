//! How do I take part in every token the server issues: refuse some requests, add a
//! member to the response, and record a value in the token?
//!
//! Run it with `cargo run --example custom_extension`: it sends two token requests to
//! the server in-process, through its `http::Request` API, and prints both answers.
//!
//! [`TenantExtension`] is a server-level [`TokenExtension`], registered once with
//! [`register_extension`](AuthorizationServer::register_extension) and run for every
//! grant, at two points of the server's one issuance sequence:
//!
//! * [`before_issue`](TokenExtension::before_issue), before any token exists: it refuses
//!   clients outside the tenant (`400 unauthorized_client`, an RFC 6749 §5.2 error: no
//!   token is minted or saved), and records the tenant in the [`Issuance`]'s
//!   [`Extras`](portcullis_core::Extras) under a typed [`Extra`], [`Tenant`]; the token
//!   record keeps it (a store persists it with the record: `portcullis-sql` in one JSON
//!   column, no migration), and a token strategy sees it when it mints;
//! * [`after_issue`](TokenExtension::after_issue), once the token is minted: it adds
//!   `"x-tenant": "acme"` to the response through the [`TokenResponse`] builder.

use async_trait::async_trait;
use axum::body::Bytes;
use axum::http::Request;
use portcullis_core::model::Extra;
use portcullis_core::tokens::IssuedToken;
use portcullis_core::{
    hash_secret, AuthorizationServer, ClientCredentialsGrant, ClientRecord, ClientStore, Issuance,
    MemoryStore, OAuthError, OAuthResponse, Scope, StoreError, TokenContext, TokenExtension,
    TokenResponse,
};

/// The tenant a token belongs to, kept in the token's extras as `"tenant"`.
#[derive(Debug, Clone, Copy)]
pub struct Tenant;

impl Extra for Tenant {
    const NAME: &'static str = "tenant";
    type Value = String;
}

/// Issues tokens only to the clients of one tenant, and labels every token and
/// token response with it.
#[derive(Debug, Clone)]
pub struct TenantExtension {
    tenant: String,
    clients: Vec<String>,
}

impl TenantExtension {
    /// The extension for `tenant`, whose clients are `clients`.
    pub fn new(tenant: &str, clients: &[&str]) -> Self {
        Self {
            tenant: tenant.to_owned(),
            clients: clients.iter().map(|c| (*c).to_owned()).collect(),
        }
    }
}

#[async_trait]
impl<S: ClientStore> TokenExtension<S> for TenantExtension {
    fn name(&self) -> &str {
        "tenant"
    }

    async fn before_issue(
        &self,
        _context: &TokenContext<'_, S>,
        issuance: &mut Issuance,
    ) -> Result<(), OAuthError> {
        if !self.clients.contains(&issuance.client_id) {
            return Err(OAuthError::unauthorized_client(format!(
                "this client does not belong to the tenant '{}'",
                self.tenant
            )));
        }
        issuance.extras.insert::<Tenant>(self.tenant.clone());
        Ok(())
    }

    async fn after_issue(
        &self,
        _context: &TokenContext<'_, S>,
        _issuance: &Issuance,
        _issued: &mut IssuedToken,
        response: &mut TokenResponse,
    ) -> Result<(), OAuthError> {
        response.insert("x-tenant", self.tenant.clone());
        Ok(())
    }
}

/// The secret of both clients (only its hash is stored).
pub const SECRET: &str = "tenant-secret-change-me";

/// A server with two `client_credentials` clients, `acme-reports` (of the tenant
/// `acme`) and `globex-reports` (of none), and the tenant extension for `acme`.
pub fn authorization_server() -> Result<AuthorizationServer<MemoryStore>, StoreError> {
    let store = MemoryStore::new();
    for client_id in ["acme-reports", "globex-reports"] {
        store.insert_client(
            ClientRecord::new(client_id)
                .with_secret_hash(hash_secret(SECRET))
                .with_scope(Scope::from_tokens(["reports:read"]))
                .with_grant_types(["client_credentials"])
                .with_auth_method("client_secret_post"),
        )?;
    }
    let mut server = AuthorizationServer::new(store);
    server
        .register_grant(ClientCredentialsGrant::new())
        .register_extension(TenantExtension::new("acme", &["acme-reports"]));
    Ok(server)
}

/// Asks `server` for a `client_credentials` token of `client_id`, as an HTTP client would.
pub async fn request_token(
    server: &AuthorizationServer<MemoryStore>,
    client_id: &str,
) -> Result<OAuthResponse, axum::http::Error> {
    let body = format!(
        "grant_type=client_credentials&scope=reports:read&client_id={client_id}&client_secret={SECRET}"
    );
    let request = Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(body))?;
    Ok(server.create_token_response(&request).await)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = authorization_server()?;
    for client_id in ["acme-reports", "globex-reports"] {
        let response = request_token(&server, client_id).await?;
        let body = String::from_utf8_lossy(response.body());
        println!("{client_id}: {} {body}", response.status());
    }
    for token in server.store().tokens()? {
        println!(
            "stored for {}: tenant {:?}",
            token.client_id,
            token.extras.get::<Tenant>()
        );
    }
    Ok(())
}
