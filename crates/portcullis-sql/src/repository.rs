//! Every query of the store, written once for both databases.
//!
//! [`Repository`] is the object-safe interface [`SqlStore`](crate::SqlStore) holds
//! (`Arc<dyn Repository>`); [`Repo<DB>`] implements it for any sqlx database that
//! implements [`Dialect`], which is where SQLite and PostgreSQL differ (migrations).
//! The SQL itself is portable: `$n` placeholders (sqlx-sqlite accepts them),
//! `RETURNING`, `ON CONFLICT ... DO UPDATE`, `TRUE`/`FALSE` literals.
//!
//! Single-use operations are atomic in SQL, not in the application, so two racing
//! requests — even from two processes on one database — can never both win:
//!
//! - redeeming a code is one conditional `UPDATE ... WHERE used = FALSE RETURNING`;
//! - rotating a refresh token is a conditional `UPDATE ... WHERE revoked = FALSE`,
//!   followed by the new token's `INSERT` only when it changed one row, in one
//!   transaction.
//!
//! Those two and new tokens run in group-committed batches (see `token_writer`).
//!
//! Multi-statement operations run in a transaction whose first statement writes: on
//! SQLite that takes the write lock up front (waiting out `busy_timeout`) instead of
//! failing to upgrade a read lock; on PostgreSQL it locks the row.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use portcullis_core::{AuthorizationCodeRecord, ClientRecord, CodeRedemption, Scope, TokenRecord};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use crate::error::{conflict_or_database, for_client, SqlError};
use crate::records::{AttemptOutcome, LoginThrottle, SessionRecord, ThrottleReset, UserRecord};
use crate::rows::{
    list_to_json, scope_from_text, ClientRow, CodeRow, NameRow, SessionRow, TextRow, ThrottleRow,
    TokenRow, UserRow,
};
use crate::sqlite_fast::FastSqlite;
use crate::token_reader::{TokenColumn, TokenReader};
use crate::token_writer::TokenWriter;

/// What differs between the databases once connected.
pub(crate) trait Dialect: Database {
    /// Applies the embedded migrations of this database, idempotently.
    fn migrate(pool: &Pool<Self>) -> impl Future<Output = Result<(), SqlError>> + Send;

    /// How many rows a statement changed (each driver has its own result type).
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// The store's operations, independent of the database.
#[async_trait]
pub(crate) trait Repository: Send + Sync + 'static {
    async fn migrate(&self) -> Result<(), SqlError>;

    async fn insert_client(&self, client: &ClientRecord, now: i64) -> Result<(), SqlError>;
    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>, SqlError>;
    async fn list_clients(&self) -> Result<Vec<ClientRecord>, SqlError>;
    async fn delete_client(&self, client_id: &str) -> Result<bool, SqlError>;
    async fn set_client_secret_hash(&self, client_id: &str, hash: &str) -> Result<bool, SqlError>;

    async fn insert_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        password_hash: &str,
    ) -> Result<(), SqlError>;
    async fn get_user(&self, username_key: &str) -> Result<Option<UserRow>, SqlError>;
    async fn find_user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, SqlError>;
    async fn list_users(&self) -> Result<Vec<UserRecord>, SqlError>;
    async fn delete_user(&self, username_key: &str) -> Result<bool, SqlError>;
    async fn set_user_password_hash(
        &self,
        username_key: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool, SqlError>;
    async fn set_user_disabled(
        &self,
        username_key: &str,
        disabled: bool,
        now: i64,
    ) -> Result<bool, SqlError>;
    async fn users_without_key(&self) -> Result<Vec<(String, String)>, SqlError>;
    async fn set_username_key(&self, subject: &str, username_key: &str) -> Result<(), SqlError>;

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), SqlError>;
    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, SqlError>;
    async fn delete_session(&self, id_hash: &str) -> Result<(), SqlError>;

    async fn get_consent(&self, subject: &str, client_id: &str) -> Result<Option<Scope>, SqlError>;
    async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        scope: &Scope,
        now: i64,
    ) -> Result<(), SqlError>;

    async fn begin_login_attempt(
        &self,
        key_hash: &str,
        now: i64,
        window: i64,
        reset: ThrottleReset,
    ) -> Result<LoginThrottle, SqlError>;
    async fn end_login_attempt(
        &self,
        key_hash: &str,
        now: i64,
        window: i64,
        outcome: AttemptOutcome,
    ) -> Result<(), SqlError>;

    async fn purge_expired(&self, now: i64) -> Result<u64, SqlError>;

    async fn save_token(&self, token: TokenRecord) -> Result<(), SqlError>;
    async fn find_access_token(&self, hash: &str) -> Result<Option<TokenRecord>, SqlError>;
    async fn find_refresh_token(&self, hash: &str) -> Result<Option<TokenRecord>, SqlError>;
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &TokenRecord,
    ) -> Result<bool, SqlError>;
    async fn revoke_token(&self, access_token_hash: &str) -> Result<(), SqlError>;
    async fn revoke_grant(&self, grant_id: &str) -> Result<(), SqlError>;

    async fn save_authorization_code(&self, code: &AuthorizationCodeRecord)
        -> Result<(), SqlError>;
    async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        client_id: &str,
    ) -> Result<CodeRedemption<AuthorizationCodeRecord>, SqlError>;
}

