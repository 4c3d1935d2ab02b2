//! The schema as the code sees it, written once for both databases: the column lists,
//! the values each record binds, and how each row reads back into a record.
//!
//! Statements are [`Query`] values — SQL text with `$1`, `$2`… placeholders and a list
//! of [`Value`]s — that either backend runs (`crate::sqlite` renumbers the
//! placeholders for SQLite). Rows read back through [`Row`], which both drivers'
//! rows and the owned [`OwnedRow`] implement, so every decoder below serves SQLite and
//! PostgreSQL alike.
//!
//! What lives where: the columns a store looks records up or filters by are columns;
//! everything else of a record is one JSON column (`clients.metadata`,
//! `tokens.extras`, `authorization_codes.extras`), so that a new field is a struct
//! change and no migration. Scopes are stored as space-delimited text, lists as JSON
//! arrays, timestamps as 64-bit UTC seconds.

use std::borrow::Cow;

use portcullis_core::model::{ClientMetadata, Extras};
use portcullis_core::{
    AuthorizationCodeRecord, ClientRecord, PendingAuthorization, Scope, TokenRecord,
};

use crate::error::SqlError;
use crate::records::{LoginThrottle, SessionRecord, SigningKeyRecord, UserRecord};

/// A value bound to a placeholder. Nulls carry their type, as PostgreSQL wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(Some(text.to_owned()))
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Text(Some(text))
    }
}

impl From<Option<&str>> for Value {
    fn from(text: Option<&str>) -> Self {
        Value::Text(text.map(str::to_owned))
    }
}

impl From<Option<String>> for Value {
    fn from(text: Option<String>) -> Self {
        Value::Text(text)
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Int(Some(number))
    }
}

impl From<Option<i64>> for Value {
    fn from(number: Option<i64>) -> Self {
        Value::Int(number)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

/// A statement: SQL with `$n` placeholders, and the values they take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) sql: Cow<'static, str>,
    pub(crate) args: Vec<Value>,
}

impl Query {
    /// A statement of `sql`, with no values yet.
    pub(crate) fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    /// Binds the next placeholder.
    pub(crate) fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }
}

/// A row of either driver, read by column position.
pub(crate) trait Row {
    /// A text column.
    fn text(&self, index: usize) -> Result<String, SqlError>;
    /// A nullable text column.
    fn opt_text(&self, index: usize) -> Result<Option<String>, SqlError>;
    /// An integer column.
    fn int(&self, index: usize) -> Result<i64, SqlError>;
    /// A nullable integer column.
    fn opt_int(&self, index: usize) -> Result<Option<i64>, SqlError>;
    /// A boolean column.
    fn boolean(&self, index: usize) -> Result<bool, SqlError>;
}

/// A row read out of a driver, for results that outlive the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedRow(pub(crate) Vec<Value>);

impl OwnedRow {
    fn get(&self, index: usize) -> Result<&Value, SqlError> {
        self.0
            .get(index)
            .ok_or_else(|| SqlError::Corrupt(format!("a row has no column {index}")))
    }
}

fn mismatch(index: usize, wanted: &str) -> SqlError {
    SqlError::Corrupt(format!("column {index} is not {wanted}"))
}

impl Row for OwnedRow {
    fn text(&self, index: usize) -> Result<String, SqlError> {
        self.opt_text(index)?
            .ok_or_else(|| mismatch(index, "non-null text"))
    }

    fn opt_text(&self, index: usize) -> Result<Option<String>, SqlError> {
        // A NULL read from SQLite carries no type: any typed NULL is a NULL.
        match self.get(index)? {
            Value::Text(text) => Ok(text.clone()),
            Value::Int(None) => Ok(None),
            _ => Err(mismatch(index, "text")),
        }
    }

    fn int(&self, index: usize) -> Result<i64, SqlError> {
        self.opt_int(index)?
            .ok_or_else(|| mismatch(index, "a non-null integer"))
    }

