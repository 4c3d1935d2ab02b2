//! The SQLite backend, on rusqlite: every write through one writer thread, reads inline
//! on the calling thread.
//!
//! - **Writes** — new tokens, rotations, redemptions, revocations, and every other write
//!   of the store (clients, users, sessions, throttling, purging) — go to one writer
//!   thread that owns one connection and runs the group commit (`crate::group_commit`):
//!   every job waiting at that moment, in one `IMMEDIATE` transaction, committed before
//!   any caller hears of it. SQLite has one writer at a time anyway; with one writer
//!   thread, writes queue in memory instead of meeting on the file lock, where the
//!   loser sleeps in SQLite's busy handler.
//! - **Reads** run inline on the calling task: index lookups of a few microseconds in
//!   WAL mode, where readers never wait for the writer. Each thread keeps its own
//!   connection. A token lookup may reuse the read transaction its connection opened
//!   for the previous one (see [`Snapshot`]): beginning and ending a read transaction
//!   takes SQLite's WAL-index locks, `fcntl` calls behind a mutex, which cost more
//!   than the lookup itself.
//! - **Checkpoints** — copying the WAL back into the database file, with its fsyncs —
//!   run on a thread of their own every half second instead of inside whichever commit
//!   crosses the WAL size limit, so no request waits for a disk flush.
//!
//! Because SQLite runs one write transaction at a time, checking `revoked_grants`
//! inside the batch's transaction is enough to close the race between a legitimate
//! redemption and a replay.
//!
//! An in-memory database (`sqlite::memory:`) is one connection that the writer and the
//! readers share behind a mutex: every connection to a private in-memory database
//! would see a database of its own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use portcullis_core::{AuthorizationCodeRecord, CodeRedemption, TokenRecord};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql, TransactionBehavior};
use thread_local::ThreadLocal;

use crate::backend::{
    may_race_a_replay, revoke_grant_statements, revoke_token_statement, Backend, TokenColumn,
};
use crate::error::SqlError;
use crate::group_commit::{Batch, Failure, Job, Outcome, Processed, Writer};
use crate::schema::{
    code_from_row, token_args, token_from_row, OwnedRow, Query, Row, StatementResult, Value,
    CODE_COLUMNS, TOKEN_COLUMNS, TOKEN_INSERT_COLUMNS,
};
use crate::SqliteSynchronous;

/// How long a connection waits for another process's write lock.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a token lookup may reuse the read transaction of the previous lookup on
/// its thread, when this process has committed nothing since. Writes of other
/// processes (the CLI, a second server on the same file) are therefore seen by token
/// lookups at most this much later; everything this process commits is seen at once.
const SNAPSHOT_REUSE: Duration = Duration::from_millis(1);

/// How long this process must have committed nothing (as far as a reader has seen)
/// before a lookup keeps its read transaction open for the next one. While writes go
/// on, every lookup ends its transaction at once, as if there were no reuse: an open
/// snapshot would stop the writer from restarting the WAL, which would then grow.
const QUIET_BEFORE_REUSE: Duration = Duration::from_millis(5);

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Monotonic time, for the age of snapshots only (never for expiry decisions).
#[allow(clippy::disallowed_methods)]
fn monotonic_now() -> Instant {
    Instant::now()
}

/// A rusqlite row, read by position.
struct SqliteRow<'a, 'r>(&'a rusqlite::Row<'r>);

impl Row for SqliteRow<'_, '_> {
    fn text(&self, index: usize) -> Result<String, SqlError> {
        Ok(self.0.get(index)?)
    }

    fn opt_text(&self, index: usize) -> Result<Option<String>, SqlError> {
        Ok(self.0.get(index)?)
    }

    fn int(&self, index: usize) -> Result<i64, SqlError> {
        Ok(self.0.get(index)?)
    }

    fn opt_int(&self, index: usize) -> Result<Option<i64>, SqlError> {
        Ok(self.0.get(index)?)
    }

