//! SQLite's hot path, without thread hand-offs.
//!
//! sqlx runs every SQLite connection on a thread of its own and sends each statement
//! there and each result back: two context switches per statement, which on a small
//! machine cost more than the statement itself. The requests an authorization server
//! answers most — introspection and bearer-token checks (a token lookup), token
//! issuance (an insert), refresh (a rotation), code exchange (a redemption) — go
//! through this module instead, on rusqlite connections to the same file:
//!
//! - **Reads** (a token by hash, a client by id) run inline on the calling task. They
//!   are index lookups of a few microseconds in WAL mode, where readers never wait for
//!   the writer. Each thread that reads keeps its own connection (tokio's worker
//!   threads, in a server). A token lookup may reuse the read transaction its
//!   connection opened for the previous one (see [`Snapshot`]): beginning and ending
//!   a read transaction takes SQLite's WAL-index locks, `fcntl` calls behind a mutex,
//!   which cost more than the lookup itself.
//! - **Writes** go to one writer thread that owns one connection. It takes every job
//!   waiting at that moment (up to [`MAX_BATCH`]) and runs them in one `IMMEDIATE`
//!   transaction — redemptions and rotations as conditional `UPDATE`s, new tokens as
//!   inserts, then the revoked-grant check — commits, and only then answers each
//!   caller. A caller never returns a token that is not committed, and a busy server
//!   pays for one commit per batch. A failed batch is rolled back and its jobs run again
//!   one by one, so each caller gets its own answer.
//!
//! - **Checkpoints** — copying the WAL back into the database file, with its fsyncs —
//!   run on a thread of their own every half second instead of inside whichever commit
//!   crosses the WAL size limit, so no request waits for a disk flush.
//!
//! - **Revocations** (a token, a whole grant) go through the same writer, so they are
//!   ordered with the batches instead of competing with them for SQLite's lock.
//!
//! Because SQLite runs one write transaction at a time, checking `revoked_grants`
//! inside the batch's transaction is enough to close the race between a legitimate
//! redemption and a replay (see `revoke_grant`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use portcullis_core::{AuthorizationCodeRecord, ClientRecord, CodeRedemption, TokenRecord};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use thread_local::ThreadLocal;
use tokio::sync::oneshot;

use crate::error::{for_client, SqlError};
use crate::repository::{CLIENT_COLUMNS, CODE_COLUMNS, TOKEN_COLUMNS};
use crate::rows::{list_to_json, ClientRow, CodeRow, TokenRow};
use crate::token_writer::may_race_a_replay;
use crate::SqliteSynchronous;

/// The most jobs committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;
/// Jobs waiting for the writer before callers wait to enqueue.
const QUEUE: usize = 4096;
/// How long a connection waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

type Reply<T> = oneshot::Sender<Result<T, SqlError>>;

enum Job {
    Save(TokenRecord, Reply<()>),
    Rotate {
        old_refresh_hash: String,
        new: TokenRecord,
        done: Reply<bool>,
    },
    Redeem {
        code_hash: String,
        client_id: String,
        done: Reply<CodeRedemption<AuthorizationCodeRecord>>,
    },
    RevokeToken(String, Reply<()>),
    RevokeGrant(String, Reply<()>),
}

enum Outcome {
    Saved,
    Revoked,
    Rotated(bool),
    Redeemed(Box<CodeRedemption<AuthorizationCodeRecord>>),
}

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

/// Monotonic time, for the age of snapshots only (never for expiry decisions).
#[allow(clippy::disallowed_methods)]
fn monotonic_now() -> Instant {
    Instant::now()
}

/// The hot path of one SQLite file.
pub(crate) struct FastSqlite {
    path: PathBuf,
    synchronous: SqliteSynchronous,
    /// One reader per thread that has read; shared with the checkpointer, which ends
    /// snapshots left open by threads that stopped reading.
    readers: Arc<ThreadLocal<Mutex<Option<Reader>>>>,
    /// Bumped after every commit of this process that can change a token: a snapshot
    /// taken before it is not reused.
    generation: Arc<AtomicU64>,
    jobs: tokio::sync::mpsc::Sender<Job>,
}

