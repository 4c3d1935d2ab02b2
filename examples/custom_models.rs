//! Bring your own models: the Rust counterpart of Authlib's "Authorization Server for
//! Django" tutorial, step by step.
//!
//! Run it with `cargo run --example custom_models`, then follow the printed URL.
//!
//! 1. Your own client model, `OAuth2Client`, with the fields of Authlib's tutorial,
//!    implements [`Client`].
//! 2. Your own token model, `OAuth2Token`, implements [`Token`]; your own
//!    authorization-code model, `OAuth2Code`, implements [`AuthorizationCode`].
//! 3. Your own storage, `AppStore`, implements the storage traits the grants need.
//! 4. An [`AuthorizationServer`] over it registers the grants.
//! 5. Two handlers, `authorize` (GET: consent page; POST: grant or deny) and
//!    `issue_token` (POST only), call the server; `/api/me` is protected by the
//!    resource guard.
//!
//! Where Authlib's tutorial code is insecure, this example does it right and says why.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_axum::{into_response, Bearer, OAuth};
use portcullis_core::model::{AuthorizationCodeRecord, Extras, TokenRecord};
use portcullis_core::redirect_uri::redirect_uri_matches;
use portcullis_core::secret::{constant_time_eq, hash_secret, verify_secret};
use portcullis_core::{
    AuthorizationCode, AuthorizationCodeGrant, AuthorizationCodeStore, AuthorizationServer, Client,
    ClientCredentialsGrant, ClientStore, CodeRedemption, OAuthError, PasswordGrant,
    RefreshTokenGrant, ResourceProtector, Scope, StoreError, Token, TokenStore, User, UserStore,
};

// ---------------------------------------------------------------------------------
// Step 1: the client model.
// ---------------------------------------------------------------------------------

/// The application's client model: Authlib's `OAuth2Client` fields, in Rust.
#[derive(Debug, Clone)]
pub struct OAuth2Client {
    /// The client identifier.
    pub client_id: String,
    /// Authlib's tutorial keeps the secret itself here and compares it with `==`.
    /// We keep only its SHA-256 hash (the secret is 256 random bits, so a fast hash is
    /// enough) and compare in constant time: a database leak then leaks no secret, and
    /// response timing says nothing about how much of a guess was right.
    pub client_secret: Option<String>,
    /// The name shown on the consent page.
    pub client_name: String,
    /// Authlib's tutorial stores a newline-separated text and tests
    /// `redirect_uri in self.redirect_uris` — a *substring* test, so
    /// `https://app.example/cb` would also accept `https://app.example/c` or
    /// `app.example/cb\nhttps://evil.example`. We keep a list and match exactly.
    pub redirect_uris: Vec<String>,
    /// The redirect URI used when a request names none.
    pub default_redirect_uri: Option<String>,
    /// Space-separated scope tokens the client may ask for.
    pub scope: String,
    /// Space-separated response types.
    pub response_type: String,
    /// Space-separated grant types.
    pub grant_type: String,
    /// How the client authenticates: client_secret_basic, client_secret_post or none.
    pub token_endpoint_auth_method: String,
    /// The APIs its tokens are for (their `aud`); empty for none in particular.
    pub audience: Vec<String>,
}

impl Client for OAuth2Client {
    fn client_id(&self) -> &str {
        &self.client_id
    }

    fn default_redirect_uri(&self) -> Option<&str> {
        self.default_redirect_uri.as_deref()
    }

    fn allowed_scope(&self, requested: &Scope) -> Scope {
        let allowed = Scope::from_tokens(self.scope.split_whitespace());
        requested.intersection(&allowed)
    }

    fn check_redirect_uri(&self, redirect_uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| redirect_uri_matches(registered, redirect_uri))
    }

    fn check_client_secret(&self, secret: &str) -> bool {
        self.client_secret
            .as_deref()
            .is_some_and(|hash| verify_secret(secret, hash))
    }

    fn check_endpoint_auth_method(&self, method: &str, _endpoint: &str) -> bool {
        self.token_endpoint_auth_method == method
    }

    fn check_response_type(&self, response_type: &str) -> bool {
        self.response_type
            .split_whitespace()
            .any(|rt| rt == response_type)
    }

    fn check_grant_type(&self, grant_type: &str) -> bool {
        self.grant_type
            .split_whitespace()
            .any(|gt| gt == grant_type)
    }

    fn client_name(&self) -> &str {
        &self.client_name
    }

    fn audience(&self) -> Vec<String> {
        self.audience.clone()
    }
}