    fn boolean(&self, index: usize) -> Result<bool, SqlError> {
        Ok(self.0.get(index)?)
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Text(Some(text)) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Value::Int(Some(number)) => {
                ToSqlOutput::Owned(rusqlite::types::Value::Integer(*number))
            }
            Value::Text(None) | Value::Int(None) => {
                ToSqlOutput::Owned(rusqlite::types::Value::Null)
            }
            Value::Bool(flag) => {
                ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(*flag)))
            }
        })
    }
}

/// `$1`, `$2`… as SQLite's own `?1`, `?2`…: positional, whatever the order of first use.
pub(crate) fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// The rows of `statement` (prepared from `query`) as owned rows, and how many rows it
/// changed.
fn run_statement(conn: &Connection, query: &Query) -> Result<StatementResult, SqlError> {
    let mut statement = conn.prepare_cached(&sqlite_placeholders(&query.sql))?;
    let columns = statement.column_count();
    let readonly = statement.readonly();
    let mut rows = statement.query(rusqlite::params_from_iter(query.args.iter()))?;
    let mut owned = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for index in 0..columns {
            values.push(match row.get_ref(index)? {
                ValueRef::Null => Value::Text(None),
                ValueRef::Integer(number) => Value::Int(Some(number)),
                ValueRef::Real(number) => Value::Text(Some(number.to_string())),
                ValueRef::Text(text) => {
                    Value::Text(Some(String::from_utf8_lossy(text).into_owned()))
                }
                ValueRef::Blob(_) => {
                    return Err(SqlError::Corrupt("a column holds a blob".to_owned()))
                }
            });
        }
        owned.push(OwnedRow(values));
    }
    drop(rows);
    let rows_affected = if readonly { 0 } else { conn.changes() };
    Ok(StatementResult {
        rows_affected,
        rows: owned,
    })
}

fn open_connection(
    location: &Location,
    synchronous: SqliteSynchronous,
    role: Role,
) -> rusqlite::Result<Connection> {
    let conn = match location {
        Location::File(path) => Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?,
        Location::Memory => Connection::open_in_memory()?,
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(
        None,
        "synchronous",
        match synchronous {
            SqliteSynchronous::Normal => "NORMAL",
            SqliteSynchronous::Full => "FULL",
        },
    )?;
    match role {
        Role::Reader => conn.pragma_update(None, "query_only", true)?,
        Role::Writer => {
            // Rotations, revocations and redemptions update rows anywhere in the token
            // and code tables: a larger cache (8 MiB instead of 2) keeps their inner
            // pages at hand.
            conn.pragma_update(None, "cache_size", -8192)?;
            // Checkpoints (which fsync) run on the checkpointer thread, not in the
            // commit path; this is only a safety net should that thread fall behind.
            conn.pragma_update(None, "wal_autocheckpoint", 100_000)?;
        }
        Role::Checkpointer => {}
    }
    Ok(conn)
}

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    File(PathBuf),
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Reader,
    Writer,
    Checkpointer,
}

/// A reader connection and the read transaction it may have open.
struct Reader {
    conn: Connection,
    snapshot: Option<Snapshot>,
    /// The newest generation this reader has seen, and when it first saw it.
    seen: Option<(u64, Instant)>,
}

/// An open read transaction: which generation of this process's commits it is known
/// to include, and when it began.
#[derive(Clone, Copy)]
struct Snapshot {
    generation: u64,
    began: Instant,
}

impl Reader {
    /// Ends the open read transaction, if any.
    fn end_snapshot(&mut self) {
        if self.snapshot.take().is_some() || !self.conn.is_autocommit() {
            if let Err(error) = self.conn.execute_batch("COMMIT") {
                tracing::debug!(%error, "ending a SQLite read transaction failed");
            }
        }
    }
}

/// The connections reads use.
enum Readers {
    /// A file: one reader per thread that has read; shared with the checkpointer,
    /// which ends snapshots left open by threads that stopped reading.
    PerThread(Arc<ThreadLocal<Mutex<Option<Reader>>>>),
    /// In memory: the one connection, shared with the writer.
    Shared(Arc<Mutex<Connection>>),
}

/// The SQLite backend of one database.
pub(crate) struct SqliteBackend {
    location: Location,
    synchronous: SqliteSynchronous,
    readers: Readers,
    /// Bumped after every commit of this process that can change a token: a snapshot
    /// taken before it is not reused.
    generation: Arc<AtomicU64>,
    writer: Writer,
}