fn database(error: rusqlite::Error) -> SqlError {
    SqlError::Sqlite(error)
}

fn stopped() -> SqlError {
    SqlError::Task("the SQLite writer thread stopped".to_owned())
}

fn open(path: &Path, synchronous: SqliteSynchronous, reader: bool) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
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
    if reader {
        conn.pragma_update(None, "query_only", true)?;
    } else {
        // Rotations, revocations and redemptions update rows anywhere in the token
        // and code tables: a larger cache (8 MiB instead of 2) keeps their inner
        // pages at hand.
        conn.pragma_update(None, "cache_size", -8192)?;
        // Checkpoints (which fsync) run on the checkpointer thread, not in the commit
        // path; this is only a safety net should that thread fall behind.
        conn.pragma_update(None, "wal_autocheckpoint", 100_000)?;
    }
    Ok(conn)
}

impl FastSqlite {
    /// Opens the hot path on the (already created and migrated) file at `path`, and
    /// starts its writer thread.
    pub(crate) fn open(path: &Path, synchronous: SqliteSynchronous) -> Result<Self, SqlError> {
        let writer = open(path, synchronous, false).map_err(database)?;
        let checkpointer = open(path, synchronous, false).map_err(database)?;
        let (jobs, queue) = tokio::sync::mpsc::channel(QUEUE);
        let (alive, stopped) = mpsc::channel::<()>();
        let generation = Arc::new(AtomicU64::new(0));
        let readers: Arc<ThreadLocal<Mutex<Option<Reader>>>> = Arc::new(ThreadLocal::new());
        let committed = Arc::clone(&generation);
        std::thread::Builder::new()
            .name("portcullis-sqlite-writer".to_owned())
            .spawn(move || {
                run_writer(writer, queue, &committed);
                drop(alive);
            })
            .map_err(|e| SqlError::Task(format!("cannot start the SQLite writer thread: {e}")))?;
        std::thread::Builder::new()
            .name("portcullis-sqlite-checkpointer".to_owned())
            .spawn({
                let readers = Arc::clone(&readers);
                move || run_checkpointer(checkpointer, stopped, &readers)
            })
            .map_err(|e| {
                SqlError::Task(format!("cannot start the SQLite checkpointer thread: {e}"))
            })?;
        Ok(Self {
            path: path.to_owned(),
            synchronous,
            readers,
            generation,
            jobs,
        })
    }