// ---------------------------------------------------------------------------------
// Step 2: the token and authorization-code models.
// ---------------------------------------------------------------------------------

/// The application's token model: Authlib's `OAuth2Token` fields. The token values
/// themselves are never stored, only their hashes.
#[derive(Debug, Clone)]
pub struct OAuth2Token {
    /// The user the token was issued for (none for client_credentials).
    pub user: Option<String>,
    /// The client identifier.
    pub client_id: String,
    /// Always "Bearer".
    pub token_type: String,
    /// SHA-256 of the access token.
    pub access_token: String,
    /// SHA-256 of the refresh token, if one was issued.
    pub refresh_token: Option<String>,
    /// Space-separated scope tokens.
    pub scope: String,
    /// When it was issued (UTC seconds).
    pub issued_at: i64,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
    /// When the refresh token expires (UTC seconds).
    pub refresh_token_expires_at: Option<i64>,
    /// True once revoked or rotated.
    pub revoked: bool,
    /// The grant family: every token from one code shares it.
    pub grant_id: String,
    /// The APIs the token is for (`aud`).
    pub audience: Vec<String>,
    /// Everything else the core recorded (the grant's absolute end, what extensions
    /// add): kept as it came. [`Token`] requires it back, so a model that dropped it
    /// would have to say so in code.
    pub extras: Extras,
}

/// The record's indexed fields map to ours; everything else the core records — today
/// the grant's absolute end, tomorrow what an OpenID or DPoP extension adds — arrives
/// in `extras`, which [`Token::extras`] must hand back: keeping it is the default, and
/// dropping it would be code someone wrote on purpose.
impl From<TokenRecord> for OAuth2Token {
    fn from(record: TokenRecord) -> Self {
        let TokenRecord {
            access_token_hash,
            refresh_token_hash,
            client_id,
            scope,
            subject,
            grant_id,
            issued_at,
            expires_in,
            refresh_token_expires_at,
            revoked,
            audience,
            extras,
            ..
        } = record;
        Self {
            user: subject,
            client_id,
            token_type: "Bearer".into(),
            access_token: access_token_hash,
            refresh_token: refresh_token_hash,
            scope: scope.to_string(),
            issued_at,
            expires_in,
            refresh_token_expires_at,
            revoked,
            grant_id,
            audience,
            extras,
        }
    }
}

impl Token for OAuth2Token {
    fn client_id(&self) -> &str {
        &self.client_id
    }

    fn scope(&self) -> Scope {
        Scope::from_tokens(self.scope.split_whitespace())
    }

    fn issued_at(&self) -> i64 {
        self.issued_at
    }

    fn expires_in(&self) -> i64 {
        self.expires_in
    }

    fn refresh_token_expires_at(&self) -> Option<i64> {
        self.refresh_token_expires_at
    }

    fn is_revoked(&self) -> bool {
        self.revoked
    }

    fn subject(&self) -> Option<&str> {
        self.user.as_deref()
    }

    fn audience(&self) -> Vec<String> {
        self.audience.clone()
    }

    fn extras(&self) -> &Extras {
        &self.extras
    }

    fn grant_id(&self) -> &str {
        &self.grant_id
    }
}

/// The application's authorization-code model; the core's record fits as it is, so we
/// wrap it and add the `used` flag our storage needs for single use.
#[derive(Debug, Clone)]
pub struct OAuth2Code {
    /// What the core asked us to store.
    pub record: AuthorizationCodeRecord,
    /// True once redeemed.
    pub used: bool,
}

impl AuthorizationCode for OAuth2Code {
    fn client_id(&self) -> &str {
        &self.record.client_id
    }

    fn redirect_uri(&self) -> Option<&str> {
        self.record.redirect_uri.as_deref()
    }

    fn scope(&self) -> Scope {
        self.record.scope.clone()
    }

    fn subject(&self) -> &str {
        &self.record.subject
    }

    fn nonce(&self) -> Option<&str> {
        self.record.nonce.as_deref()
    }

    fn auth_time(&self) -> Option<i64> {
        self.record.auth_time
    }

    fn code_challenge(&self) -> Option<&str> {
        self.record.code_challenge.as_deref()
    }