impl SqliteBackend {
    /// Opens the database (creating it if it is a missing file), switches a file to
    /// WAL, and starts the writer thread (and, for a file, the checkpointer).
    pub(crate) fn open(
        location: Location,
        synchronous: SqliteSynchronous,
    ) -> Result<Self, SqlError> {
        let writer_conn = open_writer(&location, synchronous)?;
        let generation = Arc::new(AtomicU64::new(0));
        let (writer, mut queues) = Writer::new(1);
        let queue = queues
            .pop()
            .ok_or_else(|| SqlError::Task("no writer queue".to_owned()))?;
        let (connection, readers) = match &location {
            Location::File(_) => (
                WriterConnection::Owned(writer_conn),
                Readers::PerThread(Arc::new(ThreadLocal::new())),
            ),
            Location::Memory => {
                let shared = Arc::new(Mutex::new(writer_conn));
                (
                    WriterConnection::Shared(shared.clone()),
                    Readers::Shared(shared),
                )
            }
        };
        let batch = RusqliteBatch {
            conn: connection,
            generation: generation.clone(),
        };
        let (alive, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("portcullis-sqlite-writer".to_owned())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread().build() {
                    Ok(runtime) => runtime.block_on(queue.run(batch)),
                    Err(error) => tracing::error!(%error, "the SQLite writer cannot start"),
                }
                drop(alive);
            })
            .map_err(|e| SqlError::Task(format!("cannot start the SQLite writer thread: {e}")))?;
        if let (Location::File(_), Readers::PerThread(readers)) = (&location, &readers) {
            let checkpointer = open_connection(&location, synchronous, Role::Checkpointer)
                .map_err(SqlError::Sqlite)?;
            let readers = Arc::clone(readers);
            std::thread::Builder::new()
                .name("portcullis-sqlite-checkpointer".to_owned())
                .spawn(move || run_checkpointer(checkpointer, stopped, &readers))
                .map_err(|e| {
                    SqlError::Task(format!("cannot start the SQLite checkpointer thread: {e}"))
                })?;
        }
        Ok(Self {
            location,
            synchronous,
            readers,
            generation,
            writer,
        })
    }

    /// Runs `f` on this thread's reader: in a snapshot that may be reused when
    /// `reuse` (token lookups), in a fresh one otherwise.
    fn read<T>(
        &self,
        reuse: bool,
        f: impl FnOnce(&Connection) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let readers = match &self.readers {
            Readers::Shared(conn) => {
                let conn = conn
                    .lock()
                    .map_err(|_| SqlError::Task("the SQLite connection is poisoned".to_owned()))?;
                return f(&conn);
            }
            Readers::PerThread(readers) => readers,
        };
        let slot = readers.get_or(|| Mutex::new(None));
        // The checkpointer holds the lock only to end a snapshot; a poisoned lock
        // (a panic mid-read) falls back to a connection of its own.
        let Ok(mut kept) = slot.lock() else {
            let conn = open_connection(&self.location, self.synchronous, Role::Reader)?;
            return f(&conn);
        };
        let reader = match kept.as_mut() {
            Some(reader) => reader,
            None => kept.insert(Reader {
                conn: open_connection(&self.location, self.synchronous, Role::Reader)?,
                snapshot: None,
                seen: None,
            }),
        };
        if !reuse {
            reader.end_snapshot();
            return f(&reader.conn);
        }
        // Read the generation before the snapshot starts: a commit in between makes
        // the snapshot newer than its label, never older.
        let generation = self.generation.load(Ordering::Acquire);
        let now = monotonic_now();
        if reader.seen.is_none_or(|(seen, _)| seen != generation) {
            reader.seen = Some((generation, now));
        }
        let current = reader.snapshot.is_some_and(|s| {
            s.generation == generation && now.duration_since(s.began) < SNAPSHOT_REUSE
        });
        if !current {
            reader.end_snapshot();
            reader.conn.execute_batch("BEGIN DEFERRED")?;
            reader.snapshot = Some(Snapshot {
                generation,
                began: now,
            });
        }
        let result = f(&reader.conn);
        let quiet = reader
            .seen
            .is_some_and(|(_, since)| now.duration_since(since) >= QUIET_BEFORE_REUSE);
        if result.is_err() || !quiet {
            reader.end_snapshot();
        }
        result
    }
}