    fn opt_int(&self, index: usize) -> Result<Option<i64>, SqlError> {
        match self.get(index)? {
            Value::Int(number) => Ok(*number),
            Value::Text(None) => Ok(None),
            Value::Bool(flag) => Ok(Some(i64::from(*flag))),
            _ => Err(mismatch(index, "an integer")),
        }
    }

    fn boolean(&self, index: usize) -> Result<bool, SqlError> {
        match self.get(index)? {
            Value::Bool(flag) => Ok(*flag),
            Value::Int(Some(number)) => Ok(*number != 0),
            _ => Err(mismatch(index, "a boolean")),
        }
    }
}

/// What one statement of a transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatementResult {
    /// Rows changed.
    pub(crate) rows_affected: u64,
    /// Rows returned (`RETURNING`, `SELECT`).
    pub(crate) rows: Vec<OwnedRow>,
}

// ---- clients ----

/// The client columns, in the order [`client_from_row`] reads them.
pub(crate) const CLIENT_COLUMNS: &str =
    "client_id, client_secret_hash, client_name, redirect_uris, scope, grant_types, \
     response_types, token_endpoint_auth_method, audience, resource_server_audience, metadata";

/// `INSERT` of a client; its values are [`client_args`] and then `created_at`.
pub(crate) const INSERT_CLIENT: &str = "INSERT INTO clients (client_id, client_secret_hash, \
     client_name, redirect_uris, scope, grant_types, response_types, token_endpoint_auth_method, \
     audience, resource_server_audience, metadata, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// The values of a client, in [`CLIENT_COLUMNS`] order.
pub(crate) fn client_args(client: &ClientRecord) -> Result<Vec<Value>, SqlError> {
    let metadata = serde_json::to_string(&client.metadata)
        .map_err(|e| SqlError::Corrupt(format!("client metadata cannot be stored: {e}")))?;
    Ok(vec![
        client.client_id.as_str().into(),
        client.client_secret_hash.as_deref().into(),
        client.client_name.as_str().into(),
        list_to_json(&client.redirect_uris)?.into(),
        client.scope.to_string().into(),
        list_to_json(&client.grant_types)?.into(),
        list_to_json(&client.response_types)?.into(),
        client.token_endpoint_auth_method.as_str().into(),
        list_to_json(&client.audience)?.into(),
        client.resource_server_audience.as_deref().into(),
        metadata.into(),
    ])
}

/// A client row ([`CLIENT_COLUMNS`]) as a record.
pub(crate) fn client_from_row(row: &impl Row) -> Result<ClientRecord, SqlError> {
    let client_id = row.text(0)?;
    let list = |index, column| list_from_json(&row.text(index)?, column, &client_id);
    let mut client = ClientRecord::new(client_id.clone());
    client.redirect_uris = list(3, "redirect_uris")?;
    client.grant_types = list(5, "grant_types")?;
    client.response_types = list(6, "response_types")?;
    client.audience = list(8, "audience")?;
    client.client_secret_hash = row.opt_text(1)?;
    client.client_name = row.text(2)?;
    client.scope = scope_from_text(&row.text(4)?)?;
    client.token_endpoint_auth_method = row.text(7)?;
    client.resource_server_audience = row.opt_text(9)?;
    client.metadata = metadata_from_json(&row.text(10)?, &client_id)?;
    Ok(client)
}

fn metadata_from_json(text: &str, client_id: &str) -> Result<ClientMetadata, SqlError> {
    if text.is_empty() || text == "{}" {
        return Ok(ClientMetadata::default());
    }
    serde_json::from_str(text).map_err(|e| {
        SqlError::Corrupt(format!(
            "the metadata of client '{client_id}' is not valid JSON metadata: {e}"
        ))
    })
}

// ---- tokens ----

/// The token columns, in the order [`token_from_row`] reads them.
pub(crate) const TOKEN_COLUMNS: &str =
    "access_token_hash, refresh_token_hash, client_id, scope, subject, grant_type, grant_id, \
     issued_at, expires_in, refresh_token_expires_at, revoked, audience, extras";

