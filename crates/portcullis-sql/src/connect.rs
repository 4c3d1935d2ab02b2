//! Opening a database from a URL, and what differs between SQLite and PostgreSQL:
//! connection settings and the embedded migrations. This is the one place that looks
//! at which database it is talking to.
//!
//! SQLite runs in WAL mode with foreign keys on and a 5 s `busy_timeout`, so that
//! concurrent writers wait for each other instead of failing; `synchronous` is `NORMAL`
//! (survives a process crash) or `FULL` (survives power loss) per [`SqlOptions`].

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgQueryResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous as Synchronous,
};
use sqlx::{Connection, Pool, Postgres, Sqlite};

use crate::error::SqlError;
use crate::repository::{Dialect, Repo, Repository};
use crate::sqlite_fast::FastSqlite;
use crate::{Backend, SqlOptions, SqliteSynchronous};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite writer waits for another one before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait for a pooled connection (and for PostgreSQL to answer at start).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled PostgreSQL connection idle for longer than this is pinged before use.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// An open database: the repository, which database it is, and a description.
pub(crate) struct Connected {
    pub(crate) repository: Arc<dyn Repository>,
    pub(crate) backend: Backend,
    pub(crate) description: String,
}

/// Opens the database `url` names.
pub(crate) async fn connect(url: &str, options: &SqlOptions) -> Result<Connected, SqlError> {
    let Some((scheme, _)) = url.split_once(':') else {
        return Err(SqlError::InvalidUrl {
            reason: "it has no scheme".to_owned(),
        });
    };
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => connect_sqlite(url, options).await,
        "postgres" | "postgresql" => connect_postgres(url, options).await,
        _ => Err(SqlError::UnsupportedScheme {
            // Only the scheme: the rest of the URL may hold a password.
            scheme: scheme.chars().take(32).collect(),
        }),
    }
}

async fn connect_sqlite(url: &str, options: &SqlOptions) -> Result<Connected, SqlError> {
    let connect_options =
        SqliteConnectOptions::from_str(url).map_err(|e| SqlError::InvalidUrl {
            reason: e.to_string(),
        })?;
    let in_memory = is_sqlite_memory_url(url);
    let connect_options = connect_options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match options.sqlite_synchronous {
            SqliteSynchronous::Normal => Synchronous::Normal,
            SqliteSynchronous::Full => Synchronous::Full,
        })
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        // A commit writes each page it dirtied to the WAL, with two `pwrite` calls per
        // page. New token keys are time-ordered, so a batch of inserts dirties a few
        // pages at the end of the table and of each index: 4 KiB pages (SQLite's
        // default, set here so that it stays so) need a quarter of the frames 1 KiB
        // pages did. With 1 KiB pages client_credentials cost 33.5 µs of server CPU a
        // request, with 4 KiB 30.4 µs (docs/performance.md). It only takes effect
        // when the file is created.
        .page_size(4096);

    if in_memory {
        // Every connection to a private in-memory database sees its own database:
        // keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(connect_options)
            .await
            .map_err(|e| SqlError::OpenSqlite {
                path: ":memory:".to_owned(),
                reason: e.to_string(),
            })?;
        // rusqlite cannot share a private in-memory database: sqlx does everything.
        return Ok(Connected {
            repository: Arc::new(Repo::new(pool.clone(), pool, 1, 1)),
            backend: Backend::Sqlite,
            description: "SQLite in memory".to_owned(),
        });
    }
    let path = absolute(connect_options.get_filename());
    check_parent_directory(&path)?;
    secure_database_file(&path)?;
    let pool_options = SqlitePoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT);
    // Switching a new file to WAL needs it to itself, and SQLite reports "database
    // is locked" at once (no busy wait) when another process opens it at the same
    // moment. The switch is persistent, so one of them wins and a retry succeeds.
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    let pool = loop {
        match pool_options
            .clone()
            .connect_with(connect_options.clone())
            .await
        {
            Ok(pool) => break pool,
            Err(error) if attempt < ATTEMPTS && is_sqlite_busy(&error) => {
                tracing::debug!(attempt, %error, "SQLite database busy while opening; retrying");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(error) => {
                return Err(SqlError::OpenSqlite {
                    path: path.display().to_string(),
                    reason: sqlite_open_reason(&path, &error),
                })
            }
        }
    };
    // One writer connection: writers queue for it in the pool instead of meeting
    // on SQLite's lock, where the loser sleeps in the busy handler.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(connect_options.clone())
        .await
        .map_err(|error| SqlError::OpenSqlite {
            path: path.display().to_string(),
            reason: sqlite_open_reason(&path, &error),
        })?;
    let fast = FastSqlite::open(&path, options.sqlite_synchronous)?;
    Ok(Connected {
        repository: Arc::new(Repo::with_fast_sqlite(pool, writer, fast)),
        backend: Backend::Sqlite,
        description: format!("SQLite at {}", path.display()),
    })
}