/// Opens the writer's connection and switches a file to WAL. A new file's switch needs
/// it to itself, and SQLite reports "database is locked" at once (no busy wait) when
/// another process opens it at the same moment; the switch is persistent, so one of
/// them wins and a retry succeeds.
fn open_writer(
    location: &Location,
    synchronous: SqliteSynchronous,
) -> Result<Connection, SqlError> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        let opened = open_connection(location, synchronous, Role::Writer).and_then(|conn| {
            if let Location::File(_) = location {
                // A commit writes each page it dirtied to the WAL, two `pwrite` calls a
                // page. New token keys are time-ordered, so a batch of inserts dirties
                // a few pages at the end of the table and of each index: 4 KiB pages
                // (SQLite's default, set here so that it stays so) need a quarter of
                // the frames 1 KiB pages did (docs/performance.md). It only takes
                // effect when the file is created.
                conn.pragma_update(None, "page_size", 4096)?;
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
            }
            Ok(conn)
        });
        match opened {
            Ok(conn) => return Ok(conn),
            Err(error) if attempt < ATTEMPTS && is_busy(&error) => {
                tracing::debug!(attempt, %error, "SQLite database busy while opening; retrying");
                std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
                attempt += 1;
            }
            Err(error) => return Err(SqlError::Sqlite(error)),
        }
    }
}

/// `SQLITE_BUSY` and its extended codes.
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(failure, _)
        if failure.code == rusqlite::ErrorCode::DatabaseBusy)
}

/// Copies committed pages from the WAL into the database file every
/// [`CHECKPOINT_EVERY`], off the commit path: a `PASSIVE` checkpoint never blocks the
/// writer or the readers, and its fsyncs happen here rather than in a request's
/// commit. Ends when the writer thread does.
fn run_checkpointer(
    conn: Connection,
    writer_alive: mpsc::Receiver<()>,
    readers: &ThreadLocal<Mutex<Option<Reader>>>,
) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = writer_alive.recv_timeout(CHECKPOINT_EVERY) {
        // A snapshot left open by a thread that stopped reading would hold the WAL
        // back: end every snapshot too old to be reused anyway.
        let now = monotonic_now();
        for slot in readers.iter() {
            if let Ok(mut kept) = slot.try_lock() {
                if let Some(reader) = kept.as_mut() {
                    if reader
                        .snapshot
                        .is_some_and(|s| now.duration_since(s.began) >= SNAPSHOT_REUSE)
                    {
                        reader.end_snapshot();
                    }
                }
            }
        }
        if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, "SQLite checkpoint failed; retrying later");
        }
    }
}

/// Applies the embedded migrations with the bookkeeping sqlx uses
/// (`_sqlx_migrations`, so databases migrated by earlier versions stay valid), in one
/// `IMMEDIATE` transaction: processes starting at once on a new file take turns, and
/// a failure leaves the schema as it was.
fn migrate(conn: &mut Connection) -> Result<(), SqlError> {
    migrate_to(conn, i64::MAX)
}