/// The columns a token is inserted with: [`TOKEN_COLUMNS`] and `expires_at`.
pub(crate) const TOKEN_INSERT_COLUMNS: &str =
    "access_token_hash, refresh_token_hash, client_id, scope, subject, grant_type, grant_id, \
     issued_at, expires_in, refresh_token_expires_at, revoked, audience, extras, expires_at";

/// How many values a token inserts ([`TOKEN_INSERT_COLUMNS`]).
pub(crate) const TOKEN_WIDTH: usize = 14;

/// The values a token inserts, in [`TOKEN_INSERT_COLUMNS`] order.
pub(crate) fn token_args(token: &TokenRecord) -> Result<[Value; TOKEN_WIDTH], SqlError> {
    Ok([
        token.access_token_hash.as_str().into(),
        token.refresh_token_hash.as_deref().into(),
        token.client_id.as_str().into(),
        token.scope.to_string().into(),
        token.subject.as_deref().into(),
        token.grant_type.as_str().into(),
        token.grant_id.as_str().into(),
        token.issued_at.into(),
        token.expires_in.into(),
        token.refresh_token_expires_at.into(),
        token.revoked.into(),
        list_to_json(&token.audience)?.into(),
        token.extras.to_json().into(),
        token.issued_at.saturating_add(token.expires_in).into(),
    ])
}

/// A token row ([`TOKEN_COLUMNS`]) as a record.
pub(crate) fn token_from_row(row: &impl Row) -> Result<TokenRecord, SqlError> {
    let client_id = row.text(2)?;
    let mut token = TokenRecord::new(
        row.text(0)?,
        client_id.clone(),
        row.text(5)?,
        row.text(6)?,
        row.int(7)?,
        row.int(8)?,
    );
    token.refresh_token_hash = row.opt_text(1)?;
    token.scope = scope_from_text(&row.text(3)?)?;
    token.subject = row.opt_text(4)?;
    token.refresh_token_expires_at = row.opt_int(9)?;
    token.revoked = row.boolean(10)?;
    token.audience = list_from_json(&row.text(11)?, "audience", &client_id)?;
    token.extras = extras_from_json(&row.text(12)?)?;
    Ok(token)
}

// ---- authorization codes ----

/// The code columns, in the order [`code_from_row`] reads them.
pub(crate) const CODE_COLUMNS: &str =
    "code_hash, client_id, redirect_uri, scope, subject, nonce, auth_time, code_challenge, \
     code_challenge_method, issued_at, expires_at, grant_id, extras";

/// `INSERT` of an unused code; its values are [`code_args`].
pub(crate) const INSERT_CODE: &str = "INSERT INTO authorization_codes (code_hash, client_id, \
     redirect_uri, scope, subject, nonce, auth_time, code_challenge, code_challenge_method, \
     issued_at, expires_at, grant_id, extras, used) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, FALSE)";

/// The values of a code, in [`CODE_COLUMNS`] order.
pub(crate) fn code_args(code: &AuthorizationCodeRecord) -> Vec<Value> {
    vec![
        code.code_hash.as_str().into(),
        code.client_id.as_str().into(),
        code.redirect_uri.as_deref().into(),
        code.scope.to_string().into(),
        code.subject.as_str().into(),
        code.nonce.as_deref().into(),
        code.auth_time.into(),
        code.code_challenge.as_deref().into(),
        code.code_challenge_method.as_deref().into(),
        code.issued_at.into(),
        code.expires_at.into(),
        code.grant_id.as_str().into(),
        code.extras.to_json().into(),
    ]
}

/// A code row ([`CODE_COLUMNS`]) as a record.
pub(crate) fn code_from_row(row: &impl Row) -> Result<AuthorizationCodeRecord, SqlError> {
    let mut code = AuthorizationCodeRecord::new(
        row.text(1)?,
        row.text(4)?,
        row.text(11)?,
        row.int(9)?,
        row.int(10)?,
    );
    code.code_hash = row.text(0)?;
    code.redirect_uri = row.opt_text(2)?;
    code.scope = scope_from_text(&row.text(3)?)?;
    code.nonce = row.opt_text(5)?;
    code.auth_time = row.opt_int(6)?;
    code.code_challenge = row.opt_text(7)?;
    code.code_challenge_method = row.opt_text(8)?;
    code.extras = extras_from_json(&row.text(12)?)?;
    Ok(code)
}

