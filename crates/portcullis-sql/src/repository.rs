//! Every operation of the store, written once for both databases over a
//! [`Backend`]: the SQL is portable (`$n` placeholders, `RETURNING`,
//! `ON CONFLICT … DO UPDATE`, `TRUE`/`FALSE`), the columns and row decoders come from
//! `crate::schema`, and the backend decides only how a statement runs.
//!
//! Operations of several statements run in one transaction ([`Backend::transaction`]),
//! whose statements do not depend on each other's results in the application: a
//! later statement finds what an earlier one touched through a subquery. So a
//! transaction is a list of statements that SQLite's single writer can run inside its
//! group commit, and PostgreSQL on one pooled connection.
//!
//! Single-use operations are atomic in SQL, not in the application, so two racing
//! requests — even from two processes on one database — can never both win (see
//! `crate::group_commit`).

use std::sync::{Arc, LazyLock};

use portcullis_core::{
    AuthorizationCodeRecord, ClientRecord, CodeRedemption, PendingAuthorization, Scope, TokenRecord,
};

use crate::backend::{Backend, TokenColumn};
use crate::error::{conflict_or, for_client, SqlError};
use crate::records::{
    AttemptOutcome, ConsentRecord, LoginThrottle, RegistrationToken, SessionClient, SessionRecord,
    SigningKeyRecord, ThrottleReset, UserRecord,
};
use crate::schema::{
    client_args, client_from_row, code_args, pending_args, pending_from_row, scope_from_text,
    session_args, session_from_row, signing_key_args, signing_key_from_row, throttle_from_row,
    user_from_row, Query, Row, CLIENT_COLUMNS, INSERT_CLIENT, INSERT_CODE, PENDING_COLUMNS,
    SESSION_COLUMNS, SIGNING_KEY_COLUMNS, THROTTLE_COLUMNS, USER_COLUMNS,
};

/// How often `save_consent` retries when another request changed the same consent
/// between its read and its write.
const CONSENT_ATTEMPTS: usize = 16;

/// `column = $n` for every client column but the client_id (`$1`), in
/// [`CLIENT_COLUMNS`] order: the SET list of an update bound with `client_args`.
fn client_assignments() -> Vec<String> {
    CLIENT_COLUMNS
        .split(',')
        .map(str::trim)
        .enumerate()
        .skip(1)
        .map(|(index, column)| format!("{column} = ${}", index + 1))
        .collect()
}

/// The insert of `client`, registered at `now`.
fn insert_client_query(client: &ClientRecord, now: i64) -> Result<Query, SqlError> {
    let mut query = Query::new(INSERT_CLIENT);
    for value in client_args(client)? {
        query = query.bind(value);
    }
    Ok(query.bind(now))
}

/// `error`, said as a taken `client_id` when it is a unique-key conflict.
fn client_taken(error: SqlError, client_id: &str) -> SqlError {
    conflict_or(error, || {
        format!("a client with client_id '{client_id}' already exists")
    })
}

/// The store's operations on one database.
#[derive(Clone)]
pub(crate) struct Repository {
    db: Arc<dyn Backend>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Repository")
            .field(&self.db.describe())
            .finish()
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
         RETURNING {THROTTLE_COLUMNS}"
    )
}

static BEGIN_ATTEMPT_AFTER_QUIET: LazyLock<String> =
    LazyLock::new(|| begin_attempt_sql("login_throttle.last_failure_at <= $2 - $3"));
static BEGIN_ATTEMPT_FIXED_WINDOW: LazyLock<String> =
    LazyLock::new(|| begin_attempt_sql("login_throttle.window_start <= $2 - $3"));

/// The subject of the user whose username key is `$1`, as a subquery.
const SUBJECT_OF_KEY: &str = "(SELECT subject FROM users WHERE username_key = $1)";

/// Ends every session of the user whose username key is `$1` and revokes their tokens
/// and codes.
fn end_sessions_and_grants(username_key: &str) -> [Query; 3] {
    [
        format!("DELETE FROM sessions WHERE subject = {SUBJECT_OF_KEY}"),
        format!(
            "UPDATE tokens SET revoked = TRUE WHERE subject = {SUBJECT_OF_KEY} AND revoked = FALSE"
        ),
        format!("DELETE FROM authorization_codes WHERE subject = {SUBJECT_OF_KEY}"),
    ]
    .map(|sql| Query::new(sql).bind(username_key))
}

/// The tables [`Repository::has_rows`] looks into.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowsOf {
    Users,
    Clients,
}

impl Repository {
    /// The operations on `db`.
    pub(crate) fn new(db: Arc<dyn Backend>) -> Self {
        Self { db }
    }