    fn code_challenge_method(&self) -> Option<&str> {
        self.record.code_challenge_method.as_deref()
    }

    fn expires_at(&self) -> i64 {
        self.record.expires_at
    }

    fn grant_id(&self) -> &str {
        &self.record.grant_id
    }

    fn extras(&self) -> &Extras {
        &self.record.extras
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct AppUser {
    /// The username, used as the token subject.
    pub username: String,
}

impl User for AppUser {
    fn subject(&self) -> &str {
        &self.username
    }
}

// ---------------------------------------------------------------------------------
// Step 3: the application's storage.
// ---------------------------------------------------------------------------------

#[derive(Default)]
struct Tables {
    clients: HashMap<String, OAuth2Client>,
    tokens: Vec<OAuth2Token>,
    codes: HashMap<String, OAuth2Code>,
    /// Grants revoked because a code or refresh token was replayed. A token saved for
    /// one of them later (the legitimate redemption racing the replay) is born revoked.
    revoked_grants: HashSet<String>,
    /// username -> (salt, salted hash). A real application uses Argon2id.
    users: HashMap<String, (String, String)>,
}

/// The application's storage: in memory here, your database in real life. Each
/// single-use operation runs under one lock, so it is atomic.
#[derive(Default)]
pub struct AppStore {
    tables: Mutex<Tables>,
}

impl std::fmt::Debug for AppStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Counts only: the tables hold secret hashes.
        let mut debug = f.debug_struct("AppStore");
        if let Ok(tables) = self.tables.lock() {
            debug
                .field("clients", &tables.clients.len())
                .field("tokens", &tables.tokens.len());
        }
        debug.finish_non_exhaustive()
    }
}

impl AppStore {
    fn lock(&self) -> Result<MutexGuard<'_, Tables>, StoreError> {
        self.tables
            .lock()
            .map_err(|_| StoreError::new("storage lock poisoned"))
    }

    /// Registers a client; `secret` is hashed before it is stored.
    pub fn add_client(&self, mut client: OAuth2Client, secret: Option<&str>) {
        client.client_secret = secret.map(hash_secret);
        if let Ok(mut tables) = self.lock() {
            tables.clients.insert(client.client_id.clone(), client);
        }
    }

    /// Adds a user.
    pub fn add_user(&self, username: &str, password: &str) {
        let salt = hash_secret(username);
        let hash = hash_secret(&format!("{salt}{password}"));
        if let Ok(mut tables) = self.lock() {
            tables.users.insert(username.to_owned(), (salt, hash));
        }
    }
}

#[async_trait]
impl ClientStore for AppStore {
    type Client = OAuth2Client;

    async fn find_client(&self, client_id: &str) -> Result<Option<OAuth2Client>, StoreError> {
        Ok(self.lock()?.clients.get(client_id).cloned())
    }
}

#[async_trait]
impl TokenStore for AppStore {
    type Token = OAuth2Token;

    async fn save_token(&self, token: TokenRecord) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        let mut token = OAuth2Token::from(token);
        token.revoked = tables.revoked_grants.contains(&token.grant_id);
        tables.tokens.push(token);
        Ok(())
    }

    async fn find_access_token(&self, hash: &str) -> Result<Option<OAuth2Token>, StoreError> {
        Ok(self
            .lock()?
            .tokens
            .iter()
            .find(|t| t.access_token == hash)
            .cloned())
    }

    async fn find_refresh_token(&self, hash: &str) -> Result<Option<OAuth2Token>, StoreError> {
        let tables = self.lock()?;
        Ok(tables
            .tokens
            .iter()
            .find(|t| t.refresh_token.as_deref() == Some(hash))
            .cloned())
    }

    async fn rotate_refresh_token(&self, old: &str, new: TokenRecord) -> Result<bool, StoreError> {
        let mut tables = self.lock()?;
        let Some(token) = tables
            .tokens
            .iter_mut()
            .find(|t| t.refresh_token.as_deref() == Some(old) && !t.revoked)
        else {
            return Ok(false);
        };
        token.revoked = true;
        tables.tokens.push(new.into());
        Ok(true)
    }

    async fn revoke_token(&self, hash: &str) -> Result<(), StoreError> {
        for token in self
            .lock()?
            .tokens
            .iter_mut()
            .filter(|t| t.access_token == hash)
        {
            token.revoked = true;
        }
        Ok(())
    }

    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        tables.revoked_grants.insert(grant_id.to_owned());
        for token in tables.tokens.iter_mut().filter(|t| t.grant_id == grant_id) {
            token.revoked = true;
        }
        Ok(())
    }
}