async fn connect_postgres(url: &str, options: &SqlOptions) -> Result<Connected, SqlError> {
    let connect_options = PgConnectOptions::from_str(url).map_err(|e| SqlError::InvalidUrl {
        reason: e.to_string(),
    })?;
    let target = postgres_target(&connect_options);
    let unreachable = |e: sqlx::Error| SqlError::ConnectPostgres {
        target: target.clone(),
        reason: postgres_connect_reason(&e),
    };
    // One plain connection first: the pool would retry until its timeout and then
    // report only that it timed out, hiding "connection refused" or "no such database".
    let probe = tokio::time::timeout(
        ACQUIRE_TIMEOUT,
        PgConnection::connect_with(&connect_options),
    )
    .await
    .map_err(|_| SqlError::ConnectPostgres {
        target: target.clone(),
        reason: format!("no answer within {} s", ACQUIRE_TIMEOUT.as_secs()),
    })?
    .map_err(unreachable)?;
    probe.close().await.map_err(unreachable)?;
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // sqlx pings every connection it hands out by default: a second round trip
        // for every query, which doubled the PostgreSQL work of an introspection. A
        // connection in steady use has just proved it is alive; one that sat idle
        // (PostgreSQL may have restarted meanwhile) is still checked first.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(connect_options)
        .await
        .map_err(unreachable)?;
    Ok(Connected {
        // Two writer tasks, so that one batch fills while the other waits for its
        // commit's WAL flush, and one lookup task. Batches grow with the load, so more
        // tasks mostly make smaller batches: on the 2-core bench machine four writers
        // and four readers gave 17k tokens/s and 13k lookups/s, two and one 20k and
        // 31k (docs/performance.md).
        repository: Arc::new(Repo::new(pool.clone(), pool, 2, 1)),
        backend: Backend::Postgres,
        description: format!("PostgreSQL at {target}"),
    })
}

impl Dialect for Sqlite {
    async fn migrate(pool: &Pool<Self>) -> Result<(), SqlError> {
        // sqlx takes no lock on SQLite: when two processes migrate a new file at once,
        // the loser's transaction fails (its tables exist by then) and rolls back
        // whole. Running again then finds every migration applied.
        const ATTEMPTS: u32 = 5;
        let mut attempt = 1;
        loop {
            match SQLITE_MIGRATIONS.run(pool).await {
                Ok(()) => return Ok(()),
                Err(error) if attempt < ATTEMPTS && is_concurrent_migration(&error) => {
                    tracing::debug!(attempt, %error, "SQLite migration raced another process; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(error) => return Err(SqlError::Migrate(error)),
            }
        }
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Dialect for Postgres {
    async fn migrate(pool: &Pool<Self>) -> Result<(), SqlError> {
        // sqlx holds a PostgreSQL advisory lock while it migrates, so concurrent
        // starts take turns.
        POSTGRES_MIGRATIONS
            .run(pool)
            .await
            .map_err(SqlError::Migrate)
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// A failure that another process migrating at the same moment explains.
fn is_concurrent_migration(error: &MigrateError) -> bool {
    matches!(
        error,
        MigrateError::Execute(sqlx::Error::Database(_))
            | MigrateError::ExecuteMigration(sqlx::Error::Database(_), _)
    )
}

/// `SQLITE_BUSY` and its extended codes (the primary code is the low byte).
fn is_sqlite_busy(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

fn is_sqlite_memory_url(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.starts_with(":memory:") || rest.contains("mode=memory")
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Creates a new database file readable by its owner only (0600), before SQLite
/// opens it: SQLite gives its `-wal` and `-shm` files the database file's permissions,
/// so all three hold password hashes, emails and session data for the owner alone,
/// whatever the umask. For an existing file readable or writable by others, logs a
/// warning that says how to fix it.
fn secure_database_file(path: &Path) -> Result<(), SqlError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => {
                return Err(SqlError::OpenSqlite {
                    path: path.display().to_string(),
                    reason: error.to_string(),
                })
            }
        }
        for file in sqlite_files(path) {
            let Ok(metadata) = std::fs::metadata(&file) else {
                continue;
            };
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %file.display(),
                    mode = format_args!("{mode:o}"),
                    "the database file is readable or writable by other users; it holds password hashes and session data: run `chmod 600 {}*`",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The database file and the two files SQLite keeps beside it in WAL mode.
fn sqlite_files(path: &Path) -> [PathBuf; 3] {
    let with_suffix = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_owned(), with_suffix("-wal"), with_suffix("-shm")]
}

/// SQLite creates the file but not its directory; say so plainly.
fn check_parent_directory(path: &Path) -> Result<(), SqlError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    if parent.as_os_str().is_empty() || parent.is_dir() {
        return Ok(());
    }
    let reason = if parent.exists() {
        format!("'{}' is not a directory", parent.display())
    } else {
        format!(
            "the directory '{}' does not exist (it is not created automatically)",
            parent.display()
        )
    };
    Err(SqlError::OpenSqlite {
        path: path.display().to_string(),
        reason,
    })
}

/// Why SQLite could not open `path`, in plain words where the OS can tell.
fn sqlite_open_reason(path: &Path, error: &sqlx::Error) -> String {
    if path.is_dir() {
        return "it is a directory, not a database file".to_owned();
    }
    let probe = if path.exists() {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .err()
    } else {
        None
    };
    match probe {
        Some(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            "permission denied".to_owned()
        }
        _ => match error {
            sqlx::Error::Database(db) => db.message().to_owned(),
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                "permission denied".to_owned()
            }
            other => other.to_string(),
        },
    }
}

fn postgres_connect_reason(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::PoolTimedOut => "no answer in time".to_owned(),
        other => other.to_string(),
    }
}

/// `host:port/database` (or the socket path), never the user or password.
fn postgres_target(options: &PgConnectOptions) -> String {
    let database = options.get_database().unwrap_or(options.get_username());
    match options.get_socket() {
        Some(socket) => format!("{}/{database}", socket.display()),
        None => format!("{}:{}/{database}", options.get_host(), options.get_port()),
    }
}