/// [`migrate`], applying the migrations up to version `last` only.
fn migrate_to(conn: &mut Connection, last: i64) -> Result<(), SqlError> {
    let failed = |e: rusqlite::Error| SqlError::Migrate(e.to_string());
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (\
         version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, \
         success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .map_err(failed)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    let applied: Vec<(i64, bool, Vec<u8>)> = {
        let mut statement = tx
            .prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .map_err(failed)?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(failed)?;
        rows.collect::<rusqlite::Result<_>>().map_err(failed)?
    };
    for migration in MIGRATIONS.iter() {
        if migration.migration_type.is_down_migration() || migration.version > last {
            continue;
        }
        match applied
            .iter()
            .find(|(version, _, _)| *version == migration.version)
        {
            Some((_, false, _)) => {
                return Err(SqlError::Migrate(format!(
                    "migration {} failed partway earlier; restore the database from a backup",
                    migration.version
                )))
            }
            Some((_, true, checksum)) if checksum.as_slice() != migration.checksum.as_ref() => {
                return Err(SqlError::Migrate(format!(
                    "migration {} was applied but has been modified since",
                    migration.version
                )))
            }
            Some(_) => {}
            None => {
                let started = monotonic_now();
                tx.execute_batch(&migration.sql).map_err(|e| {
                    SqlError::Migrate(format!("migration {}: {e}", migration.version))
                })?;
                let elapsed = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
                tx.execute(
                    "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                     execution_time) VALUES (?1, ?2, TRUE, ?3, ?4)",
                    rusqlite::params![
                        migration.version,
                        migration.description.as_ref(),
                        migration.checksum.as_ref(),
                        elapsed
                    ],
                )
                .map_err(failed)?;
            }
        }
    }
    tx.commit().map_err(failed)
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn migrate(&self) -> Result<(), SqlError> {
        let location = self.location.clone();
        match &self.readers {
            Readers::Shared(conn) => {
                let mut conn = conn
                    .lock()
                    .map_err(|_| SqlError::Task("the SQLite connection is poisoned".to_owned()))?;
                migrate(&mut conn)
            }
            // A connection of its own: migrating takes the write lock for as long as
            // it needs, without holding up the writer thread's queue meanwhile.
            Readers::PerThread(_) => {
                let synchronous = self.synchronous;
                tokio::task::spawn_blocking(move || {
                    let mut conn = open_connection(&location, synchronous, Role::Checkpointer)?;
                    migrate(&mut conn)
                })
                .await
                .map_err(|e| SqlError::Task(e.to_string()))?
            }
        }?;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    fn schema_probe(&self) -> &'static str {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
    }

    fn describe(&self) -> String {
        match &self.location {
            Location::File(path) => format!("SQLite at {}", path.display()),
            Location::Memory => "SQLite in memory".to_owned(),
        }
    }

    async fn fetch(&self, query: Query) -> Result<Vec<OwnedRow>, SqlError> {
        self.read(false, |conn| Ok(run_statement(conn, &query)?.rows))
    }

    async fn execute(&self, query: Query) -> Result<u64, SqlError> {
        let mut results = self.writer.statements(vec![query]).await?;
        Ok(results.pop().map_or(0, |r| r.rows_affected))
    }

    async fn transaction(&self, statements: Vec<Query>) -> Result<Vec<StatementResult>, SqlError> {
        self.writer.statements(statements).await
    }

    async fn find_token(
        &self,
        column: TokenColumn,
        key: &str,
    ) -> Result<Option<TokenRecord>, SqlError> {
        static ACCESS: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE access_token_hash = ?1")
        });
        static REFRESH: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE refresh_token_hash = ?1")
        });
        let sql = match column {
            TokenColumn::Access => &*ACCESS,
            TokenColumn::Refresh => &*REFRESH,
        };
        self.read(true, |conn| {
            let mut statement = conn.prepare_cached(sql)?;
            let mut rows = statement.query([key])?;
            match rows.next()? {
                Some(row) => token_from_row(&SqliteRow(row)).map(Some),
                None => Ok(None),
            }
        })
    }

    fn writer(&self) -> &Writer {
        &self.writer
    }

    async fn revoke_token(&self, key: String) -> Result<(), SqlError> {
        self.writer.revoke_token(key).await
    }

    async fn revoke_grant(&self, grant_id: String, now: i64) -> Result<(), SqlError> {
        self.writer.revoke_grant(grant_id, now).await
    }
}

/// The writer thread's connection.
enum WriterConnection {
    Owned(Connection),
    Shared(Arc<Mutex<Connection>>),
}

/// Runs batches on the writer thread's connection.
struct RusqliteBatch {
    conn: WriterConnection,
    generation: Arc<AtomicU64>,
}

static INSERT_TOKEN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO tokens ({TOKEN_INSERT_COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    )
});