#[async_trait]
impl AuthorizationCodeStore for AppStore {
    type Code = OAuth2Code;

    async fn save_authorization_code(
        &self,
        code: AuthorizationCodeRecord,
    ) -> Result<(), StoreError> {
        let code = OAuth2Code {
            record: code,
            used: false,
        };
        self.lock()?
            .codes
            .insert(code.record.code_hash.clone(), code);
        Ok(())
    }

    async fn redeem_authorization_code(
        &self,
        hash: &str,
        client_id: &str,
    ) -> Result<CodeRedemption<OAuth2Code>, StoreError> {
        let mut tables = self.lock()?;
        Ok(match tables.codes.get_mut(hash) {
            None => CodeRedemption::NotFound,
            // Another client's code is not ours to use up (or to call a replay).
            Some(code) if code.record.client_id != client_id => CodeRedemption::NotFound,
            Some(code) if code.used => CodeRedemption::AlreadyUsed(code.clone()),
            Some(code) => {
                code.used = true;
                CodeRedemption::Redeemed(code.clone())
            }
        })
    }
}

#[async_trait]
impl UserStore for AppStore {
    type User = AppUser;

    async fn authenticate_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<AppUser>, StoreError> {
        let tables = self.lock()?;
        let (salt, hash) = tables.users.get(username).cloned().unwrap_or_default();
        let computed = hash_secret(&format!("{salt}{password}"));
        let ok = !hash.is_empty() && constant_time_eq(computed.as_bytes(), hash.as_bytes());
        Ok(ok.then(|| AppUser {
            username: username.to_owned(),
        }))
    }
}

// ---------------------------------------------------------------------------------
// Step 4: the authorization server.
// ---------------------------------------------------------------------------------

/// Builds the server: authorization code (PKCE S256 required), client credentials,
/// refresh token; the password grant only when asked for.
pub fn authorization_server(
    store: Arc<AppStore>,
    issuer: &str,
    enable_password: bool,
) -> AuthorizationServer<AppStore> {
    let mut server = AuthorizationServer::from_arc(store).with_issuer(issuer);
    server
        .register_grant(AuthorizationCodeGrant::new())
        .register_grant(ClientCredentialsGrant::new())
        .register_grant(RefreshTokenGrant::new());
    if enable_password {
        server.register_grant(PasswordGrant::new());
    }
    server
}

// ---------------------------------------------------------------------------------
// Step 5: the handlers.
// ---------------------------------------------------------------------------------

#[derive(Clone)]
struct AppState {
    server: Arc<AuthorizationServer<AppStore>>,
    protector: ResourceProtector,
}

impl axum::extract::FromRef<AppState> for ResourceProtector {
    fn from_ref(state: &AppState) -> Self {
        state.protector.clone()
    }
}

/// The application's router: `/oauth/authorize`, `/oauth/token`, `/api/me`.
pub fn app(server: AuthorizationServer<AppStore>) -> Router {
    let protector = server.resource_protector();
    let state = AppState {
        server: Arc::new(server),
        protector,
    };
    Router::new()
        .route("/oauth/authorize", get(authorize).post(authorize))
        // POST only, like Authlib's `@require_http_methods(["POST"])`: axum answers
        // any other method with 405 Method Not Allowed.
        .route("/oauth/token", post(issue_token))
        .route("/api/me", get(api_me))
        .with_state(state)
}