/// `result.rows_affected_by::<DB>()`: [`Dialect::rows_affected`] as a method, so that
/// query chains read as usual.
trait RowsAffected {
    fn rows_affected_by<DB: Dialect<QueryResult = Self>>(&self) -> u64;
}

impl<T> RowsAffected for T {
    fn rows_affected_by<DB: Dialect<QueryResult = Self>>(&self) -> u64 {
        DB::rows_affected(self)
    }
}

/// The repository over sqlx pools: `pool` for reads, `writer` for writes. On SQLite
/// the writer pool holds a single connection, so writers queue in the pool (an async
/// wait) instead of colliding on the database lock (a sleeping busy-wait); on
/// PostgreSQL both are the same pool. New tokens go through [`TokenWriter`], which
/// commits them in groups.
pub(crate) struct Repo<DB: Database> {
    pool: Pool<DB>,
    writer: Pool<DB>,
    hot: HotPath,
}

/// Where the hot operations (token lookups and writes, rotations, redemptions) go.
enum HotPath {
    /// Group-committed writes and batched lookups through sqlx (PostgreSQL, in-memory
    /// SQLite).
    Sqlx(TokenWriter, TokenReader),
    /// rusqlite connections, without sqlx's thread hand-offs (SQLite files).
    Sqlite(Arc<FastSqlite>),
}

impl<DB> Repo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'r> TokenRow: FromRow<'r, DB::Row>,
    for<'r> CodeRow: FromRow<'r, DB::Row>,
{
    /// A repository reading from `pool` and writing through `writer`, with `writers`
    /// group-commit tasks for the hot writes and `readers` batching tasks for token
    /// lookups (so it must run inside a tokio runtime).
    pub(crate) fn new(pool: Pool<DB>, writer: Pool<DB>, writers: usize, readers: usize) -> Self {
        Self {
            hot: HotPath::Sqlx(
                TokenWriter::spawn(writer.clone(), writers),
                TokenReader::spawn(pool.clone(), readers),
            ),
            pool,
            writer,
        }
    }

    /// Tells SQLite's fast path that tokens changed outside its writer thread, so that
    /// no token lookup reuses a snapshot from before.
    fn note_token_write(&self) {
        if let HotPath::Sqlite(fast) = &self.hot {
            fast.note_write();
        }
    }

    /// A repository whose hot operations take SQLite's fast path.
    pub(crate) fn with_fast_sqlite(pool: Pool<DB>, writer: Pool<DB>, fast: FastSqlite) -> Self {
        Self {
            hot: HotPath::Sqlite(Arc::new(fast)),
            pool,
            writer,
        }
    }
}