impl Batch for RusqliteBatch {
    async fn process(&mut self, jobs: &[Job]) -> Result<Processed, Failure> {
        let generation = self.generation.clone();
        match &mut self.conn {
            WriterConnection::Owned(conn) => process(conn, jobs, &generation),
            WriterConnection::Shared(conn) => {
                let mut conn = conn
                    .lock()
                    .map_err(|_| SqlError::Task("the SQLite connection is poisoned".to_owned()))?;
                process(&mut conn, jobs, &generation)
            }
        }
        .map(Processed::from)
    }
}

/// Runs `jobs` in one `IMMEDIATE` transaction; once it is committed, bumps
/// `generation` (before any caller hears of it, so no caller can then read an older
/// snapshot).
fn process(
    conn: &mut Connection,
    jobs: &[Job],
    generation: &AtomicU64,
) -> Result<Vec<Outcome>, Failure> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(SqlError::from)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut racing: Vec<&str> = Vec::new();
    {
        let mut insert = tx.prepare_cached(&INSERT_TOKEN).map_err(SqlError::from)?;
        let mut save = |token: &TokenRecord| -> Result<(), SqlError> {
            insert.execute(rusqlite::params_from_iter(token_args(token)?.iter()))?;
            Ok(())
        };
        for job in jobs {
            match job {
                Job::Save(token) => {
                    save(token)?;
                    if may_race_a_replay(token) {
                        racing.push(&token.access_token_hash);
                    }
                    outcomes.push(Outcome::Saved);
                }
                Job::Rotate { presented, new } => {
                    let changed = tx
                        .prepare_cached(
                            "UPDATE tokens SET revoked = TRUE \
                             WHERE refresh_token_hash = ?1 AND revoked = FALSE",
                        )
                        .and_then(|mut s| s.execute([presented]))
                        .map_err(SqlError::from)?;
                    let rotated = changed == 1;
                    if rotated {
                        save(new)?;
                        racing.push(&new.access_token_hash);
                    }
                    outcomes.push(Outcome::Rotated(rotated));
                }
                Job::Redeem {
                    code_hash,
                    client_id,
                } => {
                    let found = redeem(&tx, code_hash, client_id)?;
                    outcomes.push(Outcome::Redeemed(Box::new(found)));
                }
                Job::RevokeToken(key) => {
                    run_statement(&tx, &revoke_token_statement(key))?;
                    outcomes.push(Outcome::Revoked);
                }
                Job::RevokeGrant { grant_id, now } => {
                    for statement in revoke_grant_statements(grant_id, *now) {
                        run_statement(&tx, &statement)?;
                    }
                    outcomes.push(Outcome::Revoked);
                }
                Job::Statements(statements) => {
                    let mut results = Vec::with_capacity(statements.len());
                    for statement in statements {
                        results.push(run_statement(&tx, statement)?);
                    }
                    outcomes.push(Outcome::Statements(results));
                }
            }
        }
        let mut check = tx
            .prepare_cached(
                "UPDATE tokens SET revoked = TRUE WHERE access_token_hash = ?1 \
                 AND revoked = FALSE AND grant_id IN (SELECT grant_id FROM revoked_grants)",
            )
            .map_err(SqlError::from)?;
        for key in racing {
            check.execute([key]).map_err(SqlError::from)?;
        }
    }
    tx.commit().map_err(SqlError::from)?;
    generation.fetch_add(1, Ordering::AcqRel);
    Ok(outcomes)
}

fn redeem(
    tx: &rusqlite::Transaction<'_>,
    code_hash: &str,
    client_id: &str,
) -> Result<CodeRedemption<AuthorizationCodeRecord>, SqlError> {
    static REDEEM: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE authorization_codes SET used = TRUE \
             WHERE code_hash = ?1 AND client_id = ?2 AND used = FALSE RETURNING {CODE_COLUMNS}"
        )
    });
    static FIND: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = ?1 AND client_id = ?2"
        )
    });
    let read = |sql: &str| -> Result<Option<AuthorizationCodeRecord>, SqlError> {
        let mut statement = tx.prepare_cached(sql)?;
        statement
            .query_row([code_hash, client_id], |row| {
                Ok(code_from_row(&SqliteRow(row)))
            })
            .optional()?
            .transpose()
    };
    if let Some(code) = read(&REDEEM)? {
        return Ok(CodeRedemption::Redeemed(code));
    }
    // Nothing changed: used before by this client, or never issued to it.
    Ok(match read(&FIND)? {
        Some(code) => CodeRedemption::AlreadyUsed(code),
        None => CodeRedemption::NotFound,
    })
}

