//! [`SqlError`]: everything that can go wrong in the SQL store, in words an operator
//! can act on.
//!
//! Messages never contain the database URL itself (it may hold a password): they name
//! the SQLite path or the PostgreSQL `host:port/database` instead.

use std::sync::Arc;

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

    /// The options asked for an existing database
    /// ([`SqlOptions::require_existing`](crate::SqlOptions)) and there is no SQLite
    /// file at `path`.
    #[error("there is no database at '{path}' — create it with `portcullis migrate` (or `portcullis serve`), or point --database-url (PORTCULLIS_DATABASE_URL) at the existing one")]
    NoDatabase {
        /// The absolute path of the missing database file.
        path: String,
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
    Migrate(String),

    /// The record already exists (duplicate client_id, username, session id).
    #[error("{0}")]
    Conflict(String),

    /// PostgreSQL rejected or failed a query.
    #[error("database error: {0}")]
    Postgres(sqlx::Error),

    /// SQLite rejected or failed a statement.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),

    /// A stored row could not be read back (bad JSON, bad scope, bad hash).
    #[error("invalid data in the database: {0}")]
    Corrupt(String),

    /// Hashing or verifying a password failed.
    #[error("password hashing failed: {0}")]
    Password(String),

    /// A background task (password hashing, a writer) did not finish.
    #[error("a background task failed: {0}")]
    Task(String),

    /// A batch of writes this one was part of failed as a whole (the database was
    /// unreachable, the disk full): the cause, shared by every write of the batch.
    #[error("a batch of writes failed: {0}")]
    Batch(#[source] Arc<SqlError>),

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
        SqlError::Postgres(error)
    }
}

impl From<rusqlite::Error> for SqlError {
    fn from(error: rusqlite::Error) -> Self {
        SqlError::Sqlite(error)
    }
}

impl SqlError {
    /// True when this is [`SqlError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, SqlError::Conflict(_))
    }

    /// The error itself, or the cause a batch failed with.
    pub(crate) fn cause(&self) -> &SqlError {
        match self {
            SqlError::Batch(cause) => cause.cause(),
            other => other,
        }
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
    match error.cause() {
        SqlError::Postgres(sqlx::Error::Database(db)) => db.is_foreign_key_violation(),
        SqlError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
            failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
        }
        _ => false,
    }
}

/// True when `error` is a unique-constraint violation (a taken id or name).
pub(crate) fn is_unique_violation(error: &SqlError) -> bool {
    match error.cause() {
        SqlError::Postgres(sqlx::Error::Database(db)) => db.is_unique_violation(),
        SqlError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => matches!(
            failure.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        ),
        _ => false,
    }
}

/// True for an error one write can cause by itself (a constraint it breaks, a row it
/// cannot read), as opposed to the database failing: the other writes of its batch
/// deserve another try without it.
pub(crate) fn caused_by_a_job(error: &SqlError) -> bool {
    match error {
        SqlError::Postgres(sqlx::Error::Database(db)) => {
            !matches!(db.kind(), sqlx::error::ErrorKind::Other)
        }
        SqlError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
            failure.code == rusqlite::ErrorCode::ConstraintViolation
        }
        SqlError::Corrupt(_) => true,
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
pub(crate) fn conflict_or(error: SqlError, message: impl FnOnce() -> String) -> SqlError {
    if is_unique_violation(&error) {
        SqlError::Conflict(message())
    } else {
        error
    }
}
