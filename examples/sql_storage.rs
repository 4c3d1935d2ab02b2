//! How do I keep clients, users and tokens in a database?
//!
//! Run it with `cargo run --example sql_storage` (an in-memory SQLite database), or
//! `cargo run --example sql_storage -- sqlite://portcullis-example.db` to keep the data
//! in a file (`postgres://USER:PASSWORD@HOST/DATABASE` works the same way). It issues a
//! `client_credentials` token and introspects it, through the server's
//! `http::Request` API, and prints both answers.
//!
//! [`SqlStore`] implements every storage trait of the core, so an
//! [`AuthorizationServer`] over it needs nothing else. Connecting creates the database
//! and applies the embedded migrations. Clients are registered as [`ClientRecord`]s built
//! with `ClientRecord::new(..).with_*` (an application's own client field is an
//! [`Extra`] in its metadata), users with [`NewUser::new`] (the password is
//! stored as an Argon2id hash), and the server saves every token it issues — as hashes
//! only: the database never holds a token, a client secret or a password.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::Request;
use portcullis_core::model::{ClientMetadata, Extra};
use portcullis_core::{
    hash_secret, AuthorizationServer, ClientCredentialsGrant, ClientRecord, IntrospectionEndpoint,
    OAuthResponse, Scope,
};
use portcullis_sql::{NewUser, SqlError, SqlStore, UserRecord};

/// The API the tokens are for: its audience.
pub const API_AUDIENCE: &str = "https://reports.example";
/// The reporting job's client secret (only its hash is stored).
pub const REPORTING_SECRET: &str = "reporting-secret-change-me";
/// The API's client secret: it introspects the tokens presented to it.
pub const API_SECRET: &str = "api-secret-change-me";

/// The application's own field on a client, the team that owns it: kept in the
/// client's metadata extras (one JSON column), so adding it needed no migration.
#[derive(Debug, Clone, Copy)]
pub struct OwningTeam;

impl Extra for OwningTeam {
    const NAME: &'static str = "owning_team";
    type Value = String;
}

/// Opens the database at `url` (creating and migrating it) and registers two clients
/// and a user, unless they are there already.
pub async fn open_store(url: &str) -> Result<SqlStore, SqlError> {
    let store = SqlStore::connect(url).await?;
    if store.get_client("reporting").await?.is_none() {
        let mut metadata = ClientMetadata::new();
        metadata.contacts = vec!["reports@example.com".into()];
        metadata.extras.insert::<OwningTeam>("analytics".into());
        store
            .insert_client(
                &ClientRecord::new("reporting")
                    .with_secret_hash(hash_secret(REPORTING_SECRET))
                    .with_name("Nightly reporting job")
                    .with_scope(Scope::from_tokens(["reports:read"]))
                    .with_grant_types(["client_credentials"])
                    .with_auth_method("client_secret_post")
                    .with_audience([API_AUDIENCE])
                    .with_metadata(metadata),
            )
            .await?;
        // A resource server: it may introspect every token issued for its audience.
        store
            .insert_client(
                &ClientRecord::new("reports-api")
                    .with_secret_hash(hash_secret(API_SECRET))
                    .with_auth_method("client_secret_post")
                    .with_resource_server_audience(API_AUDIENCE),
            )
            .await?;
        store
            .create_user(NewUser::new("alice", "correct horse battery staple"))
            .await?;
    }
    Ok(store)
}

/// The authorization server over `store`: the `client_credentials` grant and the
/// introspection endpoint, which reports usernames from the same store.
pub fn authorization_server(store: SqlStore) -> AuthorizationServer<SqlStore> {
    let usernames = Arc::new(store.clone());
    let mut server = AuthorizationServer::new(store).with_issuer("https://auth.example");
    server
        .register_grant(ClientCredentialsGrant::new())
        .register_endpoint(IntrospectionEndpoint::new().with_usernames(usernames));
    server
}

/// A form POST; both clients authenticate with `client_secret_post` (in the body).
fn form(uri: &str, body: String) -> Result<Request<Bytes>, axum::http::Error> {
    Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(body))
}

/// `reporting` asks for a token (RFC 6749 §4.4).
pub async fn issue_token(
    server: &AuthorizationServer<SqlStore>,
) -> Result<OAuthResponse, axum::http::Error> {
    let body = format!(
        "grant_type=client_credentials&scope=reports:read\
         &client_id=reporting&client_secret={REPORTING_SECRET}"
    );
    Ok(server.create_token_response(&form("/token", body)?).await)
}

/// `reports-api` introspects `token` (RFC 7662). Opaque tokens need no form encoding.
pub async fn introspect(
    server: &AuthorizationServer<SqlStore>,
    token: &str,
) -> Result<OAuthResponse, axum::http::Error> {
    let body = format!("token={token}&client_id=reports-api&client_secret={API_SECRET}");
    let request = form("/introspect", body)?;
    Ok(server
        .create_endpoint_response("introspection", &request)
        .await)
}

/// What a sign-in page asks the store: the user, when the password is theirs.
pub async fn sign_in(
    store: &SqlStore,
    username: &str,
    password: &str,
) -> Result<Option<UserRecord>, SqlError> {
    store.verify_user_password(username, password).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1);
    let store = open_store(url.as_deref().unwrap_or("sqlite::memory:")).await?;
    println!("{}", store.describe());
    let alice = sign_in(&store, "alice", "correct horse battery staple").await?;
    println!("alice signs in: {}", alice.is_some());
    let server = authorization_server(store);
    let token = issue_token(&server).await?;
    println!("token: {}", String::from_utf8_lossy(token.body()));
    let body: serde_json::Value = serde_json::from_slice(token.body())?;
    let access_token = body["access_token"].as_str().unwrap_or_default();
    let info = introspect(&server, access_token).await?;
    println!("introspection: {}", String::from_utf8_lossy(info.body()));
    Ok(())
}