/// Where a `sqlite:` URL points: `sqlite://PATH`, `sqlite:PATH` or `sqlite::memory:`
/// (also `?mode=memory`). Query parameters other than `mode` are refused.
pub(crate) fn location_of(url: &str) -> Result<Location, SqlError> {
    let rest = url
        .split_once(':')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
    let mut memory = path == ":memory:";
    for option in options.split('&').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("mode", "memory")) => memory = true,
            Some(("mode", "rwc" | "rw")) => {}
            _ => {
                return Err(SqlError::InvalidUrl {
                    reason: format!(
                        "the SQLite URL option '{}' is not supported (only mode=memory|rw|rwc)",
                        option.chars().take(40).collect::<String>()
                    ),
                })
            }
        }
    }
    if memory {
        return Ok(Location::Memory);
    }
    if path.is_empty() {
        return Err(SqlError::InvalidUrl {
            reason: "the SQLite URL names no file (use sqlite://PATH or sqlite::memory:)"
                .to_owned(),
        });
    }
    Ok(Location::File(
        std::path::absolute(Path::new(path)).unwrap_or_else(|_| PathBuf::from(path)),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A database migrated before records became extensible keeps its tokens' absolute
    /// grant end: the column moves into `extras`.
    #[test]
    fn grant_expires_at_moves_into_the_extras() {
        use portcullis_core::model::GrantExpiresAt;

        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 20261201000001).unwrap();
        conn.execute_batch(
            "INSERT INTO clients (client_id, client_name, redirect_uris, scope, grant_types, \
             response_types, token_endpoint_auth_method, created_at) \
             VALUES ('app', 'App', '[]', '', '[]', '[]', 'none', 0); \
             INSERT INTO tokens (access_token_hash, client_id, scope, grant_type, grant_id, \
             issued_at, expires_in, expires_at, grant_expires_at) \
             VALUES ('with', 'app', '', 'authorization_code', 'g1', 1, 2, 3, 1702592000), \
             ('without', 'app', '', 'client_credentials', 'g2', 1, 2, 3, NULL);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let read = |conn: &Connection, key: &str| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE access_token_hash = ?1");
            conn.query_row(&sql, [key], |row| Ok(token_from_row(&SqliteRow(row))))
                .unwrap()
                .unwrap()
        };
        assert_eq!(
            read(&conn, "with").extras.get::<GrantExpiresAt>(),
            Some(1_702_592_000)
        );
        assert_eq!(read(&conn, "with").grant_expires_at(), Some(1_702_592_000));
        assert!(read(&conn, "without").extras.is_empty());
        // Migrating again changes nothing.
        migrate(&mut conn).unwrap();
        assert_eq!(read(&conn, "with").grant_expires_at(), Some(1_702_592_000));
    }

    #[test]
    fn placeholders_become_sqlite_positional_ones() {
        assert_eq!(
            sqlite_placeholders("SELECT $1, $2 + $3, '$x' WHERE a = $10"),
            "SELECT ?1, ?2 + ?3, '$x' WHERE a = ?10"
        );
    }

    #[test]
    fn sqlite_urls() {
        assert_eq!(location_of("sqlite::memory:").unwrap(), Location::Memory);
        assert_eq!(
            location_of("sqlite://x.db?mode=memory").unwrap(),
            Location::Memory
        );
        assert_eq!(
            location_of("sqlite:///tmp/p.db").unwrap(),
            Location::File("/tmp/p.db".into())
        );
        assert!(matches!(
            location_of("sqlite:///tmp/p.db?cache=shared"),
            Err(SqlError::InvalidUrl { .. })
        ));
        assert!(location_of("sqlite://").is_err());
    }
}
