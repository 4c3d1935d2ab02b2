//! Opening a database from a URL: the one place that looks at which database it is.
//! It picks the backend (`crate::sqlite` or `crate::postgres`) once; the store never
//! asks again.
//!
//! SQLite runs in WAL mode with foreign keys on and a 5 s `busy_timeout`, so that
//! other processes' writers wait instead of failing; `synchronous` is `NORMAL`
//! (survives a process crash) or `FULL` (survives power loss) per [`SqlOptions`].

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::Connection;

use crate::backend::Backend;
use crate::error::SqlError;
use crate::postgres::PgBackend;
use crate::sqlite::{location_of, Location, SqliteBackend};
use crate::{Backend as Kind, SqlOptions};

/// How long to wait for a pooled connection (and for PostgreSQL to answer at start).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled PostgreSQL connection idle for longer than this is pinged before use.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Opens the database `url` names: the backend, which database it is, and whether
/// opening created it (a new SQLite file).
pub(crate) async fn connect(
    url: &str,
    options: &SqlOptions,
) -> Result<(Arc<dyn Backend>, Kind, bool), SqlError> {
    let Some((scheme, _)) = url.split_once(':') else {
        return Err(SqlError::InvalidUrl {
            reason: "it has no scheme".to_owned(),
        });
    };
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => {
            let (backend, created) = connect_sqlite(url, options).await?;
            Ok((backend, Kind::Sqlite, created))
        }
        "postgres" | "postgresql" => {
            Ok((connect_postgres(url, options).await?, Kind::Postgres, false))
        }
        _ => Err(SqlError::UnsupportedScheme {
            // Only the scheme: the rest of the URL may hold a password.
            scheme: scheme.chars().take(32).collect(),
        }),
    }
}

async fn connect_sqlite(
    url: &str,
    options: &SqlOptions,
) -> Result<(Arc<dyn Backend>, bool), SqlError> {
    let location = location_of(url)?;
    let mut created = false;
    match &location {
        Location::File(path) => {
            check_parent_directory(path)?;
            if path.is_dir() {
                return Err(SqlError::OpenSqlite {
                    path: path.display().to_string(),
                    reason: "it is a directory, not a database file".to_owned(),
                });
            }
            if options.require_existing && !path.exists() {
                return Err(SqlError::NoDatabase {
                    path: path.display().to_string(),
                });
            }
            created = secure_database_file(path)?;
        }
        Location::Memory if options.require_existing => {
            return Err(SqlError::InvalidUrl {
                reason: "an in-memory SQLite database starts empty and is gone when the \
                         command ends: name the database file (sqlite://PATH)"
                    .to_owned(),
            });
        }
        Location::Memory => {}
    }
    let synchronous = options.sqlite_synchronous;
    let opened = {
        let location = location.clone();
        // Opening may wait out another process's lock: off the async threads.
        tokio::task::spawn_blocking(move || SqliteBackend::open(location, synchronous))
            .await
            .map_err(|e| SqlError::Task(e.to_string()))?
    };
    match opened {
        Ok(backend) => Ok((Arc::new(backend), created)),
        Err(error) => Err(SqlError::OpenSqlite {
            path: match &location {
                Location::File(path) => path.display().to_string(),
                Location::Memory => ":memory:".to_owned(),
            },
            reason: match &location {
                Location::File(path) => sqlite_open_reason(path, &error),
                Location::Memory => error.to_string(),
            },
        }),
    }
}

async fn connect_postgres(url: &str, options: &SqlOptions) -> Result<Arc<dyn Backend>, SqlError> {
    if !names_a_postgres_database(url) {
        return Err(SqlError::InvalidUrl {
            reason: "the PostgreSQL URL names no database (without one, the server's \
                     default for the user would be used): add it as the path, \
                     postgres://USER@HOST/DATABASE"
                .to_owned(),
        });
    }
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
    let pool_options = PgPoolOptions::new()
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
        });
    let pool = pool_options
        .clone()
        .max_connections(options.max_connections.max(1))
        .connect_with(connect_options.clone())
        .await
        .map_err(unreachable)?;
    // The hot statements (token lookups and writes, redemptions) look rows up by
    // their keys' indexes. On a new database, before autovacuum has analyzed the
    // tables, the planner takes them for empty and prefers sequential scans — and the
    // plans prepared meanwhile stay, long after the tables have grown (a rotation then
    // scanned every token). Their own connections never take a sequential scan where an
    // index serves; every other statement is planned as usual. Their statements are
    // prepared once and always take the same plan, so they are planned once too
    // (a generic plan) instead of again for every execution's arrays.
    let hot_options = connect_options.options([
        ("enable_seqscan", "off"),
        ("plan_cache_mode", "force_generic_plan"),
    ]);
    let hot = pool_options
        .clone()
        .max_connections(PgBackend::HOT_CONNECTIONS)
        .connect_with(hot_options.clone())
        .await
        .map_err(unreachable)?;
    // The writers commit without waiting for their WAL flush; the flusher task waits
    // for it before their callers hear of their writes (see `crate::postgres`).
    let unflushed = pool_options
        .max_connections(PgBackend::WRITER_CONNECTIONS)
        .connect_with(hot_options.options([("synchronous_commit", "off")]))
        .await
        .map_err(unreachable)?;
    Ok(Arc::new(PgBackend::new(pool, hot, unflushed, target)))
}

/// True when the PostgreSQL `url` itself names the database: a non-empty path
/// (`postgres://HOST/DATABASE`) or a `dbname` parameter. `PGDATABASE` and the
/// server's per-user default do not count: a URL that leaves the database to them
/// reaches whichever database they happen to imply.
fn names_a_postgres_database(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = before_query
        .split_once('/')
        .map(|(_, path)| path)
        .unwrap_or("");
    !path.is_empty()
        || query
            .split('&')
            .any(|pair| pair.strip_prefix("dbname=").is_some_and(|v| !v.is_empty()))
}

/// Creates a new database file readable by its owner only (0600), before SQLite
/// opens it: SQLite gives its `-wal` and `-shm` files the database file's permissions,
/// so all three hold password hashes, emails and session data for the owner alone,
/// whatever the umask. For an existing file readable or writable by others, logs a
/// warning that says how to fix it. True when it created the file.
fn secure_database_file(path: &Path) -> Result<bool, SqlError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(true),
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
    return Ok(!path.exists());
    #[cfg(unix)]
    Ok(false)
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
fn sqlite_open_reason(path: &Path, error: &SqlError) -> String {
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
            SqlError::Sqlite(rusqlite::Error::SqliteFailure(_, Some(message))) => message.clone(),
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

#[cfg(test)]
mod tests {
    use super::names_a_postgres_database;

    #[test]
    fn a_postgres_url_must_name_its_database() {
        for url in [
            "postgres://u:p@db.internal/portcullis",
            "postgresql://db.internal:5432/portcullis?sslmode=require",
            "postgres://db.internal?dbname=portcullis",
            "postgres:///portcullis",
        ] {
            assert!(names_a_postgres_database(url), "{url}");
        }
        for url in [
            "postgres://",
            "postgres:",
            "postgres://u:p@db.internal",
            "postgres://db.internal:5432/",
            "postgres://db.internal/?sslmode=require",
            "postgres://db.internal?dbname=",
        ] {
            assert!(!names_a_postgres_database(url), "{url}");
        }
    }
}