/// Counts an attempt under a throttle key and returns the key's state. A row whose
/// last failure is `window` seconds old (`AFTER_QUIET`), or whose window began
/// `window` seconds ago (`FIXED_WINDOW`), starts over; attempts counted as pending on
/// a row nothing touched for a whole window (a process that died mid-check) are
/// forgotten.
fn begin_attempt_sql(reset: &str) -> String {
    format!(
        "INSERT INTO login_throttle \
         (throttle_key, failures, pending, window_start, last_failure_at, expires_at) \
         VALUES ($1, 0, 1, $2, 0, $2 + $3) \
         ON CONFLICT (throttle_key) DO UPDATE SET \
         failures = CASE WHEN {reset} THEN 0 ELSE login_throttle.failures END, \
         window_start = CASE WHEN {reset} THEN $2 ELSE login_throttle.window_start END, \
         last_failure_at = CASE WHEN {reset} THEN 0 ELSE login_throttle.last_failure_at END, \
         pending = CASE WHEN login_throttle.expires_at <= $2 THEN 1 \
         ELSE login_throttle.pending + 1 END, \
         expires_at = CASE WHEN login_throttle.expires_at > $2 + $3 \
         THEN login_throttle.expires_at ELSE $2 + $3 END \
         RETURNING failures, pending, window_start, last_failure_at"
    )
}

static BEGIN_ATTEMPT_AFTER_QUIET: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| begin_attempt_sql("login_throttle.last_failure_at <= $2 - $3"));
static BEGIN_ATTEMPT_FIXED_WINDOW: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| begin_attempt_sql("login_throttle.window_start <= $2 - $3"));

impl<DB> Repo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> TextRow: FromRow<'r, DB::Row>,
{
    /// The subject of the user whose username key is `username_key`.
    async fn subject_of(&self, username_key: &str) -> Result<Option<String>, SqlError> {
        Ok(sqlx::query_as::<DB, TextRow>(
            "SELECT subject AS value FROM users WHERE username_key = $1",
        )
        .bind(username_key)
        .fetch_optional(&self.writer)
        .await?
        .map(|row| row.value))
    }

    /// Records every grant of `subject` (its tokens' and its codes') as revoked, on its
    /// own commit before the tokens themselves are revoked: a token that a redemption
    /// or rotation racing this saves afterwards is then revoked at once (see
    /// `revoke_grant`).
    async fn remember_grants_of(&self, subject: &str, now: i64) -> Result<(), SqlError> {
        for sql in [
            "INSERT INTO revoked_grants (grant_id, revoked_at) \
             SELECT DISTINCT grant_id, $2 FROM tokens WHERE subject = $1 AND revoked = FALSE \
             ON CONFLICT (grant_id) DO NOTHING",
            "INSERT INTO revoked_grants (grant_id, revoked_at) \
             SELECT DISTINCT grant_id, $2 FROM authorization_codes WHERE subject = $1 \
             ON CONFLICT (grant_id) DO NOTHING",
        ] {
            sqlx::query::<DB>(sql)
                .bind(subject)
                .bind(now)
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }
}

/// Ends the sessions of `subject` and revokes its tokens and codes, in `tx`.
async fn end_sessions_and_grants<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    subject: &str,
) -> Result<(), SqlError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    for sql in [
        "DELETE FROM sessions WHERE subject = $1",
        "UPDATE tokens SET revoked = TRUE WHERE subject = $1 AND revoked = FALSE",
        "DELETE FROM authorization_codes WHERE subject = $1",
    ] {
        sqlx::query::<DB>(sql)
            .bind(subject)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) const CLIENT_COLUMNS: &str =
    "client_id, client_secret_hash, client_name, redirect_uris, scope, \
     grant_types, response_types, token_endpoint_auth_method, audience, resource_server_audience";

pub(crate) const TOKEN_COLUMNS: &str =
    "access_token_hash, refresh_token_hash, client_id, scope, subject, \
     grant_type, grant_id, issued_at, expires_in, refresh_token_expires_at, revoked, audience, \
     grant_expires_at";

pub(crate) const CODE_COLUMNS: &str =
    "code_hash, client_id, redirect_uri, scope, subject, nonce, auth_time, \
     code_challenge, code_challenge_method, issued_at, expires_at, grant_id";

const USER_COLUMNS: &str = "subject, username, email, name, created_at, password_hash, disabled";

const SESSION_COLUMNS: &str = "id_hash, subject, csrf_token, auth_time, created_at, expires_at";

