//! [`Backend`]: what a database must do for the store, chosen once when the store
//! connects — SQLite (`crate::sqlite`) or PostgreSQL (`crate::postgres`). The store's
//! logic (`crate::repository`) is written once against it; nothing else looks at which
//! database it is.

use async_trait::async_trait;
use portcullis_core::{AuthorizationCodeRecord, CodeRedemption, TokenRecord};

use crate::error::SqlError;
use crate::group_commit::Writer;
use crate::schema::{OwnedRow, Query, StatementResult};

/// Which key a token lookup goes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenColumn {
    /// `access_token_hash`
    Access,
    /// `refresh_token_hash`
    Refresh,
}

impl TokenColumn {
    /// True when `row` is the token whose key in this column is `key`.
    pub(crate) fn matches(self, row: &TokenRecord, key: &str) -> bool {
        match self {
            Self::Access => row.access_token_hash == key,
            Self::Refresh => row.refresh_token_hash.as_deref() == Some(key),
        }
    }
}

/// A database, as the store uses it.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Applies the embedded migrations that are not applied yet, idempotently, and
    /// safely when several processes start at once.
    async fn migrate(&self) -> Result<(), SqlError>;

    /// `SQLite at /path` or `PostgreSQL at host:port/db`, never a password.
    fn describe(&self) -> String;

    /// True when the migrations have run here at least once: the migrations table
    /// exists.
    async fn has_schema(&self) -> Result<bool, SqlError> {
        let rows = self.fetch(Query::new(self.schema_probe())).await?;
        Ok(match rows.first() {
            Some(row) => crate::schema::Row::int(row, 0)? > 0,
            None => false,
        })
    }

    /// A query whose first column counts the migrations tables (0 or 1).
    fn schema_probe(&self) -> &'static str;

    /// The rows `query` returns, read from committed data.
    async fn fetch(&self, query: Query) -> Result<Vec<OwnedRow>, SqlError>;

    /// Runs one write; how many rows it changed.
    async fn execute(&self, query: Query) -> Result<u64, SqlError>;

    /// Runs `statements` in one transaction, all or nothing.
    async fn transaction(&self, statements: Vec<Query>) -> Result<Vec<StatementResult>, SqlError>;

    /// The token whose key in `column` is `key`: the hot read of every introspection
    /// and every bearer check. Sees every write this store committed before.
    async fn find_token(
        &self,
        column: TokenColumn,
        key: &str,
    ) -> Result<Option<TokenRecord>, SqlError>;

    /// The group commit that the hot writes go through (`crate::group_commit`).
    fn writer(&self) -> &Writer;

    /// Saves a new token; returns once it is committed.
    async fn save_token(&self, token: TokenRecord) -> Result<(), SqlError> {
        self.writer().save(token).await
    }

    /// When the token holding refresh key `presented` is not revoked, revokes it and
    /// saves `new`, atomically: `true`; otherwise changes nothing: `false`.
    async fn rotate(&self, presented: String, new: TokenRecord) -> Result<bool, SqlError> {
        self.writer().rotate(presented, new).await
    }

    /// Marks the code used when it was issued to `client_id`, atomically.
    async fn redeem(
        &self,
        code_hash: String,
        client_id: String,
    ) -> Result<CodeRedemption<AuthorizationCodeRecord>, SqlError> {
        self.writer().redeem(code_hash, client_id).await
    }

    /// Revokes the token whose access key is `key`.
    async fn revoke_token(&self, key: String) -> Result<(), SqlError>;

    /// Remembers `grant_id` as revoked (at `now`), then revokes its tokens, so that a
    /// token saved for it afterwards is revoked too.
    async fn revoke_grant(&self, grant_id: String, now: i64) -> Result<(), SqlError>;
}

/// The statements of `revoke_grant`, shared by both backends: remember the grant, then
/// revoke its tokens. (`grant_type <> 'client_credentials'` matches the partial index
/// on `grant_id`: those grants are never revoked as a whole.)
pub(crate) fn revoke_grant_statements(grant_id: &str, now: i64) -> [Query; 2] {
    [
        Query::new(
            "INSERT INTO revoked_grants (grant_id, revoked_at) VALUES ($1, $2) \
             ON CONFLICT (grant_id) DO NOTHING",
        )
        .bind(grant_id)
        .bind(now),
        Query::new(
            "UPDATE tokens SET revoked = TRUE WHERE grant_id = $1 AND revoked = FALSE \
             AND grant_type <> 'client_credentials'",
        )
        .bind(grant_id),
    ]
}

/// The statement of `revoke_token`.
pub(crate) fn revoke_token_statement(key: &str) -> Query {
    Query::new("UPDATE tokens SET revoked = TRUE WHERE access_token_hash = $1").bind(key)
}

/// Grant types whose grant may be revoked before their token is saved (a replay can
/// race the legitimate redemption or rotation): their new tokens are checked against
/// `revoked_grants` when they are written.
pub(crate) fn may_race_a_replay(token: &TokenRecord) -> bool {
    matches!(
        token.grant_type.as_str(),
        "authorization_code" | "refresh_token"
    )
}