    /// The database underneath.
    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.db
    }

    /// The first row of `query`, if any.
    async fn fetch_one(&self, query: Query) -> Result<Option<crate::schema::OwnedRow>, SqlError> {
        Ok(self.db.fetch(query).await?.into_iter().next())
    }

    /// A trivial query, to see that the database answers.
    pub(crate) async fn ping(&self) -> Result<(), SqlError> {
        self.db.fetch(Query::new("SELECT 1")).await.map(drop)
    }

    // ---- clients ----

    pub(crate) async fn insert_client(
        &self,
        client: &ClientRecord,
        now: i64,
    ) -> Result<(), SqlError> {
        self.db
            .execute(insert_client_query(client, now)?)
            .await
            .map_err(|e| client_taken(e, &client.client_id))
            .map(drop)
    }

    /// Rewrites every column of the client `client.client_id` (but its creation time);
    /// `false` when there is no such client.
    pub(crate) async fn update_client(&self, client: &ClientRecord) -> Result<bool, SqlError> {
        let sql = format!(
            "UPDATE clients SET {} WHERE client_id = $1",
            client_assignments().join(", ")
        );
        let mut query = Query::new(sql);
        for value in client_args(client)? {
            query = query.bind(value);
        }
        Ok(self.db.execute(query).await? > 0)
    }

    pub(crate) async fn get_client(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, SqlError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1");
        self.fetch_one(Query::new(sql).bind(client_id))
            .await?
            .map(|row| client_from_row(&row))
            .transpose()
    }

    pub(crate) async fn list_clients(&self) -> Result<Vec<ClientRecord>, SqlError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY seq");
        self.db
            .fetch(Query::new(sql))
            .await?
            .iter()
            .map(client_from_row)
            .collect()
    }

    /// The `resource_server_audience` of every client that has one.
    pub(crate) async fn resource_server_audiences(&self) -> Result<Vec<String>, SqlError> {
        let sql = "SELECT resource_server_audience FROM clients \
                   WHERE resource_server_audience IS NOT NULL ORDER BY seq";
        let rows = self.db.fetch(Query::new(sql)).await?;
        let mut audiences = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(audience) = row.opt_text(0)? {
                audiences.push(audience);
            }
        }
        Ok(audiences)
    }

    pub(crate) async fn delete_client(&self, client_id: &str) -> Result<bool, SqlError> {
        let statements = [
            "DELETE FROM tokens WHERE client_id = $1",
            "DELETE FROM authorization_codes WHERE client_id = $1",
            "DELETE FROM consents WHERE client_id = $1",
            "DELETE FROM authorization_requests WHERE client_id = $1",
            "DELETE FROM clients WHERE client_id = $1",
        ]
        .map(|sql| Query::new(sql).bind(client_id));
        let results = self.db.transaction(statements.into()).await?;
        Ok(results.last().is_some_and(|r| r.rows_affected > 0))
    }

    pub(crate) async fn set_client_secret_hash(
        &self,
        client_id: &str,
        hash: &str,
    ) -> Result<bool, SqlError> {
        let query = Query::new("UPDATE clients SET client_secret_hash = $2 WHERE client_id = $1")
            .bind(client_id)
            .bind(hash);
        Ok(self.db.execute(query).await? > 0)
    }

    // ---- dynamic registration (RFC 7591, RFC 7592) ----

    /// Inserts a dynamically registered client with the hash of its registration
    /// access token, in one transaction.
    pub(crate) async fn insert_registered_client(
        &self,
        client: &ClientRecord,
        registration_token_hash: &str,
        now: i64,
    ) -> Result<(), SqlError> {
        let mark = Query::new(
            "UPDATE clients SET registration_access_token_hash = $2 WHERE client_id = $1",
        )
        .bind(client.client_id.as_str())
        .bind(registration_token_hash);
        self.db
            .transaction(vec![insert_client_query(client, now)?, mark])
            .await
            .map_err(|e| client_taken(e, &client.client_id))
            .map(drop)
    }

    /// The hash of the registration access token of the client `client_id`; `None`
    /// when there is no such client or it was not registered dynamically.
    pub(crate) async fn registration_token_hash(
        &self,
        client_id: &str,
    ) -> Result<Option<String>, SqlError> {
        let query =
            Query::new("SELECT registration_access_token_hash FROM clients WHERE client_id = $1")
                .bind(client_id);
        match self.fetch_one(query).await? {
            Some(row) => row.opt_text(0),
            None => Ok(None),
        }
    }

    /// Replaces a dynamically registered client's registration and its registration
    /// access token hash, in one transaction; `false` when there is no such client.
    pub(crate) async fn update_registered_client(
        &self,
        client: &ClientRecord,
        registration_token_hash: &str,
    ) -> Result<bool, SqlError> {
        let assignments = client_assignments();
        // $1 is the client_id, then one placeholder per assignment.
        let token_index = assignments.len() + 2;
        let sql = format!(
            "UPDATE clients SET {}, registration_access_token_hash = ${token_index} \
             WHERE client_id = $1 AND registration_access_token_hash IS NOT NULL",
            assignments.join(", ")
        );
        let mut query = Query::new(sql);
        for value in client_args(client)? {
            query = query.bind(value);
        }
        Ok(self.db.execute(query.bind(registration_token_hash)).await? > 0)
    }

    /// Records that the client `client_id` obtained a token at `now`, if it was
    /// registered dynamically and its last record is older than `granularity` seconds.
    pub(crate) async fn touch_registered_client(
        &self,
        client_id: &str,
        now: i64,
        granularity: i64,
    ) -> Result<(), SqlError> {
        let query = Query::new(
            "UPDATE clients SET last_used_at = $2 WHERE client_id = $1 \
             AND registration_access_token_hash IS NOT NULL \
             AND (last_used_at IS NULL OR last_used_at < $2 - $3)",
        )
        .bind(client_id)
        .bind(now)
        .bind(granularity);
        self.db.execute(query).await.map(drop)
    }

    /// Up to `limit` dynamically registered clients to remove at `now`: those
    /// registered over `never_used` seconds ago that never obtained a token, and those
    /// whose last token is over `unused` seconds old.
    pub(crate) async fn stale_registrations(
        &self,
        now: i64,
        never_used: i64,
        unused: i64,
        limit: i64,
    ) -> Result<Vec<String>, SqlError> {
        let query = Query::new(
            "SELECT client_id FROM clients WHERE registration_access_token_hash IS NOT NULL \
             AND ((last_used_at IS NULL AND created_at <= $1 - $2) \
             OR (last_used_at IS NOT NULL AND last_used_at <= $1 - $3)) \
             ORDER BY seq LIMIT $4",
        )
        .bind(now)
        .bind(never_used)
        .bind(unused)
        .bind(limit);
        let rows = self.db.fetch(query).await?;
        rows.iter().map(|row| row.text(0)).collect()
    }

    /// Saves an initial access token (its hash).
    pub(crate) async fn insert_registration_token(
        &self,
        token: &RegistrationToken,
    ) -> Result<(), SqlError> {
        let query = Query::new(
            "INSERT INTO registration_tokens (token_hash, created_at, expires_at, max_uses, uses) \
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(token.token_hash.as_str())
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.max_uses);
        self.db.execute(query).await.map(drop)
    }

    /// Counts a use of the initial access token hashing to `token_hash`, atomically:
    /// `false` (and nothing counted) when there is no such token, it has expired at
    /// `now`, or it has been used `max_uses` times.
    pub(crate) async fn use_registration_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<bool, SqlError> {
        let query = Query::new(
            "UPDATE registration_tokens SET uses = uses + 1 WHERE token_hash = $1 \
             AND (expires_at IS NULL OR expires_at > $2) \
             AND (max_uses IS NULL OR uses < max_uses)",
        )
        .bind(token_hash)
        .bind(now);
        Ok(self.db.execute(query).await? > 0)
    }

    /// Gives back a use counted by [`use_registration_token`](Self::use_registration_token)
    /// whose registration then failed.
    pub(crate) async fn unuse_registration_token(&self, token_hash: &str) -> Result<(), SqlError> {
        let query = Query::new(
            "UPDATE registration_tokens SET uses = uses - 1 WHERE token_hash = $1 AND uses > 0",
        )
        .bind(token_hash);
        self.db.execute(query).await.map(drop)
    }

    /// Every initial access token, oldest first.
    pub(crate) async fn list_registration_tokens(
        &self,
    ) -> Result<Vec<RegistrationToken>, SqlError> {
        let query = Query::new(
            "SELECT token_hash, created_at, expires_at, max_uses, uses FROM registration_tokens \
             ORDER BY created_at, token_hash",
        );
        let rows = self.db.fetch(query).await?;
        rows.iter()
            .map(|row| {
                Ok(RegistrationToken {
                    token_hash: row.text(0)?,
                    created_at: row.int(1)?,
                    expires_at: row.opt_int(2)?,
                    max_uses: row.opt_int(3)?,
                    uses: row.int(4)?,
                })
            })
            .collect()
    }

    /// Deletes the initial access tokens whose hash starts with `prefix`; how many.
    pub(crate) async fn delete_registration_tokens(&self, prefix: &str) -> Result<u64, SqlError> {
        let tokens = self.list_registration_tokens().await?;
        let mut deleted = 0;
        for token in tokens.iter().filter(|t| t.token_hash.starts_with(prefix)) {
            let query = Query::new("DELETE FROM registration_tokens WHERE token_hash = $1")
                .bind(token.token_hash.as_str());
            deleted += self.db.execute(query).await?;
        }
        Ok(deleted)
    }

    // ---- users ----

    pub(crate) async fn insert_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        password_hash: &str,
    ) -> Result<(), SqlError> {
        let query = Query::new(
            "INSERT INTO users (subject, username, username_key, email, name, password_hash, \
             created_at, disabled, claims) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(user.subject.as_str())
        .bind(user.username.as_str())
        .bind(username_key)
        .bind(user.email.as_deref())
        .bind(user.name.as_deref())
        .bind(password_hash)
        .bind(user.created_at)
        .bind(user.disabled)
        .bind(serde_json::Value::Object(user.claims.clone()).to_string());
        self.db
            .execute(query)
            .await
            .map_err(|e| {
                conflict_or(e, || {
                    format!(
                        "a user named '{}' already exists (usernames are compared ignoring case and width)",
                        user.username
                    )
                })
            })
            .map(drop)
    }

    /// The user whose username key is `username_key`, and their password hash.
    pub(crate) async fn get_user(
        &self,
        username_key: &str,
    ) -> Result<Option<(UserRecord, String)>, SqlError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username_key = $1");
        self.fetch_one(Query::new(sql).bind(username_key))
            .await?
            .map(|row| user_from_row(&row))
            .transpose()
    }

    pub(crate) async fn find_user_by_subject(
        &self,
        subject: &str,
    ) -> Result<Option<UserRecord>, SqlError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE subject = $1");
        Ok(self
            .fetch_one(Query::new(sql).bind(subject))
            .await?
            .map(|row| user_from_row(&row))
            .transpose()?
            .map(|(user, _)| user))
    }

    /// True when `table` (`users` or `clients`) has a row: one row read, whatever its
    /// size.
    pub(crate) async fn has_rows(&self, table: RowsOf) -> Result<bool, SqlError> {
        let sql = match table {
            RowsOf::Users => "SELECT 1 FROM users LIMIT 1",
            RowsOf::Clients => "SELECT 1 FROM clients LIMIT 1",
        };
        Ok(self.fetch_one(Query::new(sql)).await?.is_some())
    }

    pub(crate) async fn list_users(&self) -> Result<Vec<UserRecord>, SqlError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY seq");
        self.db
            .fetch(Query::new(sql))
            .await?
            .iter()
            .map(|row| user_from_row(row).map(|(user, _)| user))
            .collect()
    }

    pub(crate) async fn delete_user(&self, username_key: &str) -> Result<bool, SqlError> {
        let mut statements: Vec<Query> = ["tokens", "authorization_codes", "sessions", "consents"]
            .iter()
            .map(|table| {
                Query::new(format!(
                    "DELETE FROM {table} WHERE subject = {SUBJECT_OF_KEY}"
                ))
                .bind(username_key)
            })
            .collect();
        statements.push(Query::new("DELETE FROM users WHERE username_key = $1").bind(username_key));
        let results = self.db.transaction(statements).await?;
        Ok(results.last().is_some_and(|r| r.rows_affected > 0))
    }

    /// Records every grant of the user (their tokens' and their codes') as revoked, on
    /// its own commit before their tokens are revoked: a token that a redemption or
    /// rotation racing this saves afterwards is then revoked at once (see
    /// `Backend::revoke_grant`).
    async fn remember_grants_of(&self, username_key: &str, now: i64) -> Result<(), SqlError> {
        let statements = [
            format!(
                "INSERT INTO revoked_grants (grant_id, revoked_at) \
                 SELECT DISTINCT grant_id, $2 FROM tokens \
                 WHERE subject = {SUBJECT_OF_KEY} AND revoked = FALSE \
                 ON CONFLICT (grant_id) DO NOTHING"
            ),
            format!(
                "INSERT INTO revoked_grants (grant_id, revoked_at) \
                 SELECT DISTINCT grant_id, $2 FROM authorization_codes \
                 WHERE subject = {SUBJECT_OF_KEY} ON CONFLICT (grant_id) DO NOTHING"
            ),
        ]
        .map(|sql| Query::new(sql).bind(username_key).bind(now));
        self.db.transaction(statements.into()).await.map(drop)
    }

    pub(crate) async fn set_user_password_hash(
        &self,
        username_key: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool, SqlError> {
        self.remember_grants_of(username_key, now).await?;
        // A new password ends every sign-in and every grant made with the old one.
        let mut statements =
            vec![
                Query::new("UPDATE users SET password_hash = $2 WHERE username_key = $1")
                    .bind(username_key)
                    .bind(hash),
            ];
        statements.extend(end_sessions_and_grants(username_key));
        let results = self.db.transaction(statements).await?;
        Ok(results.first().is_some_and(|r| r.rows_affected > 0))
    }

    pub(crate) async fn set_user_disabled(
        &self,
        username_key: &str,
        disabled: bool,
        now: i64,
    ) -> Result<bool, SqlError> {
        if disabled {
            self.remember_grants_of(username_key, now).await?;
        }
        let mut statements =
            vec![
                Query::new("UPDATE users SET disabled = $2 WHERE username_key = $1")
                    .bind(username_key)
                    .bind(disabled),
            ];
        if disabled {
            statements.extend(end_sessions_and_grants(username_key));
        }
        let results = self.db.transaction(statements).await?;
        Ok(results.first().is_some_and(|r| r.rows_affected > 0))
    }

    /// Sets the email, name and claims of the user whose username key is
    /// `username_key`; `false` when there is none.
    pub(crate) async fn set_user_profile(
        &self,
        username_key: &str,
        user: &UserRecord,
    ) -> Result<bool, SqlError> {
        let query = Query::new(
            "UPDATE users SET email = $2, name = $3, claims = $4 WHERE username_key = $1",
        )
        .bind(username_key)
        .bind(user.email.as_deref())
        .bind(user.name.as_deref())
        .bind(serde_json::Value::Object(user.claims.clone()).to_string());
        Ok(self.db.execute(query).await? > 0)
    }

    /// `(subject, username)` of every user stored before usernames were normalized.
    pub(crate) async fn users_without_key(&self) -> Result<Vec<(String, String)>, SqlError> {
        self.db
            .fetch(Query::new(
                "SELECT subject, username FROM users WHERE username_key IS NULL ORDER BY seq",
            ))
            .await?
            .iter()
            .map(|row| Ok((row.text(0)?, row.text(1)?)))
            .collect()
    }

    pub(crate) async fn set_username_key(
        &self,
        subject: &str,
        username_key: &str,
    ) -> Result<(), SqlError> {
        let query = Query::new("UPDATE users SET username_key = $2 WHERE subject = $1")
            .bind(subject)
            .bind(username_key);
        self.db
            .execute(query)
            .await
            .map_err(|e| conflict_or(e, || "another user has the same normalized name".to_owned()))
            .map(drop)
    }

    // ---- sessions ----

    pub(crate) async fn insert_session(&self, session: &SessionRecord) -> Result<(), SqlError> {
        let sql =
            format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        let mut query = Query::new(sql);
        for value in session_args(session) {
            query = query.bind(value);
        }
        self.db
            .execute(query)
            .await
            .map_err(|e| conflict_or(e, || "a session with this id already exists".to_owned()))
            .map(drop)
    }

    pub(crate) async fn get_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<SessionRecord>, SqlError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1");
        self.fetch_one(Query::new(sql).bind(id_hash))
            .await?
            .map(|row| session_from_row(&row))
            .transpose()
    }

    pub(crate) async fn delete_session(&self, id_hash: &str) -> Result<(), SqlError> {
        self.db
            .execute(Query::new("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash))
            .await
            .map(drop)
    }

    /// Records that the session `sid` of `subject` signed into `client_id`, until
    /// `expires_at` (the session's end); again is an update of the end.
    pub(crate) async fn record_session_client(
        &self,
        sid: &str,
        client_id: &str,
        subject: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), SqlError> {
        let query = Query::new(
            "INSERT INTO session_clients (sid, client_id, subject, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sid, client_id) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(sid)
        .bind(client_id)
        .bind(subject)
        .bind(now)
        .bind(expires_at);
        self.db.execute(query).await.map(drop)
    }

    /// Moves the end of every record of the session `sid` to `expires_at`.
    pub(crate) async fn extend_session_clients(
        &self,
        sid: &str,
        expires_at: i64,
    ) -> Result<(), SqlError> {
        let query = Query::new("UPDATE session_clients SET expires_at = $2 WHERE sid = $1")
            .bind(sid)
            .bind(expires_at);
        self.db.execute(query).await.map(drop)
    }

    /// The clients the session `sid` signed into, forgotten as they are returned.
    pub(crate) async fn take_session_clients(
        &self,
        sid: &str,
    ) -> Result<Vec<SessionClient>, SqlError> {
        let rows = self
            .db
            .fetch(
                Query::new(
                    "SELECT sid, client_id, subject FROM session_clients WHERE sid = $1 \
                     ORDER BY client_id",
                )
                .bind(sid),
            )
            .await?;
        let clients = rows
            .iter()
            .map(|row| {
                Ok(SessionClient {
                    sid: row.text(0)?,
                    client_id: row.text(1)?,
                    subject: row.text(2)?,
                })
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        self.db
            .execute(Query::new("DELETE FROM session_clients WHERE sid = $1").bind(sid))
            .await?;
        Ok(clients)
    }

    // ---- pending authorization requests ----

    pub(crate) async fn save_authorization_request(
        &self,
        pending: &PendingAuthorization,
    ) -> Result<(), SqlError> {
        let sql = format!(
            "INSERT INTO authorization_requests ({PENDING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        let mut query = Query::new(sql);
        for value in pending_args(pending)? {
            query = query.bind(value);
        }
        self.db
            .execute(query)
            .await
            .map_err(|e| for_client(e, &pending.client_id))
            .map(drop)
    }

    pub(crate) async fn find_authorization_request(
        &self,
        id_hash: &str,
    ) -> Result<Option<PendingAuthorization>, SqlError> {
        let sql =
            format!("SELECT {PENDING_COLUMNS} FROM authorization_requests WHERE id_hash = $1");
        self.fetch_one(Query::new(sql).bind(id_hash))
            .await?
            .map(|row| pending_from_row(&row))
            .transpose()
    }

    /// Deletes the pending request and returns it: of two callers, one gets it.
    pub(crate) async fn take_authorization_request(
        &self,
        id_hash: &str,
    ) -> Result<Option<PendingAuthorization>, SqlError> {
        let sql = format!(
            "DELETE FROM authorization_requests WHERE id_hash = $1 RETURNING {PENDING_COLUMNS}"
        );
        let results = self
            .db
            .transaction(vec![Query::new(sql).bind(id_hash)])
            .await?;
        results
            .into_iter()
            .next()
            .and_then(|r| r.rows.into_iter().next())
            .map(|row| pending_from_row(&row))
            .transpose()
    }

    // ---- consent ----

    /// Remembers that `subject` consented to `client_id`'s tokens reaching `resources`
    /// (resource keys), added to what was remembered before.
    pub(crate) async fn save_consent_resources(
        &self,
        subject: &str,
        client_id: &str,
        resources: &[String],
        now: i64,
    ) -> Result<(), SqlError> {
        let statements: Vec<Query> = resources
            .iter()
            .map(|resource| {
                Query::new(
                    "INSERT INTO consent_resources (subject, client_id, resource, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (subject, client_id, resource) DO NOTHING",
                )
                .bind(subject)
                .bind(client_id)
                .bind(resource.as_str())
                .bind(now)
            })
            .collect();
        if statements.is_empty() {
            return Ok(());
        }
        self.db.transaction(statements).await.map(drop)
    }

    /// The resource keys `subject` consented to for `client_id`, sorted.
    pub(crate) async fn consented_resources(
        &self,
        subject: &str,
        client_id: &str,
    ) -> Result<Vec<String>, SqlError> {
        let query = Query::new(
            "SELECT resource FROM consent_resources WHERE subject = $1 AND client_id = $2 \
             ORDER BY resource",
        )
        .bind(subject)
        .bind(client_id);
        self.db
            .fetch(query)
            .await?
            .iter()
            .map(|row| row.text(0))
            .collect()
    }

    pub(crate) async fn get_consent(
        &self,
        subject: &str,
        client_id: &str,
    ) -> Result<Option<Scope>, SqlError> {
        let query = Query::new("SELECT scope FROM consents WHERE subject = $1 AND client_id = $2")
            .bind(subject)
            .bind(client_id);
        self.fetch_one(query)
            .await?
            .map(|row| scope_from_text(&row.text(0)?))
            .transpose()
    }

    /// The consents remembered, of `subject` and of `client_id` when given, oldest
    /// first.
    pub(crate) async fn list_consents(
        &self,
        subject: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<Vec<ConsentRecord>, SqlError> {
        let query = Query::new(
            "SELECT subject, client_id, scope, created_at, updated_at FROM consents \
             WHERE ($1 IS NULL OR subject = $1) AND ($2 IS NULL OR client_id = $2) \
             ORDER BY created_at, subject, client_id",
        )
        .bind(subject)
        .bind(client_id);
        self.db
            .fetch(query)
            .await?
            .iter()
            .map(|row| {
                Ok(ConsentRecord {
                    subject: row.text(0)?,
                    client_id: row.text(1)?,
                    scope: scope_from_text(&row.text(2)?)?,
                    created_at: row.int(3)?,
                    updated_at: row.int(4)?,
                })
            })
            .collect()
    }

    /// Forgets `subject`'s consent for `client_id` and ends what it granted: the
    /// grants are recorded as revoked first (so a redemption or rotation racing this
    /// is revoked too), then the tokens revoked and the codes deleted with the
    /// consent, in one transaction. `false` when there was no such consent.
    pub(crate) async fn revoke_consent(
        &self,
        subject: &str,
        client_id: &str,
        now: i64,
    ) -> Result<bool, SqlError> {
        let remember = [
            "INSERT INTO revoked_grants (grant_id, revoked_at) \
             SELECT DISTINCT grant_id, $3 FROM tokens \
             WHERE subject = $1 AND client_id = $2 AND revoked = FALSE \
             ON CONFLICT (grant_id) DO NOTHING",
            "INSERT INTO revoked_grants (grant_id, revoked_at) \
             SELECT DISTINCT grant_id, $3 FROM authorization_codes \
             WHERE subject = $1 AND client_id = $2 ON CONFLICT (grant_id) DO NOTHING",
        ]
        .map(|sql| Query::new(sql).bind(subject).bind(client_id).bind(now));
        self.db.transaction(remember.into()).await?;
        let statements = [
            "DELETE FROM consents WHERE subject = $1 AND client_id = $2",
            "DELETE FROM consent_resources WHERE subject = $1 AND client_id = $2",
            "UPDATE tokens SET revoked = TRUE \
             WHERE subject = $1 AND client_id = $2 AND revoked = FALSE",
            "DELETE FROM authorization_codes WHERE subject = $1 AND client_id = $2",
        ]
        .map(|sql| Query::new(sql).bind(subject).bind(client_id));
        let results = self.db.transaction(statements.into()).await?;
        Ok(results.first().is_some_and(|r| r.rows_affected > 0))
    }

    /// The sessions of `subject` (every user's when `None`), newest first.
    pub(crate) async fn list_sessions(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<SessionRecord>, SqlError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE subject IS NOT NULL \
             AND ($1 IS NULL OR subject = $1) ORDER BY created_at DESC, id_hash"
        );
        self.db
            .fetch(Query::new(sql).bind(subject))
            .await?
            .iter()
            .map(session_from_row)
            .collect()
    }

    /// Ends every session of `subject`; how many there were.
    pub(crate) async fn delete_sessions_of(&self, subject: &str) -> Result<u64, SqlError> {
        self.db
            .execute(Query::new("DELETE FROM sessions WHERE subject = $1").bind(subject))
            .await
    }

    /// Adds `scope` to the consent remembered so far: reads it, and writes the union
    /// only if nobody changed it meanwhile (compare-and-set), or tries again.
    pub(crate) async fn save_consent(
        &self,
        subject: &str,
        client_id: &str,
        scope: &Scope,
        now: i64,
    ) -> Result<(), SqlError> {
        for _ in 0..CONSENT_ATTEMPTS {
            let remembered = self.get_consent(subject, client_id).await?;
            let union = match &remembered {
                Some(old) => Scope::from_tokens(old.iter().chain(scope.iter())),
                None => scope.clone(),
            };
            // A missing row is created; an existing one changes only if it still
            // holds what was read (and a row created meanwhile never matches `NULL`).
            let query = Query::new(
                "INSERT INTO consents (subject, client_id, scope, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (subject, client_id) DO UPDATE \
                 SET scope = excluded.scope, updated_at = excluded.updated_at \
                 WHERE consents.scope = $5",
            )
            .bind(subject)
            .bind(client_id)
            .bind(union.to_string())
            .bind(now)
            .bind(remembered.map(|old| old.to_string()));
            if self.db.execute(query).await? > 0 {
                return Ok(());
            }
        }
        Err(SqlError::Busy(
            "the consent changed too often while it was being saved".to_owned(),
        ))
    }

    // ---- login throttling ----

    pub(crate) async fn begin_login_attempt(
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
        let query = Query::new(sql.as_str())
            .bind(key_hash)
            .bind(now)
            .bind(window);
        let results = self.db.transaction(vec![query]).await?;
        let row = results
            .into_iter()
            .next()
            .and_then(|r| r.rows.into_iter().next())
            .ok_or_else(|| {
                SqlError::Corrupt("counting a sign-in attempt returned no row".to_owned())
            })?;
        throttle_from_row(&row)
    }

    pub(crate) async fn login_attempts(
        &self,
        key_hash: &str,
    ) -> Result<Option<LoginThrottle>, SqlError> {
        let query = Query::new(format!(
            "SELECT {THROTTLE_COLUMNS} FROM login_throttle WHERE throttle_key = $1"
        ))
        .bind(key_hash);
        self.fetch_one(query)
            .await?
            .map(|row| throttle_from_row(&row))
            .transpose()
    }

    pub(crate) async fn end_login_attempt(
        &self,
        key_hash: &str,
        now: i64,
        window: i64,
        outcome: AttemptOutcome,
    ) -> Result<(), SqlError> {
        let query = match outcome {
            AttemptOutcome::Failed => Query::new(
                "UPDATE login_throttle SET failures = failures + 1, last_failure_at = $2, \
                 pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END, \
                 expires_at = CASE WHEN expires_at > $2 + $3 THEN expires_at ELSE $2 + $3 END \
                 WHERE throttle_key = $1",
            )
            .bind(key_hash)
            .bind(now)
            .bind(window),
            AttemptOutcome::Succeeded { clear: true } => Query::new(
                "UPDATE login_throttle SET failures = 0, last_failure_at = 0, \
                 pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END \
                 WHERE throttle_key = $1",
            )
            .bind(key_hash),
            _ => Query::new(
                "UPDATE login_throttle SET \
                 pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END \
                 WHERE throttle_key = $1",
            )
            .bind(key_hash),
        };
        self.db.execute(query).await.map(drop)
    }

    // ---- server secrets ----

    /// The secret `name`: the stored one, or `fresh` once written (when none is stored
    /// yet). Two instances starting at once read the same value: the insert does
    /// nothing when the row exists.
    pub(crate) async fn server_secret(
        &self,
        name: &str,
        fresh: &str,
        now: i64,
    ) -> Result<String, SqlError> {
        let insert = Query::new(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .bind(now);
        self.db.execute(insert).await?;
        let query = Query::new("SELECT value FROM server_secrets WHERE name = $1").bind(name);
        match self.fetch_one(query).await? {
            Some(row) => row.text(0),
            None => Err(SqlError::Corrupt(format!(
                "the server secret {name} was written but cannot be read"
            ))),
        }
    }

    // ---- signing keys ----

    pub(crate) async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, SqlError> {
        let sql =
            format!("SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY alg, generation");
        self.db
            .fetch(Query::new(sql))
            .await?
            .iter()
            .map(signing_key_from_row)
            .collect()
    }

    /// Inserts `key` and applies `retiring` in one transaction; `false` (and nothing
    /// written) when another key of the same algorithm and generation exists.
    pub(crate) async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        retiring: &[(String, i64, i64)],
    ) -> Result<bool, SqlError> {
        let mut insert = Query::new(format!(
            "INSERT INTO signing_keys ({SIGNING_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ));
        for value in signing_key_args(key) {
            insert = insert.bind(value);
        }
        let mut statements = vec![insert];
        for (kid, retires_at, expires_at) in retiring {
            statements.push(retire_statement(kid, *retires_at, *expires_at));
        }
        match self.db.transaction(statements).await {
            Ok(_) => Ok(true),
            Err(error) => match conflict_or(error, || "signing key".into()) {
                SqlError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Sets the times of the keys in `changes` (`kid`, `activates_at`, `retires_at`,
    /// `expires_at`), in one transaction; how many keys exist of them.
    pub(crate) async fn set_signing_key_times(
        &self,
        changes: &[(String, i64, Option<i64>, Option<i64>)],
    ) -> Result<u64, SqlError> {
        let statements = changes
            .iter()
            .map(|(kid, activates_at, retires_at, expires_at)| {
                Query::new(
                    "UPDATE signing_keys SET activates_at = $2, retires_at = $3, expires_at = $4 \
                     WHERE kid = $1",
                )
                .bind(kid.as_str())
                .bind(*activates_at)
                .bind(*retires_at)
                .bind(*expires_at)
            })
            .collect();
        let results = self.db.transaction(statements).await?;
        Ok(results.iter().map(|r| r.rows_affected).sum())
    }

    pub(crate) async fn set_signing_key_private(
        &self,
        kid: &str,
        private_key: &str,
    ) -> Result<bool, SqlError> {
        let query = Query::new("UPDATE signing_keys SET private_key = $2 WHERE kid = $1")
            .bind(kid)
            .bind(private_key);
        Ok(self.db.execute(query).await? > 0)
    }

    // ---- client assertions ----

    /// Records that `client_id` used the assertion `jti` until `expires_at`: `true` the
    /// first time, `false` while an unexpired record of it exists. One statement, so
    /// two instances racing on one pair cannot both insert it.
    pub(crate) async fn record_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, SqlError> {
        let query = Query::new(
            "INSERT INTO client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE client_assertions.expires_at <= $4",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires_at)
        .bind(now);
        Ok(self.db.execute(query).await? == 1)
    }

    // ---- housekeeping ----

    pub(crate) async fn purge_expired(&self, now: i64) -> Result<u64, SqlError> {
        let statements = [
            // Used codes stay until they expire, so that a replay is recognised.
            "DELETE FROM authorization_codes WHERE expires_at <= $1",
            "DELETE FROM sessions WHERE expires_at <= $1",
            "DELETE FROM session_clients WHERE expires_at <= $1",
            // Only needed while a redemption that raced the replay may still save its
            // token: seconds. An hour is plenty.
            "DELETE FROM revoked_grants WHERE revoked_at <= $1 - 3600",
            // Sign-in throttling rows once they count for nothing.
            "DELETE FROM login_throttle WHERE expires_at <= $1",
            "DELETE FROM authorization_requests WHERE expires_at <= $1",
            // A used client assertion once it has expired: a replay is refused by exp.
            "DELETE FROM client_assertions WHERE expires_at <= $1",
            // A signing key goes once everything it signed has expired.
            "DELETE FROM signing_keys WHERE expires_at IS NOT NULL AND expires_at <= $1",
            // A token goes once neither its access token nor its refresh token works.
            "DELETE FROM tokens WHERE expires_at <= $1 AND (refresh_token_hash IS NULL \
             OR (refresh_token_expires_at IS NOT NULL AND refresh_token_expires_at <= $1))",
        ]
        .map(|sql| Query::new(sql).bind(now));
        let results = self.db.transaction(statements.into()).await?;
        Ok(results.iter().map(|r| r.rows_affected).sum())
    }

    // ---- tokens and codes ----

    pub(crate) async fn save_token(&self, token: TokenRecord) -> Result<(), SqlError> {
        self.db.save_token(token).await
    }

    pub(crate) async fn find_token(
        &self,
        column: TokenColumn,
        key: &str,
    ) -> Result<Option<TokenRecord>, SqlError> {
        self.db.find_token(column, key).await
    }

    pub(crate) async fn rotate_refresh_token(
        &self,
        presented: &str,
        new: TokenRecord,
    ) -> Result<bool, SqlError> {
        self.db.rotate(presented.to_owned(), new).await
    }

    pub(crate) async fn revoke_token(&self, access_token_hash: &str) -> Result<(), SqlError> {
        self.db.revoke_token(access_token_hash.to_owned()).await
    }

    pub(crate) async fn revoke_grant(&self, grant_id: &str, now: i64) -> Result<(), SqlError> {
        self.db.revoke_grant(grant_id.to_owned(), now).await
    }

    pub(crate) async fn save_authorization_code(
        &self,
        code: &AuthorizationCodeRecord,
    ) -> Result<(), SqlError> {
        let mut query = Query::new(INSERT_CODE);
        for value in code_args(code) {
            query = query.bind(value);
        }
        self.db
            .execute(query)
            .await
            .map_err(|e| for_client(e, &code.client_id))
            .map(drop)
    }

    pub(crate) async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        client_id: &str,
    ) -> Result<CodeRedemption<AuthorizationCodeRecord>, SqlError> {
        self.db
            .redeem(code_hash.to_owned(), client_id.to_owned())
            .await
    }
}

/// Retires key `kid` at `retires_at` (unless it retired earlier) and removes it at
/// `expires_at`.
fn retire_statement(kid: &str, retires_at: i64, expires_at: i64) -> Query {
    Query::new(
        "UPDATE signing_keys SET retires_at = $2, expires_at = $3 \
         WHERE kid = $1 AND (retires_at IS NULL OR retires_at > $2)",
    )
    .bind(kid)
    .bind(retires_at)
    .bind(expires_at)
}
