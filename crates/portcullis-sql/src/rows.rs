//! Row types as they sit in the tables, and their conversion to and from the public
//! records. Everything dialect-independent about the schema lives here: scopes are
//! stored as space-delimited text, lists as JSON arrays, booleans as the database's
//! boolean, timestamps as 64-bit UTC seconds.

use portcullis_core::{AuthorizationCodeRecord, ClientRecord, Scope, TokenRecord};

use crate::error::SqlError;
use crate::records::{LoginThrottle, SessionRecord, UserRecord};

#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    client_id: String,
    client_secret_hash: Option<String>,
    client_name: String,
    redirect_uris: String,
    scope: String,
    grant_types: String,
    response_types: String,
    token_endpoint_auth_method: String,
    audience: String,
    resource_server_audience: Option<String>,
}

impl ClientRow {
    pub(crate) fn into_record(self) -> Result<ClientRecord, SqlError> {
        Ok(ClientRecord {
            redirect_uris: list_from_json(&self.redirect_uris, "redirect_uris", &self.client_id)?,
            grant_types: list_from_json(&self.grant_types, "grant_types", &self.client_id)?,
            response_types: list_from_json(
                &self.response_types,
                "response_types",
                &self.client_id,
            )?,
            scope: scope_from_text(&self.scope)?,
            audience: list_from_json(&self.audience, "audience", &self.client_id)?,
            resource_server_audience: self.resource_server_audience,
            client_id: self.client_id,
            client_secret_hash: self.client_secret_hash,
            client_name: self.client_name,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    access_token_hash: String,
    refresh_token_hash: Option<String>,
    client_id: String,
    scope: String,
    subject: Option<String>,
    grant_type: String,
    grant_id: String,
    issued_at: i64,
    expires_in: i64,
    refresh_token_expires_at: Option<i64>,
    revoked: bool,
    audience: String,
    grant_expires_at: Option<i64>,
}

impl TokenRow {
    pub(crate) fn into_record(self) -> Result<TokenRecord, SqlError> {
        Ok(TokenRecord {
            audience: list_from_json(&self.audience, "audience", &self.client_id)?,
            access_token_hash: self.access_token_hash,
            refresh_token_hash: self.refresh_token_hash,
            client_id: self.client_id,
            scope: scope_from_text(&self.scope)?,
            subject: self.subject,
            grant_type: self.grant_type,
            grant_id: self.grant_id,
            issued_at: self.issued_at,
            expires_in: self.expires_in,
            refresh_token_expires_at: self.refresh_token_expires_at,
            grant_expires_at: self.grant_expires_at,
            revoked: self.revoked,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CodeRow {
    code_hash: String,
    client_id: String,
    redirect_uri: Option<String>,
    scope: String,
    subject: String,
    nonce: Option<String>,
    auth_time: Option<i64>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    issued_at: i64,
    expires_at: i64,
    grant_id: String,
}

impl CodeRow {
    pub(crate) fn into_record(self) -> Result<AuthorizationCodeRecord, SqlError> {
        Ok(AuthorizationCodeRecord {
            code_hash: self.code_hash,
            client_id: self.client_id,
            redirect_uri: self.redirect_uri,
            scope: scope_from_text(&self.scope)?,
            subject: self.subject,
            nonce: self.nonce,
            auth_time: self.auth_time,
            code_challenge: self.code_challenge,
            code_challenge_method: self.code_challenge_method,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            grant_id: self.grant_id,
        })
    }
}

/// A user with the password hash, which never leaves the crate.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    subject: String,
    username: String,
    email: Option<String>,
    name: Option<String>,
    created_at: i64,
    pub(crate) password_hash: String,
    disabled: bool,
}

impl UserRow {
    pub(crate) fn into_record(self) -> UserRecord {
        UserRecord {
            subject: self.subject,
            username: self.username,
            email: self.email,
            name: self.name,
            created_at: self.created_at,
            disabled: self.disabled,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id_hash: String,
    subject: Option<String>,
    csrf_token: String,
    auth_time: Option<i64>,
    created_at: i64,
    expires_at: i64,
}

impl SessionRow {
    pub(crate) fn into_record(self) -> SessionRecord {
        SessionRecord {
            id_hash: self.id_hash,
            subject: self.subject,
            csrf_token: self.csrf_token,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ThrottleRow {
    failures: i64,
    pending: i64,
    window_start: i64,
    last_failure_at: i64,
}

impl ThrottleRow {
    pub(crate) fn into_record(self) -> LoginThrottle {
        let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        LoginThrottle {
            failures: count(self.failures),
            pending: count(self.pending),
            window_start: self.window_start,
            last_failure_at: self.last_failure_at,
        }
    }
}

/// A user's subject and username.
#[derive(sqlx::FromRow)]
pub(crate) struct NameRow {
    pub(crate) subject: String,
    pub(crate) username: String,
}

/// One text column: a scope, a subject.
#[derive(sqlx::FromRow)]
pub(crate) struct TextRow {
    pub(crate) value: String,
}

/// A stored scope; the text was written by [`Scope`]'s `Display`.
pub(crate) fn scope_from_text(text: &str) -> Result<Scope, SqlError> {
    Scope::parse(text)
        .map_err(|e| SqlError::Corrupt(format!("a stored scope is invalid: {}", e.description())))
}

/// A list column (JSON array of strings).
pub(crate) fn list_to_json(list: &[String]) -> Result<String, SqlError> {
    serde_json::to_string(list).map_err(|e| SqlError::Corrupt(e.to_string()))
}

fn list_from_json(text: &str, column: &str, client_id: &str) -> Result<Vec<String>, SqlError> {
    if text == "[]" {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|e| {
        SqlError::Corrupt(format!(
            "column {column} of client '{client_id}' is not a JSON list of strings: {e}"
        ))
    })
}

/// The same rows read through rusqlite (the SQLite hot path, `sqlite_fast`), by column
/// position: the order of `CLIENT_COLUMNS`, `TOKEN_COLUMNS` and `CODE_COLUMNS` in
/// `repository.rs` (a test checks that the two agree).
impl ClientRow {
    pub(crate) fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            client_id: row.get(0)?,
            client_secret_hash: row.get(1)?,
            client_name: row.get(2)?,
            redirect_uris: row.get(3)?,
            scope: row.get(4)?,
            grant_types: row.get(5)?,
            response_types: row.get(6)?,
            token_endpoint_auth_method: row.get(7)?,
            audience: row.get(8)?,
            resource_server_audience: row.get(9)?,
        })
    }
}

impl TokenRow {
    pub(crate) fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            access_token_hash: row.get(0)?,
            refresh_token_hash: row.get(1)?,
            client_id: row.get(2)?,
            scope: row.get(3)?,
            subject: row.get(4)?,
            grant_type: row.get(5)?,
            grant_id: row.get(6)?,
            issued_at: row.get(7)?,
            expires_in: row.get(8)?,
            refresh_token_expires_at: row.get(9)?,
            revoked: row.get(10)?,
            audience: row.get(11)?,
            grant_expires_at: row.get(12)?,
        })
    }
}

impl CodeRow {
    pub(crate) fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            code_hash: row.get(0)?,
            client_id: row.get(1)?,
            redirect_uri: row.get(2)?,
            scope: row.get(3)?,
            subject: row.get(4)?,
            nonce: row.get(5)?,
            auth_time: row.get(6)?,
            code_challenge: row.get(7)?,
            code_challenge_method: row.get(8)?,
            issued_at: row.get(9)?,
            expires_at: row.get(10)?,
            grant_id: row.get(11)?,
        })
    }
}