    /// Marks every open snapshot as outdated: for writes to tokens that did not go
    /// through the writer thread (deleting a client or a user, purging).
    pub(crate) fn note_write(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Runs `f` on this thread's reader: in a snapshot that may be reused when
    /// `reuse` (token lookups), in a fresh one otherwise.
    fn read<T>(
        &self,
        reuse: bool,
        f: impl FnOnce(&Connection) -> Result<T, SqlError>,
    ) -> Result<T, SqlError> {
        let slot = self.readers.get_or(|| Mutex::new(None));
        // The checkpointer holds the lock only to end a snapshot; a poisoned lock
        // (a panic mid-read) falls back to a connection of its own.
        let Ok(mut kept) = slot.lock() else {
            let conn = open(&self.path, self.synchronous, true).map_err(database)?;
            return f(&conn);
        };
        let reader = match kept.as_mut() {
            Some(reader) => reader,
            None => kept.insert(Reader {
                conn: open(&self.path, self.synchronous, true).map_err(database)?,
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
            reader
                .conn
                .execute_batch("BEGIN DEFERRED")
                .map_err(database)?;
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

    /// The token whose access token hashes to `hash`.
    pub(crate) fn find_access_token(&self, hash: &str) -> Result<Option<TokenRecord>, SqlError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE access_token_hash = ?1")
        });
        self.find_token(&SQL, hash)
    }

    /// The token whose refresh token hashes to `hash`.
    pub(crate) fn find_refresh_token(&self, hash: &str) -> Result<Option<TokenRecord>, SqlError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE refresh_token_hash = ?1")
        });
        self.find_token(&SQL, hash)
    }

    fn find_token(&self, sql: &str, hash: &str) -> Result<Option<TokenRecord>, SqlError> {
        self.read(true, |conn| {
            conn.prepare_cached(sql)
                .and_then(|mut statement| {
                    statement
                        .query_row([hash], TokenRow::from_rusqlite)
                        .optional()
                })
                .map_err(database)?
                .map(TokenRow::into_record)
                .transpose()
        })
    }

    /// The client registered under `client_id`.
    pub(crate) fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>, SqlError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = ?1"));
        self.read(false, |conn| {
            conn.prepare_cached(&SQL)
                .and_then(|mut statement| {
                    statement
                        .query_row([client_id], ClientRow::from_rusqlite)
                        .optional()
                })
                .map_err(database)?
                .map(ClientRow::into_record)
                .transpose()
        })
    }

    async fn submit<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, SqlError> {
        let (done, answer) = oneshot::channel();
        self.jobs.send(job(done)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Saves a token; returns once it is committed.
    pub(crate) async fn save(&self, token: TokenRecord) -> Result<(), SqlError> {
        self.submit(|done| Job::Save(token, done)).await
    }

    /// Rotates a refresh token atomically (see `TokenStore::rotate_refresh_token`).
    pub(crate) async fn rotate(&self, old: String, new: TokenRecord) -> Result<bool, SqlError> {
        self.submit(|done| Job::Rotate {
            old_refresh_hash: old,
            new,
            done,
        })
        .await
    }

    /// Revokes the token whose access token hashes to `hash`.
    pub(crate) async fn revoke_token(&self, hash: String) -> Result<(), SqlError> {
        self.submit(|done| Job::RevokeToken(hash, done)).await
    }

    /// Revokes every token of a grant, and remembers the grant as revoked so that a
    /// token saved for it later is revoked too.
    pub(crate) async fn revoke_grant(&self, grant_id: String) -> Result<(), SqlError> {
        self.submit(|done| Job::RevokeGrant(grant_id, done)).await
    }

    /// Redeems a code of `client_id` atomically (another client's code is not found
    /// and stays unchanged).
    pub(crate) async fn redeem(
        &self,
        code_hash: String,
        client_id: String,
    ) -> Result<CodeRedemption<AuthorizationCodeRecord>, SqlError> {
        self.submit(|done| Job::Redeem {
            code_hash,
            client_id,
            done,
        })
        .await
    }
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

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

fn run_writer(
    mut conn: Connection,
    mut queue: tokio::sync::mpsc::Receiver<Job>,
    generation: &AtomicU64,
) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match process(&mut conn, &batch, generation) {
            Ok(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    reply(job, Ok(outcome));
                }
            }
            // One job broke a constraint (a token of a client deleted meanwhile): the
            // batch was rolled back whole, so each job runs again alone.
            Err(error) if caused_by_a_job(&error) && batch.len() == 1 => {
                tracing::debug!(%error, "write failed");
                if let Some(job) = batch.pop() {
                    reply(job, Err(error));
                }
            }
            Err(error) if caused_by_a_job(&error) => {
                tracing::debug!(%error, size = batch.len(), "write batch failed; running its jobs one by one");
                for job in batch {
                    let outcome = process(&mut conn, std::slice::from_ref(&job), generation)
                        .map(|mut one| one.remove(0));
                    reply(job, outcome);
                }
            }
            // The database itself failed (busy past the timeout, disk full): every job
            // gets the error at once rather than waiting out the timeout one by one.
            Err(error) => {
                tracing::error!(%error, size = batch.len(), "write batch failed");
                let message = error.to_string();
                for job in batch {
                    reply(job, Err(SqlError::Task(message.clone())));
                }
            }
        }
    }
}

/// True for errors one job can cause by itself (a constraint it breaks, a row it
/// cannot read): the others deserve another try without it.
fn caused_by_a_job(error: &SqlError) -> bool {
    match error {
        SqlError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
            failure.code == rusqlite::ErrorCode::ConstraintViolation
        }
        SqlError::Corrupt(_) => true,
        _ => false,
    }
}