// ---- pending authorization requests ----

/// The columns of a pending authorization request, in the order
/// [`pending_from_row`] reads them.
pub(crate) const PENDING_COLUMNS: &str =
    "id_hash, client_id, params, binding_hash, created_at, expires_at, scope";

/// The values of a pending request, in [`PENDING_COLUMNS`] order.
pub(crate) fn pending_args(pending: &PendingAuthorization) -> Result<Vec<Value>, SqlError> {
    let params = serde_json::to_string(&pending.params)
        .map_err(|e| SqlError::Corrupt(format!("request parameters cannot be stored: {e}")))?;
    Ok(vec![
        pending.id_hash.as_str().into(),
        pending.client_id.as_str().into(),
        params.into(),
        pending.binding_hash.as_str().into(),
        pending.created_at.into(),
        pending.expires_at.into(),
        pending.scope.to_string().into(),
    ])
}

/// A pending request row ([`PENDING_COLUMNS`]) as a record.
pub(crate) fn pending_from_row(row: &impl Row) -> Result<PendingAuthorization, SqlError> {
    let params: Vec<(String, String)> = serde_json::from_str(&row.text(2)?).map_err(|e| {
        SqlError::Corrupt(format!("a pending request's parameters are not valid: {e}"))
    })?;
    let mut pending = PendingAuthorization::new(
        row.text(0)?,
        row.text(1)?,
        params,
        row.text(3)?,
        row.int(4)?,
        row.int(5)?,
    );
    pending.scope = scope_from_text(&row.text(6)?)?;
    Ok(pending)
}

// ---- users, sessions, throttling ----

/// The user columns, in the order [`user_from_row`] reads them (the password hash
/// last: it never leaves the crate).
pub(crate) const USER_COLUMNS: &str =
    "subject, username, email, name, created_at, disabled, claims, password_hash";

/// A user row ([`USER_COLUMNS`]) as a record and its password hash.
pub(crate) fn user_from_row(row: &impl Row) -> Result<(UserRecord, String), SqlError> {
    let mut user = UserRecord::new(row.text(0)?, row.text(1)?, row.int(4)?);
    user.email = row.opt_text(2)?;
    user.name = row.opt_text(3)?;
    user.disabled = row.boolean(5)?;
    user.claims = claims_from_json(&row.text(6)?, &user.subject)?;
    Ok((user, row.text(7)?))
}