/// GET: validate the request and render the consent page. POST: the user signs in
/// and allows or denies.
///
/// The consent form asks for the user's password, so a forged cross-site POST cannot
/// grant anything: this example has no sessions. A real application takes the user
/// from its login session and protects the form with a CSRF token (as `portcullis
/// serve` does).
async fn authorize(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    if request.method() == axum::http::Method::GET {
        return match state.server.get_consent_grant(&request, None).await {
            Ok(grant) => consent_page(&grant.client, grant.scope(), None).into_response(),
            Err(error) => authorization_error(error),
        };
    }
    let form = portcullis_core::Params::parse(request.body()).unwrap_or_default();
    let user = match (form.get("username"), form.get("password")) {
        (Some(username), Some(password)) => state
            .server
            .store()
            .authenticate_user(username, password)
            .await
            .ok()
            .flatten(),
        _ => None,
    };
    let denied = form.get("decision") == Some("deny");
    let Some(user) = user.filter(|_| !denied) else {
        if denied {
            return finish(
                state
                    .server
                    .create_authorization_response(&request, None)
                    .await,
            );
        }
        // Wrong credentials: show the page again, unless the request itself is bad.
        return match state.server.get_consent_grant(&request, None).await {
            Ok(grant) => (
                StatusCode::UNAUTHORIZED,
                consent_page(
                    &grant.client,
                    grant.scope(),
                    Some("Wrong username or password."),
                ),
            )
                .into_response(),
            Err(error) => authorization_error(error),
        };
    };
    finish(
        state
            .server
            .create_authorization_response(&request, Some(&user))
            .await,
    )
}

fn finish(result: Result<portcullis_core::OAuthResponse, OAuthError>) -> Response {
    match result {
        Ok(response) => into_response(response),
        Err(error) => authorization_error(error),
    }
}

/// An error the client can be told about is redirected to it; any other (unknown
/// client, unregistered redirect URI) is shown to the user and never redirected.
fn authorization_error(error: OAuthError) -> Response {
    if error.is_redirect() {
        return into_response(error.into_response());
    }
    let body = format!(
        "<!doctype html><title>Authorization error</title><h1>This request cannot be processed</h1><p>{}: {}</p>",
        escape(error.code().as_str()),
        escape(error.description())
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

fn consent_page(client: &OAuth2Client, scope: &Scope, error: Option<&str>) -> Html<String> {
    let scopes: String = scope
        .iter()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    let error = error
        .map(|e| format!("<p role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    // No `action`: the form posts back to this very URL, query string included, so
    // the POST carries the same authorization request that was validated here.
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Authorize {name}</title></head>\
         <body><h1>{name} wants access to your account</h1><ul>{scopes}</ul>{error}\
         <form method=\"post\">\
         <label>Username <input name=\"username\" autocomplete=\"username\"></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
         <button name=\"decision\" value=\"allow\">Allow</button>\
         <button name=\"decision\" value=\"deny\">Deny</button>\
         </form></body></html>",
        name = escape(client.client_name()),
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The token endpoint.
async fn issue_token(State(state): State<AppState>, OAuth(request): OAuth) -> Response {
    into_response(state.server.create_token_response(&request).await)
}

/// A protected API: needs a valid bearer token with the `profile` scope.
async fn api_me(token: Bearer) -> Response {
    if let Err(rejection) = token.require_scope("profile") {
        return rejection.into_response();
    }
    Json(serde_json::json!({
        "sub": token.0.subject,
        "client_id": token.0.client_id,
        "scope": token.0.scope.to_string(),
        "aud": token.0.audience,
    }))
    .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::var("EXAMPLE_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:5000".into())
        .parse()?;
    let issuer = format!("http://{addr}");
    let store = Arc::new(AppStore::default());
    store.add_client(
        OAuth2Client {
            client_id: "demo-app".into(),
            client_secret: None,
            client_name: "Demo App".into(),
            redirect_uris: vec!["http://127.0.0.1:8000/callback".into()],
            default_redirect_uri: Some("http://127.0.0.1:8000/callback".into()),
            scope: "profile email".into(),
            response_type: "code".into(),
            grant_type: "authorization_code refresh_token".into(),
            token_endpoint_auth_method: "client_secret_basic".into(),
            audience: Vec::new(),
        },
        Some("demo-secret-change-me"),
    );
    store.add_user("alice", "wonderland");
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let verifier = "demo-verifier-0123456789-0123456789-0123456789";
    println!("Listening on {issuer}. Client 'demo-app' / 'demo-secret-change-me', user 'alice' / 'wonderland'.");
    println!(
        "Open {issuer}/oauth/authorize?response_type=code&client_id=demo-app&scope=profile&state=xyz&code_challenge={}&code_challenge_method=S256",
        portcullis_core::extensions::s256_challenge(verifier)
    );
    println!("then exchange the code with code_verifier={verifier}");
    axum::serve(listener, app(authorization_server(store, &issuer, false))).await?;
    Ok(())
}