#[async_trait]
impl<DB> Repository for Repo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'r> ClientRow: FromRow<'r, DB::Row>,
    for<'r> TokenRow: FromRow<'r, DB::Row>,
    for<'r> CodeRow: FromRow<'r, DB::Row>,
    for<'r> UserRow: FromRow<'r, DB::Row>,
    for<'r> SessionRow: FromRow<'r, DB::Row>,
    for<'r> ThrottleRow: FromRow<'r, DB::Row>,
    for<'r> TextRow: FromRow<'r, DB::Row>,
    for<'r> NameRow: FromRow<'r, DB::Row>,
{
    async fn migrate(&self) -> Result<(), SqlError> {
        DB::migrate(&self.writer).await
    }

    // ---- clients ----

    async fn insert_client(&self, client: &ClientRecord, now: i64) -> Result<(), SqlError> {
        let redirect_uris = list_to_json(&client.redirect_uris)?;
        let grant_types = list_to_json(&client.grant_types)?;
        let response_types = list_to_json(&client.response_types)?;
        let scope = client.scope.to_string();
        let audience = list_to_json(&client.audience)?;
        sqlx::query::<DB>(
            "INSERT INTO clients (client_id, client_secret_hash, client_name, redirect_uris, scope, \
             grant_types, response_types, token_endpoint_auth_method, created_at, audience, \
             resource_server_audience) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(client.client_id.as_str())
        .bind(client.client_secret_hash.as_deref())
        .bind(client.client_name.as_str())
        .bind(redirect_uris.as_str())
        .bind(scope.as_str())
        .bind(grant_types.as_str())
        .bind(response_types.as_str())
        .bind(client.token_endpoint_auth_method.as_str())
        .bind(now)
        .bind(audience.as_str())
        .bind(client.resource_server_audience.as_deref())
        .execute(&self.writer)
        .await
        .map_err(|e| {
            conflict_or_database(e, || {
                format!("a client with client_id '{}' already exists", client.client_id)
            })
        })?;
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>, SqlError> {
        if let HotPath::Sqlite(fast) = &self.hot {
            return fast.get_client(client_id);
        }
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1");
        sqlx::query_as::<DB, ClientRow>(&sql)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?
            .map(ClientRow::into_record)
            .transpose()
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>, SqlError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY seq");
        sqlx::query_as::<DB, ClientRow>(&sql)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(ClientRow::into_record)
            .collect()
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool, SqlError> {
        let mut tx = self.writer.begin().await?;
        for sql in [
            "DELETE FROM tokens WHERE client_id = $1",
            "DELETE FROM authorization_codes WHERE client_id = $1",
            "DELETE FROM consents WHERE client_id = $1",
        ] {
            sqlx::query::<DB>(sql)
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
        }
        let deleted = sqlx::query::<DB>("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected_by::<DB>();
        tx.commit().await?;
        self.note_token_write();
        Ok(deleted > 0)
    }

    async fn set_client_secret_hash(&self, client_id: &str, hash: &str) -> Result<bool, SqlError> {
        let updated =
            sqlx::query::<DB>("UPDATE clients SET client_secret_hash = $2 WHERE client_id = $1")
                .bind(client_id)
                .bind(hash)
                .execute(&self.writer)
                .await?
                .rows_affected_by::<DB>();
        Ok(updated > 0)
    }

    // ---- users ----

    async fn insert_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        password_hash: &str,
    ) -> Result<(), SqlError> {
        sqlx::query::<DB>(
            "INSERT INTO users (subject, username, username_key, email, name, password_hash, \
             created_at, disabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.subject.as_str())
        .bind(user.username.as_str())
        .bind(username_key)
        .bind(user.email.as_deref())
        .bind(user.name.as_deref())
        .bind(password_hash)
        .bind(user.created_at)
        .bind(user.disabled)
        .execute(&self.writer)
        .await
        .map_err(|e| {
            conflict_or_database(e, || {
                format!(
                    "a user named '{}' already exists (usernames are compared ignoring case and width)",
                    user.username
                )
            })
        })?;
        Ok(())
    }

    async fn get_user(&self, username_key: &str) -> Result<Option<UserRow>, SqlError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username_key = $1");
        Ok(sqlx::query_as::<DB, UserRow>(&sql)
            .bind(username_key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn find_user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, SqlError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE subject = $1");
        Ok(sqlx::query_as::<DB, UserRow>(&sql)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?
            .map(UserRow::into_record))
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, SqlError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY seq");
        Ok(sqlx::query_as::<DB, UserRow>(&sql)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(UserRow::into_record)
            .collect())
    }

    async fn delete_user(&self, username_key: &str) -> Result<bool, SqlError> {
        let mut tx = self.writer.begin().await?;
        let deleted = sqlx::query_as::<DB, TextRow>(
            "DELETE FROM users WHERE username_key = $1 RETURNING subject AS value",
        )
        .bind(username_key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(TextRow { value: subject }) = deleted else {
            tx.rollback().await?;
            return Ok(false);
        };
        for sql in [
            "DELETE FROM tokens WHERE subject = $1",
            "DELETE FROM authorization_codes WHERE subject = $1",
            "DELETE FROM sessions WHERE subject = $1",
            "DELETE FROM consents WHERE subject = $1",
        ] {
            sqlx::query::<DB>(sql)
                .bind(subject.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.note_token_write();
        Ok(true)
    }

    async fn set_user_password_hash(
        &self,
        username_key: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool, SqlError> {
        let Some(subject) = self.subject_of(username_key).await? else {
            return Ok(false);
        };
        self.remember_grants_of(&subject, now).await?;
        let mut tx = self.writer.begin().await?;
        sqlx::query::<DB>("UPDATE users SET password_hash = $2 WHERE subject = $1")
            .bind(subject.as_str())
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        // A new password ends every sign-in and every grant made with the old one.
        end_sessions_and_grants::<DB>(&mut tx, &subject).await?;
        tx.commit().await?;
        self.note_token_write();
        Ok(true)
    }

    async fn set_user_disabled(
        &self,
        username_key: &str,
        disabled: bool,
        now: i64,
    ) -> Result<bool, SqlError> {
        let Some(subject) = self.subject_of(username_key).await? else {
            return Ok(false);
        };
        if disabled {
            self.remember_grants_of(&subject, now).await?;
        }
        let mut tx = self.writer.begin().await?;
        sqlx::query::<DB>("UPDATE users SET disabled = $2 WHERE subject = $1")
            .bind(subject.as_str())
            .bind(disabled)
            .execute(&mut *tx)
            .await?;
        if disabled {
            end_sessions_and_grants::<DB>(&mut tx, &subject).await?;
        }
        tx.commit().await?;
        self.note_token_write();
        Ok(true)
    }

    async fn users_without_key(&self) -> Result<Vec<(String, String)>, SqlError> {
        Ok(sqlx::query_as::<DB, NameRow>(
            "SELECT subject, username FROM users WHERE username_key IS NULL ORDER BY seq",
        )
        .fetch_all(&self.writer)
        .await?
        .into_iter()
        .map(|row| (row.subject, row.username))
        .collect())
    }

    async fn set_username_key(&self, subject: &str, username_key: &str) -> Result<(), SqlError> {
        sqlx::query::<DB>("UPDATE users SET username_key = $2 WHERE subject = $1")
            .bind(subject)
            .bind(username_key)
            .execute(&self.writer)
            .await
            .map_err(|e| {
                conflict_or_database(e, || "another user has the same normalized name".to_owned())
            })?;
        Ok(())
    }

    // ---- sessions ----

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), SqlError> {
        sqlx::query::<DB>(
            "INSERT INTO sessions (id_hash, subject, csrf_token, auth_time, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.id_hash.as_str())
        .bind(session.subject.as_deref())
        .bind(session.csrf_token.as_str())
        .bind(session.auth_time)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.writer)
        .await
        .map_err(|e| conflict_or_database(e, || "a session with this id already exists".to_owned()))?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, SqlError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1");
        Ok(sqlx::query_as::<DB, SessionRow>(&sql)
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?
            .map(SessionRow::into_record))
    }

    async fn delete_session(&self, id_hash: &str) -> Result<(), SqlError> {
        sqlx::query::<DB>("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    // ---- consent ----

    async fn get_consent(&self, subject: &str, client_id: &str) -> Result<Option<Scope>, SqlError> {
        sqlx::query_as::<DB, TextRow>(
            "SELECT scope AS value FROM consents WHERE subject = $1 AND client_id = $2",
        )
        .bind(subject)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| scope_from_text(&row.value))
        .transpose()
    }

    async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        scope: &Scope,
        now: i64,
    ) -> Result<(), SqlError> {
        let mut tx = self.writer.begin().await?;
        // A write first: it creates the row or locks the existing one, and returns the
        // scope remembered so far; the union is then written in the same transaction.
        let remembered = sqlx::query_as::<DB, TextRow>(
            "INSERT INTO consents (subject, client_id, scope, created_at, updated_at) \
             VALUES ($1, $2, '', $3, $3) \
             ON CONFLICT (subject, client_id) DO UPDATE SET updated_at = excluded.updated_at \
             RETURNING scope AS value",
        )
        .bind(subject)
        .bind(client_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let remembered = scope_from_text(&remembered.value)?;
        let union = Scope::from_tokens(remembered.iter().chain(scope.iter()));
        let union = union.to_string();
        sqlx::query::<DB>("UPDATE consents SET scope = $3 WHERE subject = $1 AND client_id = $2")
            .bind(subject)
            .bind(client_id)
            .bind(union.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- login throttling ----

    async fn begin_login_attempt(
        &self,
        key_hash: &str,
        now: i64,
        window: i64,
        reset: ThrottleReset,
    ) -> Result<LoginThrottle, SqlError> {
        let sql = match reset {
            ThrottleReset::AfterQuiet => &*BEGIN_ATTEMPT_AFTER_QUIET,
            ThrottleReset::FixedWindow => &*BEGIN_ATTEMPT_FIXED_WINDOW,
        };
        let row = sqlx::query_as::<DB, ThrottleRow>(sql)
            .bind(key_hash)
            .bind(now)
            .bind(window)
            .fetch_one(&self.writer)
            .await?;
        Ok(row.into_record())
    }

    async fn end_login_attempt(
        &self,
        key_hash: &str,
        now: i64,
        window: i64,
        outcome: AttemptOutcome,
    ) -> Result<(), SqlError> {
        let query = match outcome {
            AttemptOutcome::Failed => sqlx::query::<DB>(
                "UPDATE login_throttle SET failures = failures + 1, last_failure_at = $2, \
                 pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END, \
                 expires_at = CASE WHEN expires_at > $2 + $3 THEN expires_at ELSE $2 + $3 END \
                 WHERE throttle_key = $1",
            )
            .bind(key_hash)
            .bind(now)
            .bind(window),
            AttemptOutcome::Succeeded { clear: true } => sqlx::query::<DB>(
                "UPDATE login_throttle SET failures = 0, last_failure_at = 0, \
                 pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END \
                 WHERE throttle_key = $1",
            )
            .bind(key_hash),
            AttemptOutcome::Succeeded { clear: false } | AttemptOutcome::Refused => {
                sqlx::query::<DB>(
                    "UPDATE login_throttle SET \
                     pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END \
                     WHERE throttle_key = $1",
                )
                .bind(key_hash)
            }
        };
        query.execute(&self.writer).await?;
        Ok(())
    }

    // ---- housekeeping ----

    async fn purge_expired(&self, now: i64) -> Result<u64, SqlError> {
        let mut tx = self.writer.begin().await?;
        let mut purged = 0;
        for sql in [
            // Used codes stay until they expire, so that a replay is recognised.
            "DELETE FROM authorization_codes WHERE expires_at <= $1",
            "DELETE FROM sessions WHERE expires_at <= $1",
            // Only needed while a redemption that raced the replay may still save its
            // token: seconds. An hour is plenty.
            "DELETE FROM revoked_grants WHERE revoked_at <= $1 - 3600",
            // Sign-in throttling rows once they count for nothing.
            "DELETE FROM login_throttle WHERE expires_at <= $1",
            // A token goes once neither its access token nor its refresh token works.
            "DELETE FROM tokens WHERE expires_at <= $1 AND (refresh_token_hash IS NULL \
             OR (refresh_token_expires_at IS NOT NULL AND refresh_token_expires_at <= $1))",
        ] {
            purged += sqlx::query::<DB>(sql)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected_by::<DB>();
        }
        tx.commit().await?;
        self.note_token_write();
        Ok(purged)
    }

    // ---- tokens ----

    async fn save_token(&self, token: TokenRecord) -> Result<(), SqlError> {
        match &self.hot {
            HotPath::Sqlx(writer, _) => writer.save(token).await,
            HotPath::Sqlite(fast) => fast.save(token).await,
        }
    }

    async fn find_access_token(&self, hash: &str) -> Result<Option<TokenRecord>, SqlError> {
        match &self.hot {
            HotPath::Sqlite(fast) => fast.find_access_token(hash),
            HotPath::Sqlx(_, reader) => reader.find(TokenColumn::Access, hash).await,
        }
    }

    async fn find_refresh_token(&self, hash: &str) -> Result<Option<TokenRecord>, SqlError> {
        match &self.hot {
            HotPath::Sqlite(fast) => fast.find_refresh_token(hash),
            HotPath::Sqlx(_, reader) => reader.find(TokenColumn::Refresh, hash).await,
        }
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &TokenRecord,
    ) -> Result<bool, SqlError> {
        match &self.hot {
            HotPath::Sqlx(writer, _) => writer.rotate(old_hash.to_owned(), new.clone()).await,
            HotPath::Sqlite(fast) => fast.rotate(old_hash.to_owned(), new.clone()).await,
        }
    }

    async fn revoke_token(&self, access_token_hash: &str) -> Result<(), SqlError> {
        if let HotPath::Sqlite(fast) = &self.hot {
            return fast.revoke_token(access_token_hash.to_owned()).await;
        }
        sqlx::query::<DB>("UPDATE tokens SET revoked = TRUE WHERE access_token_hash = $1")
            .bind(access_token_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn revoke_grant(&self, grant_id: &str) -> Result<(), SqlError> {
        if let HotPath::Sqlite(fast) = &self.hot {
            return fast.revoke_grant(grant_id.to_owned()).await;
        }
        // First remember the grant as revoked (committed on its own), then revoke its
        // tokens: a token committed before that UPDATE is revoked by it, and one
        // committed after finds the grant here (see `revoke_if_grant_revoked`).
        sqlx::query::<DB>(
            "INSERT INTO revoked_grants (grant_id, revoked_at) VALUES ($1, $2) \
             ON CONFLICT (grant_id) DO NOTHING",
        )
        .bind(grant_id)
        .bind(crate::now_seconds())
        .execute(&self.writer)
        .await?;
        sqlx::query::<DB>(
            // `grant_type <> 'client_credentials'` matches the partial index on grant_id
            // (client_credentials grants are never revoked as a whole).
            "UPDATE tokens SET revoked = TRUE WHERE grant_id = $1 AND revoked = FALSE \
             AND grant_type <> 'client_credentials'",
        )
        .bind(grant_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    // ---- authorization codes ----

    async fn save_authorization_code(
        &self,
        code: &AuthorizationCodeRecord,
    ) -> Result<(), SqlError> {
        let scope = code.scope.to_string();
        sqlx::query::<DB>(
            "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, scope, subject, \
             nonce, auth_time, code_challenge, code_challenge_method, issued_at, expires_at, \
             grant_id, used) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, FALSE)",
        )
        .bind(code.code_hash.as_str())
        .bind(code.client_id.as_str())
        .bind(code.redirect_uri.as_deref())
        .bind(scope.as_str())
        .bind(code.subject.as_str())
        .bind(code.nonce.as_deref())
        .bind(code.auth_time)
        .bind(code.code_challenge.as_deref())
        .bind(code.code_challenge_method.as_deref())
        .bind(code.issued_at)
        .bind(code.expires_at)
        .bind(code.grant_id.as_str())
        .execute(&self.writer)
        .await
        .map_err(|e| for_client(e.into(), &code.client_id))?;
        Ok(())
    }

    async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        client_id: &str,
    ) -> Result<CodeRedemption<AuthorizationCodeRecord>, SqlError> {
        let (code_hash, client_id) = (code_hash.to_owned(), client_id.to_owned());
        match &self.hot {
            HotPath::Sqlx(writer, _) => writer.redeem(code_hash, client_id).await,
            HotPath::Sqlite(fast) => fast.redeem(code_hash, client_id).await,
        }
    }
}