fn reply(job: Job, outcome: Result<Outcome, SqlError>) {
    let mismatch = || SqlError::Task("the SQLite writer mixed up its answers".to_owned());
    match job {
        // A token of a client deleted meanwhile breaks the foreign key: its caller
        // learns that the client is gone (`invalid_client`), not a server error.
        Job::Save(token, done) => {
            let outcome = outcome.map_err(|e| for_client(e, &token.client_id));
            let _ = done.send(outcome.and_then(|o| match o {
                Outcome::Saved => Ok(()),
                _ => Err(mismatch()),
            }));
        }
        Job::Rotate { new, done, .. } => {
            let outcome = outcome.map_err(|e| for_client(e, &new.client_id));
            let _ = done.send(outcome.and_then(|o| match o {
                Outcome::Rotated(rotated) => Ok(rotated),
                _ => Err(mismatch()),
            }));
        }
        Job::Redeem { done, .. } => {
            let _ = done.send(outcome.and_then(|o| match o {
                Outcome::Redeemed(found) => Ok(*found),
                _ => Err(mismatch()),
            }));
        }
        Job::RevokeToken(_, done) | Job::RevokeGrant(_, done) => {
            let _ = done.send(outcome.and_then(|o| match o {
                Outcome::Revoked => Ok(()),
                _ => Err(mismatch()),
            }));
        }
    }
}

const INSERT_TOKEN: &str = "INSERT INTO tokens (access_token_hash, refresh_token_hash, client_id, \
     scope, subject, grant_type, grant_id, issued_at, expires_in, expires_at, \
     refresh_token_expires_at, revoked, audience, grant_expires_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

/// Runs `jobs` in one transaction.
/// Runs `jobs` in one transaction; once it is committed, bumps `generation` (before
/// any caller hears of it, so no caller can then read an older snapshot).
fn process(
    conn: &mut Connection,
    jobs: &[Job],
    generation: &AtomicU64,
) -> Result<Vec<Outcome>, SqlError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(database)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut racing: Vec<&str> = Vec::new();
    {
        let mut insert = tx.prepare_cached(INSERT_TOKEN).map_err(database)?;
        let mut save = |token: &TokenRecord| -> Result<(), SqlError> {
            let audience = list_to_json(&token.audience)?;
            insert
                .execute(params![
                    token.access_token_hash,
                    token.refresh_token_hash,
                    token.client_id,
                    token.scope.to_string(),
                    token.subject,
                    token.grant_type,
                    token.grant_id,
                    token.issued_at,
                    token.expires_in,
                    token.issued_at.saturating_add(token.expires_in),
                    token.refresh_token_expires_at,
                    token.revoked,
                    audience,
                    token.grant_expires_at,
                ])
                .map_err(database)?;
            Ok(())
        };
        for job in jobs {
            match job {
                Job::Save(token, _) => {
                    save(token)?;
                    if may_race_a_replay(token) {
                        racing.push(&token.access_token_hash);
                    }
                    outcomes.push(Outcome::Saved);
                }
                Job::Rotate {
                    old_refresh_hash,
                    new,
                    ..
                } => {
                    let changed = tx
                        .prepare_cached(
                            "UPDATE tokens SET revoked = TRUE \
                             WHERE refresh_token_hash = ?1 AND revoked = FALSE",
                        )
                        .and_then(|mut s| s.execute([old_refresh_hash]))
                        .map_err(database)?;
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
                    ..
                } => {
                    outcomes.push(Outcome::Redeemed(Box::new(redeem(
                        &tx, code_hash, client_id,
                    )?)));
                }
                Job::RevokeToken(hash, _) => {
                    tx.prepare_cached(
                        "UPDATE tokens SET revoked = TRUE WHERE access_token_hash = ?1",
                    )
                    .and_then(|mut s| s.execute([hash]))
                    .map_err(database)?;
                    outcomes.push(Outcome::Revoked);
                }
                Job::RevokeGrant(grant_id, _) => {
                    tx.prepare_cached(
                        "INSERT INTO revoked_grants (grant_id, revoked_at) VALUES (?1, ?2) \
                         ON CONFLICT (grant_id) DO NOTHING",
                    )
                    .and_then(|mut s| s.execute(params![grant_id, crate::now_seconds()]))
                    .map_err(database)?;
                    // `grant_type <> 'client_credentials'` matches the partial index.
                    tx.prepare_cached(
                        "UPDATE tokens SET revoked = TRUE WHERE grant_id = ?1 AND revoked = FALSE \
                         AND grant_type <> 'client_credentials'",
                    )
                    .and_then(|mut s| s.execute([grant_id]))
                    .map_err(database)?;
                    outcomes.push(Outcome::Revoked);
                }
            }
        }
        let mut check = tx
            .prepare_cached(
                "UPDATE tokens SET revoked = TRUE WHERE access_token_hash = ?1 \
                 AND revoked = FALSE AND grant_id IN (SELECT grant_id FROM revoked_grants)",
            )
            .map_err(database)?;
        for hash in racing {
            check.execute([hash]).map_err(database)?;
        }
    }
    tx.commit().map_err(database)?;
    generation.fetch_add(1, Ordering::AcqRel);
    Ok(outcomes)
}