/// A user's `claims` column: a JSON object.
fn claims_from_json(
    text: &str,
    subject: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, SqlError> {
    serde_json::from_str(text).map_err(|e| {
        SqlError::Corrupt(format!(
            "the claims of user {subject} are not a JSON object: {e}"
        ))
    })
}

/// The session columns, in the order [`session_from_row`] reads them.
pub(crate) const SESSION_COLUMNS: &str =
    "id_hash, subject, csrf_token, auth_time, created_at, expires_at, sid";

/// The values of a session, in [`SESSION_COLUMNS`] order.
pub(crate) fn session_args(session: &SessionRecord) -> Vec<Value> {
    vec![
        session.id_hash.as_str().into(),
        session.subject.as_deref().into(),
        session.csrf_token.as_str().into(),
        session.auth_time.into(),
        session.created_at.into(),
        session.expires_at.into(),
        session.sid.as_deref().into(),
    ]
}

/// A session row ([`SESSION_COLUMNS`]) as a record.
pub(crate) fn session_from_row(row: &impl Row) -> Result<SessionRecord, SqlError> {
    let mut session = SessionRecord::new(row.text(0)?, row.text(2)?, row.int(4)?, row.int(5)?);
    session.subject = row.opt_text(1)?;
    session.auth_time = row.opt_int(3)?;
    session.sid = row.opt_text(6)?;
    Ok(session)
}

/// The throttle columns, in the order [`throttle_from_row`] reads them.
pub(crate) const THROTTLE_COLUMNS: &str = "failures, pending, window_start, last_failure_at";

/// A throttle row ([`THROTTLE_COLUMNS`]) as a record.
pub(crate) fn throttle_from_row(row: &impl Row) -> Result<LoginThrottle, SqlError> {
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    Ok(LoginThrottle::new(
        count(row.int(0)?),
        count(row.int(1)?),
        row.int(2)?,
        row.int(3)?,
    ))
}

// ---- signing keys ----

/// The signing key columns, in the order [`signing_key_from_row`] reads them.
pub(crate) const SIGNING_KEY_COLUMNS: &str = "kid, alg, generation, public_jwk, private_key, \
     created_at, activates_at, retires_at, expires_at";

/// The values of a signing key, in [`SIGNING_KEY_COLUMNS`] order.
pub(crate) fn signing_key_args(key: &SigningKeyRecord) -> Vec<Value> {
    vec![
        key.kid.as_str().into(),
        key.alg.as_str().into(),
        key.generation.into(),
        key.public_jwk.as_str().into(),
        key.private_key.as_str().into(),
        key.created_at.into(),
        key.activates_at.into(),
        key.retires_at.into(),
        key.expires_at.into(),
    ]
}

/// A signing key row ([`SIGNING_KEY_COLUMNS`]) as a record.
pub(crate) fn signing_key_from_row(row: &impl Row) -> Result<SigningKeyRecord, SqlError> {
    let mut key = SigningKeyRecord::new(
        row.text(0)?,
        row.text(1)?,
        row.int(2)?,
        row.text(3)?,
        row.text(4)?,
        row.int(5)?,
        row.int(6)?,
    );
    key.retires_at = row.opt_int(7)?;
    key.expires_at = row.opt_int(8)?;
    Ok(key)
}

// ---- column formats ----

/// A stored scope; the text was written by [`Scope`]'s `Display`.
pub(crate) fn scope_from_text(text: &str) -> Result<Scope, SqlError> {
    Scope::parse(text)
        .map_err(|e| SqlError::Corrupt(format!("a stored scope is invalid: {}", e.description())))
}

/// A list column (JSON array of strings).
pub(crate) fn list_to_json(list: &[String]) -> Result<String, SqlError> {
    if list.is_empty() {
        return Ok("[]".to_owned());
    }
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

fn extras_from_json(text: &str) -> Result<Extras, SqlError> {
    Extras::from_json(text)
        .map_err(|e| SqlError::Corrupt(format!("a record's extras are not a JSON object: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn columns(list: &str) -> usize {
        list.split(',').count()
    }

    /// The decoders read by position: the column lists and the values must agree.
    #[test]
    fn column_lists_match_the_binds_and_the_decoders() {
        let client = ClientRecord::new("c");
        assert_eq!(columns(CLIENT_COLUMNS), client_args(&client).unwrap().len());
        let mut token = TokenRecord::new("k", "c", "client_credentials", "g", 1, 2);
        token.extras.insert_raw("x", serde_json::json!(1));
        assert_eq!(columns(TOKEN_INSERT_COLUMNS), TOKEN_WIDTH);
        assert_eq!(columns(TOKEN_COLUMNS) + 1, TOKEN_WIDTH);
        let code = AuthorizationCodeRecord::new("c", "alice", "g", 1, 2);
        assert_eq!(columns(CODE_COLUMNS), code_args(&code).len());
        // A round trip through owned rows, as a backend hands them over.
        let row = OwnedRow(token_args(&token).unwrap()[..TOKEN_WIDTH - 1].to_vec());
        assert_eq!(token_from_row(&row).unwrap(), token);
        let row = OwnedRow(client_args(&client).unwrap());
        assert_eq!(client_from_row(&row).unwrap(), client);
        let row = OwnedRow(code_args(&code));
        assert_eq!(code_from_row(&row).unwrap(), code);
    }
}
