//! [`SqlError`]: everything that can go wrong in the SQL store, in words an operator
//! can act on.
//!
//! Messages never contain the database URL itself (it may hold a password): they name
//! the SQLite path or the PostgreSQL `host:port/database` instead.

use portcullis_core::{StoreError, StoreErrorKind};

/// A failure of [`SqlStore`](crate::SqlStore).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The URL names a database this crate does not speak.
    #[error(
        "unsupported database URL scheme '{scheme}': use sqlite://PATH (for example \
         sqlite://portcullis.db) or postgres://USER@HOST:PORT/DATABASE"
    )]
    UnsupportedScheme {
        /// The scheme found in the URL (the part before `:`).
        scheme: String,
    },

    /// The URL could not be parsed.
    #[error("invalid database URL: {reason} — expected sqlite://PATH or postgres://USER@HOST:PORT/DATABASE")]
    InvalidUrl {
        /// Why it was rejected (never the URL itself).
        reason: String,
    },

    /// The SQLite database file could not be opened or created.
    #[error("cannot open the SQLite database at '{path}': {reason} — check the path in the database URL (--database-url)")]
    OpenSqlite {
        /// The absolute path of the database file.
        path: String,
        /// What went wrong.
        reason: String,
    },

    /// The PostgreSQL server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL at {target}: {reason} — check that the server is running and the URL (--database-url) is right")]
    ConnectPostgres {
        /// `host:port/database`, without credentials.
        target: String,
        /// What went wrong.
        reason: String,
    },

    /// Applying the embedded migrations failed.
    #[error("cannot migrate the database schema: {0}")]
    Migrate(sqlx::migrate::MigrateError),

    /// The record already exists (duplicate client_id, username, session id).
    #[error("{0}")]
    Conflict(String),

    /// The database rejected or failed a query.
    #[error("database error: {0}")]
    Database(sqlx::Error),

    /// SQLite failed a statement on the hot path (see `sqlite_fast`).
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),

    /// A stored row could not be read back (bad JSON, bad scope, bad hash).
    #[error("invalid data in the database: {0}")]
    Corrupt(String),

    /// Hashing or verifying a password failed.
    #[error("password hashing failed: {0}")]
    Password(String),

    /// A background task (password hashing) did not finish.
    #[error("a background task failed: {0}")]
    Task(String),

    /// The username cannot be registered.
    #[error("invalid username: {0}")]
    InvalidUsername(crate::username::UsernameError),

    /// A write named a client that no longer exists: it was deleted after it was read
    /// (by another process, or another instance on the same database).
    #[error("the client '{0}' no longer exists")]
    UnknownClient(String),

    /// Too much work is queued (password hashing during a flood of sign-ins): try again
    /// shortly.
    #[error("the server is busy: {0}")]
    Busy(String),
}

impl From<sqlx::Error> for SqlError {
    fn from(error: sqlx::Error) -> Self {
        SqlError::Database(error)
    }
}

impl SqlError {
    /// True when this is [`SqlError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, SqlError::Conflict(_))
    }
}

impl From<SqlError> for StoreError {
    fn from(error: SqlError) -> Self {
        let kind = match error {
            SqlError::UnknownClient(_) => StoreErrorKind::UnknownClient,
            _ => StoreErrorKind::Failed,
        };
        StoreError::from_source("SQL store operation failed", error).with_kind(kind)
    }
}

/// True when `error` is a foreign-key violation: on the hot writes, a token or code
/// of a client deleted meanwhile.
pub(crate) fn is_foreign_key_violation(error: &SqlError) -> bool {
    match error {
        SqlError::Database(sqlx::Error::Database(db)) => db.is_foreign_key_violation(),
        SqlError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
            failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
        }
        _ => false,
    }
}

/// The error a caller of a write for `client_id` gets: [`SqlError::UnknownClient`] for
/// a foreign-key violation (its client is gone), the error itself otherwise.
pub(crate) fn for_client(error: SqlError, client_id: &str) -> SqlError {
    if is_foreign_key_violation(&error) {
        SqlError::UnknownClient(client_id.to_owned())
    } else {
        error
    }
}

/// Turns a unique-constraint violation into [`SqlError::Conflict`] with `message`.
pub(crate) fn conflict_or_database(
    error: sqlx::Error,
    message: impl FnOnce() -> String,
) -> SqlError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => SqlError::Conflict(message()),
        _ => SqlError::Database(error),
    }
}