fn redeem(
    tx: &rusqlite::Transaction<'_>,
    code_hash: &str,
    client_id: &str,
) -> Result<CodeRedemption<AuthorizationCodeRecord>, SqlError> {
    let redeem = format!(
        "UPDATE authorization_codes SET used = TRUE \
         WHERE code_hash = ?1 AND client_id = ?2 AND used = FALSE RETURNING {CODE_COLUMNS}"
    );
    let row = tx
        .prepare_cached(&redeem)
        .and_then(|mut s| {
            s.query_row([code_hash, client_id], CodeRow::from_rusqlite)
                .optional()
        })
        .map_err(database)?;
    if let Some(row) = row {
        return Ok(CodeRedemption::Redeemed(row.into_record()?));
    }
    // Nothing changed: used before by this client, or never issued to it.
    let find = format!(
        "SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = ?1 AND client_id = ?2"
    );
    let row = tx
        .prepare_cached(&find)
        .and_then(|mut s| {
            s.query_row([code_hash, client_id], CodeRow::from_rusqlite)
                .optional()
        })
        .map_err(database)?;
    Ok(match row {
        Some(row) => CodeRedemption::AlreadyUsed(row.into_record()?),
        None => CodeRedemption::NotFound,
    })
}

#[cfg(test)]
mod tests {
    use crate::repository::{CLIENT_COLUMNS, CODE_COLUMNS, TOKEN_COLUMNS};

    fn columns(list: &str) -> Vec<&str> {
        list.split(',').map(str::trim).collect()
    }

    /// `from_rusqlite` reads by position: the column lists must keep this order.
    #[test]
    fn column_lists_match_the_row_readers() {
        assert_eq!(
            columns(TOKEN_COLUMNS),
            [
                "access_token_hash",
                "refresh_token_hash",
                "client_id",
                "scope",
                "subject",
                "grant_type",
                "grant_id",
                "issued_at",
                "expires_in",
                "refresh_token_expires_at",
                "revoked",
                "audience",
                "grant_expires_at",
            ]
        );
        assert_eq!(
            columns(CLIENT_COLUMNS),
            [
                "client_id",
                "client_secret_hash",
                "client_name",
                "redirect_uris",
                "scope",
                "grant_types",
                "response_types",
                "token_endpoint_auth_method",
                "audience",
                "resource_server_audience",
            ]
        );
        assert_eq!(
            columns(CODE_COLUMNS),
            [
                "code_hash",
                "client_id",
                "redirect_uri",
                "scope",
                "subject",
                "nonce",
                "auth_time",
                "code_challenge",
                "code_challenge_method",
                "issued_at",
                "expires_at",
                "grant_id",
            ]
        );
    }
}
