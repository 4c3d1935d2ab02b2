//! The PostgreSQL backend, on sqlx.
//!
//! - **Hot writes** (new tokens, rotations, redemptions) go through the group commit
//!   (`crate::group_commit`) with one writer task. A batch is one set-based
//!   statement, however many requests it answers: every new token in one `INSERT …
//!   SELECT FROM UNNEST(…)`, joined by `WITH` to the rotations' `UPDATE … = ANY($1)`
//!   (so that a rotation's new token is inserted only when its old one was revoked)
//!   and to the redemptions' `UPDATE … FROM UNNEST(…)`. One prepared text serves
//!   every batch size. One writer makes the largest batches, and new tokens' keys are
//!   time-ordered, so two writers would only contend for the same last index pages
//!   (docs/performance.md).
//! - **The writer does not wait for the WAL flush** (`synchronous_commit = off` on
//!   its connections); the **flusher** task does, before any caller hears of a write:
//!   one small transaction with an id, whose commit waits for the WAL up to it — the
//!   writer's earlier commits included, since the WAL is written in order — for every
//!   batch committed meanwhile. The writer goes on with the next batch while the
//!   flusher waits, and a flush serves several batches. A committed write is visible
//!   to other transactions before it is flushed, so single use and rotation hold
//!   across servers at once; if PostgreSQL crashes before the flush, the write is
//!   lost, but nobody heard of it (a request retried then finds its code or refresh
//!   token as it was).
//! - **Redemptions alone need no flush**: the token a redemption leads to is saved
//!   afterwards and flushed, and flushing the WAL up to it flushes the redemption
//!   before it. A redemption that led to no token (a failed PKCE check, say) may be
//!   lost if PostgreSQL itself crashes within the WAL writer's delay (200 ms by
//!   default); its code then works once more, for its own client and verifier only.
//! - **Token lookups** go through one lookup task that answers every lookup waiting
//!   at that moment with one `SELECT … WHERE key = ANY($1)`.
//! - The writer, the lookup task and the flusher each **keep one connection**
//!   between batches, replaced when it fails: handing a pooled connection out and
//!   back for every statement cost more of the server's CPU than the statement
//!   (refresh on the bench machine: 5.8–6.6k → 7.5–8.0k per second). They run
//!   without sequential scans and with plans made once (see `crate::connect`).
//! - **Everything else** (clients, users, sessions, consent, throttling, purging,
//!   revocation) runs on a pool whose commits wait for their flush, a transaction
//!   where it is more than one statement.
//!
//! Several processes may share the database, so a replay must revoke the token that a
//! racing legitimate request writes for the same grant. `revoke_grant` commits the
//! grant's row in `revoked_grants` first and then revokes the grant's tokens; every
//! new token is inserted revoked when its grant is in `revoked_grants` already. What
//! is left is a token whose statement began before the grant was remembered and
//! committed after the tokens were revoked: a rotation cannot, because it holds its
//! old token's row, which `revoke_grant`'s `UPDATE` waits for before a second `UPDATE`
//! runs; the first token of a grant (a code exchange) is checked against
//! `revoked_grants` once more after its commit, by the flusher in the statement that
//! flushes it, before its caller hears of it.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use portcullis_core::{AuthorizationCodeRecord, CodeRedemption, TokenRecord};
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::{Column as _, Postgres, Row as _, TypeInfo as _};
use tokio::sync::{mpsc, oneshot};

use crate::backend::{
    may_race_a_replay, revoke_grant_statements, revoke_token_statement, Backend, TokenColumn,
};
use crate::error::SqlError;
use crate::group_commit::{Batch, Failure, FollowUp, Job, Outcome, Processed, Writer};
use crate::schema::{
    code_from_row, token_args, token_from_row, OwnedRow, Query, Row, StatementResult, Value,
    CODE_COLUMNS, TOKEN_COLUMNS, TOKEN_INSERT_COLUMNS, TOKEN_WIDTH,
};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Group-commit writer tasks. Batches grow with the load, so more tasks mostly make
/// smaller batches, and their inserts meet on the same last index pages: on the
/// 2-core bench machine one writer beats two, and two beat four (docs/performance.md).
const WRITER_TASKS: usize = 1;
/// Lookup tasks, each with a connection of its own.
const LOOKUP_TASKS: usize = 1;
/// The most lookups answered by one query.
const MAX_LOOKUPS: usize = 32;
/// Lookups waiting for the lookup task before callers wait to enqueue.
const LOOKUP_QUEUE: usize = 4096;
/// How often the flush (and its check against revoked grants) is tried after a
/// commit.
const FLUSH_ATTEMPTS: usize = 3;

/// The PostgreSQL types of the token columns, in `TOKEN_INSERT_COLUMNS` order.
const TOKEN_TYPES: [ArrayType; TOKEN_WIDTH] = {
    use ArrayType::{Bool, Int, Text};
    [
        Text, Text, Text, Text, Text, Text, Text, Int, Int, Int, Bool, Text, Text, Int,
    ]
};

impl Row for PgRow {
    fn text(&self, index: usize) -> Result<String, SqlError> {
        Ok(self.try_get(index)?)
    }

    fn opt_text(&self, index: usize) -> Result<Option<String>, SqlError> {
        Ok(self.try_get(index)?)
    }

    fn int(&self, index: usize) -> Result<i64, SqlError> {
        Ok(self.try_get(index)?)
    }

    fn opt_int(&self, index: usize) -> Result<Option<i64>, SqlError> {
        Ok(self.try_get(index)?)
    }

    fn boolean(&self, index: usize) -> Result<bool, SqlError> {
        Ok(self.try_get(index)?)
    }
}

/// A sqlx row as an owned row, by the PostgreSQL type of each column.
fn owned(row: &PgRow) -> Result<OwnedRow, SqlError> {
    let mut values = Vec::with_capacity(row.columns().len());
    for (index, column) in row.columns().iter().enumerate() {
        values.push(match column.type_info().name() {
            "BOOL" => match row.try_get::<Option<bool>, _>(index)? {
                Some(flag) => Value::Bool(flag),
                None => Value::Int(None),
            },
            "INT8" => Value::Int(row.try_get(index)?),
            "INT4" => Value::Int(row.try_get::<Option<i32>, _>(index)?.map(i64::from)),
            "INT2" => Value::Int(row.try_get::<Option<i16>, _>(index)?.map(i64::from)),
            _ => Value::Text(row.try_get(index)?),
        });
    }
    Ok(OwnedRow(values))
}

/// `query` as a sqlx query, its values bound in order.
fn prepared(query: &Query) -> sqlx::query::Query<'_, Postgres, PgArguments> {
    let mut prepared = sqlx::query(&query.sql);
    for value in &query.args {
        prepared = match value {
            Value::Text(text) => prepared.bind(text.as_deref()),
            Value::Int(number) => prepared.bind(*number),
            Value::Bool(flag) => prepared.bind(*flag),
        };
    }
    prepared
}

async fn run_statement<'e, E>(executor: E, query: &Query) -> Result<StatementResult, SqlError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    // A statement returns rows when it reads or says `RETURNING`; then it changed as
    // many rows as it returned.
    let returns_rows =
        query.sql.trim_start().starts_with("SELECT") || query.sql.contains("RETURNING");
    if returns_rows {
        let rows = prepared(query)
            .fetch_all(executor)
            .await?
            .iter()
            .map(owned)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StatementResult {
            rows_affected: u64::try_from(rows.len()).unwrap_or(u64::MAX),
            rows,
        })
    } else {
        Ok(StatementResult {
            rows_affected: prepared(query).execute(executor).await?.rows_affected(),
            rows: Vec::new(),
        })
    }
}

/// The PostgreSQL backend of one database.
pub(crate) struct PgBackend {
    pool: PgPool,
    /// The hot statements' connections (see `crate::connect`).
    hot: PgPool,
    target: String,
    writer: Writer,
    lookups: Vec<mpsc::Sender<Lookup>>,
    next_lookup: std::sync::atomic::AtomicUsize,
}

impl PgBackend {
    /// Connections of the `hot` pool: one for each lookup task, one for the flusher,
    /// and two for revocations.
    pub(crate) const HOT_CONNECTIONS: u32 = LOOKUP_TASKS as u32 + 3;

    /// Connections of the writers' pool, whose commits do not wait for the WAL
    /// flush: one per writer task, and two for transactions of mixed batches.
    pub(crate) const WRITER_CONNECTIONS: u32 = WRITER_TASKS as u32 + 2;

    /// A backend on `pool`, with `hot` for the token lookups, revocations and the
    /// flusher and `unflushed` for the writers (for `host:port/database` `target`);
    /// starts its writer, flusher and lookup tasks, so it must be called inside a
    /// tokio runtime.
    pub(crate) fn new(pool: PgPool, hot: PgPool, unflushed: PgPool, target: String) -> Self {
        let flusher = Flusher::spawn(hot.clone());
        let (writer, queues) = Writer::new(WRITER_TASKS);
        for queue in queues {
            tokio::spawn(queue.run(PgBatch {
                pool: unflushed.clone(),
                conn: None,
                flusher: flusher.clone(),
            }));
        }
        let lookups = (0..LOOKUP_TASKS)
            .map(|_| {
                let (lookups, queue) = mpsc::channel(LOOKUP_QUEUE);
                tokio::spawn(run_lookups(hot.clone(), queue));
                lookups
            })
            .collect();
        Self {
            pool,
            hot,
            target,
            writer,
            lookups,
            next_lookup: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Backend for PgBackend {
    async fn migrate(&self) -> Result<(), SqlError> {
        // sqlx holds a PostgreSQL advisory lock while it migrates, so concurrent
        // starts take turns.
        MIGRATIONS
            .run(&self.pool)
            .await
            .map_err(|e| SqlError::Migrate(e.to_string()))
    }

    fn schema_probe(&self) -> &'static str {
        "SELECT COUNT(*) FROM pg_catalog.pg_tables \
         WHERE schemaname = current_schema() AND tablename = '_sqlx_migrations'"
    }

    fn describe(&self) -> String {
        format!("PostgreSQL at {}", self.target)
    }

    async fn fetch(&self, query: Query) -> Result<Vec<OwnedRow>, SqlError> {
        prepared(&query)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(owned)
            .collect()
    }

    async fn execute(&self, query: Query) -> Result<u64, SqlError> {
        Ok(prepared(&query).execute(&self.pool).await?.rows_affected())
    }

    async fn transaction(&self, statements: Vec<Query>) -> Result<Vec<StatementResult>, SqlError> {
        let mut tx = self.pool.begin().await?;
        let mut results = Vec::with_capacity(statements.len());
        for statement in &statements {
            results.push(run_statement(&mut *tx, statement).await?);
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn find_token(
        &self,
        column: TokenColumn,
        key: &str,
    ) -> Result<Option<TokenRecord>, SqlError> {
        let stopped = || SqlError::Task("the token lookup task stopped".to_owned());
        let (reply, answer) = oneshot::channel();
        let index = self
            .next_lookup
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.lookups.len().max(1);
        self.lookups
            .get(index)
            .ok_or_else(stopped)?
            .send(Lookup {
                column,
                key: key.to_owned(),
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    fn writer(&self) -> &Writer {
        &self.writer
    }

    async fn revoke_token(&self, key: String) -> Result<(), SqlError> {
        let statement = revoke_token_statement(&key);
        prepared(&statement).execute(&self.hot).await?;
        Ok(())
    }

    async fn revoke_grant(&self, grant_id: String, now: i64) -> Result<(), SqlError> {
        // Commits in this order (see the module header): remember the grant, then
        // revoke its tokens — twice. A rotation racing this holds its old token's row
        // until it commits; the first `UPDATE` waits for that row, so the second one's
        // snapshot, taken after, includes the rotation's new token. (A rotation whose
        // statement began after the grant was remembered inserts its token revoked.)
        let [remember, revoke] = revoke_grant_statements(&grant_id, now);
        for statement in [&remember, &revoke, &revoke] {
            prepared(statement).execute(&self.hot).await?;
        }
        Ok(())
    }
}

// ---- batched lookups ----

struct Lookup {
    column: TokenColumn,
    key: String,
    reply: oneshot::Sender<Result<Option<TokenRecord>, SqlError>>,
}

/// `SELECT … WHERE column = ANY($1)`: one prepared text for every batch size.
fn lookup_sql(column: TokenColumn) -> &'static str {
    static ACCESS: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE access_token_hash = ANY($1::text[])")
    });
    static REFRESH: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE refresh_token_hash = ANY($1::text[])")
    });
    match column {
        TokenColumn::Access => &ACCESS,
        TokenColumn::Refresh => &REFRESH,
    }
}

/// Answers every lookup waiting at that moment with one query per column. A lookup
/// sees every token committed before it was queued: writers answer only after their
/// commit, and the query reads committed data.
async fn run_lookups(pool: PgPool, mut queue: mpsc::Receiver<Lookup>) {
    let mut waiting: Vec<Lookup> = Vec::with_capacity(MAX_LOOKUPS);
    // One connection, kept between batches (replaced when it fails).
    let mut kept: Option<sqlx::pool::PoolConnection<Postgres>> = None;
    while queue.recv_many(&mut waiting, MAX_LOOKUPS).await > 0 {
        for column in [TokenColumn::Access, TokenColumn::Refresh] {
            let (these, rest): (Vec<Lookup>, Vec<Lookup>) =
                waiting.drain(..).partition(|l| l.column == column);
            waiting = rest;
            if these.is_empty() {
                continue;
            }
            let mut keys: Vec<&str> = these.iter().map(|l| l.key.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            let found: Result<Vec<TokenRecord>, SqlError> = async {
                let conn = match &mut kept {
                    Some(conn) => conn,
                    None => kept.insert(pool.acquire().await?),
                };
                sqlx::query(lookup_sql(column))
                    .bind(keys)
                    .fetch_all(&mut **conn)
                    .await?
                    .iter()
                    .map(token_from_row)
                    .collect()
            }
            .await;
            if found.is_err() {
                kept = None;
            }
            match found {
                Ok(found) => {
                    for lookup in these {
                        let token = found
                            .iter()
                            .find(|t| column.matches(t, &lookup.key))
                            .cloned();
                        let _ = lookup.reply.send(Ok(token));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, size = these.len(), "token lookup batch failed");
                    let cause = Arc::new(error);
                    for lookup in these {
                        let _ = lookup.reply.send(Err(SqlError::Batch(cause.clone())));
                    }
                }
            }
        }
    }
}

// ---- group commit ----

/// The PostgreSQL type of a bound array.
#[derive(Debug, Clone, Copy)]
enum ArrayType {
    Text,
    Int,
    Bool,
}

/// One column of values, bound as one array.
#[derive(Debug)]
enum Array {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<bool>),
}

impl Array {
    fn new(kind: ArrayType) -> Self {
        match kind {
            ArrayType::Text => Array::Text(Vec::new()),
            ArrayType::Int => Array::Int(Vec::new()),
            ArrayType::Bool => Array::Bool(Vec::new()),
        }
    }

    fn push(&mut self, value: Value) -> Result<(), SqlError> {
        match (self, value) {
            (Array::Text(list), Value::Text(text)) => list.push(text),
            (Array::Int(list), Value::Int(number)) => list.push(number),
            (Array::Bool(list), Value::Bool(flag)) => list.push(flag),
            (_, value) => {
                return Err(SqlError::Corrupt(format!(
                    "a token value of the wrong type: {value:?}"
                )))
            }
        }
        Ok(())
    }

    fn bind(
        self,
        query: sqlx::query::Query<'_, Postgres, PgArguments>,
    ) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        match self {
            Array::Text(list) => query.bind(list),
            Array::Int(list) => query.bind(list),
            Array::Bool(list) => query.bind(list),
        }
    }
}

/// The token columns as bound arrays, from `$first` on: `$5::text[], $6::text[], …`.
fn token_arrays(first: usize) -> String {
    TOKEN_TYPES
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let name = match kind {
                ArrayType::Text => "text",
                ArrayType::Int => "bigint",
                ArrayType::Bool => "boolean",
            };
            format!("${}::{name}[]", i + first)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The new tokens' columns as selected from the `UNNEST` alias `n`: a token whose
/// grant is already in `revoked_grants` is inserted revoked.
fn selected_token_columns() -> (Vec<&'static str>, String) {
    let columns: Vec<&str> = TOKEN_INSERT_COLUMNS.split(',').map(str::trim).collect();
    let selected: Vec<String> = columns
        .iter()
        .map(|c| match *c {
            "revoked" => "(n.revoked OR EXISTS (SELECT 1 FROM revoked_grants AS g \
                          WHERE g.grant_id = n.grant_id))"
                .to_owned(),
            other => format!("n.{other}"),
        })
        .collect();
    (columns, selected.join(", "))
}

/// New tokens, one array per column: one statement, committed by itself.
static INSERT_TOKENS: LazyLock<String> = LazyLock::new(|| {
    let (columns, selected) = selected_token_columns();
    format!(
        "INSERT INTO tokens ({TOKEN_INSERT_COLUMNS}) \
         SELECT {selected} FROM UNNEST({}) AS n({})",
        token_arrays(1),
        columns.join(", ")
    )
});

/// The rotations and new tokens of a batch, as the `WITH` queries `rotated` and
/// `inserted`: `$1` the presented refresh keys, `$2` the key each new token rotates
/// (NULL for a new grant), `$3`… the new tokens' columns. A rotation's new token is
/// inserted only when its old one was revoked here.
fn rotation_queries() -> String {
    let (columns, selected) = selected_token_columns();
    format!(
        "rotated AS ( \
            UPDATE tokens SET revoked = TRUE \
            WHERE refresh_token_hash = ANY($1::text[]) AND revoked = FALSE \
            RETURNING refresh_token_hash \
         ), inserted AS ( \
            INSERT INTO tokens ({TOKEN_INSERT_COLUMNS}) \
            SELECT {selected} FROM UNNEST($2::text[], {arrays}) AS n(presented, {columns}) \
            WHERE n.presented IS NULL OR n.presented IN (SELECT refresh_token_hash FROM rotated) \
         )",
        arrays = token_arrays(3),
        columns = columns.join(", "),
    )
}

/// The redemption of a batch's codes, `$first` the codes and the next parameter
/// their clients, returning the codes redeemed here.
fn redemption(first: usize) -> String {
    format!(
        "UPDATE authorization_codes AS c SET used = TRUE \
         FROM UNNEST(${first}::text[], ${clients}::text[]) AS r(code_hash, client_id) \
         WHERE c.code_hash = r.code_hash AND c.client_id = r.client_id AND c.used = FALSE \
         RETURNING {columns}",
        clients = first + 1,
        columns = qualified_code_columns(),
    )
}

/// Rotations and new tokens in one statement ([`rotation_queries`]); the rows are
/// the keys revoked.
static ROTATE_AND_INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {} SELECT refresh_token_hash FROM rotated",
        rotation_queries()
    )
});

/// Redemptions, rotations and new tokens in one statement: `$1`… as in
/// [`rotation_queries`], then the codes and their clients. Each row is a code
/// redeemed here (its columns, then NULL) or a key revoked here (NULLs, then the
/// key).
static HOT_WRITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH redeemed AS ({}), {} \
         SELECT redeemed.*, rotated.refresh_token_hash FROM redeemed FULL JOIN rotated ON FALSE",
        redemption(TOKEN_WIDTH + 3),
        rotation_queries(),
    )
});

/// Redemptions alone: `$1` the codes, `$2` their clients; the rows are the codes
/// redeemed here.
static REDEEM: LazyLock<String> = LazyLock::new(|| redemption(1));

/// `c.code_hash, c.client_id, …`
fn qualified_code_columns() -> String {
    CODE_COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The codes of `(code_hash, client_id)` pairs, used or not.
static FIND_CODES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM authorization_codes AS c \
         JOIN UNNEST($1::text[], $2::text[]) AS r(code_hash, client_id) \
         ON c.code_hash = r.code_hash AND c.client_id = r.client_id",
        qualified_code_columns()
    )
});

/// Waits for the WAL flush of every write committed before it, and revokes, after
/// their commit, the new tokens of `$1` whose grant was revoked meanwhile. Its
/// transaction takes an id, so its commit writes a record and waits for the flush of
/// the WAL up to it, the unflushed commits before it included.
const FLUSH_AND_CHECK: &str = "WITH checked AS ( \
        UPDATE tokens SET revoked = TRUE \
        WHERE access_token_hash = ANY($1::text[]) AND revoked = FALSE \
        AND grant_id IN (SELECT grant_id FROM revoked_grants) \
        RETURNING 1 \
     ) \
     SELECT txid_current(), (SELECT count(*) FROM checked)";

/// What each job of a batch waits for.
enum Slot {
    /// Known already.
    Done(Outcome),
    /// The rotation of this presented key.
    Rotation(usize),
    /// The redemption of this code.
    Redemption(usize),
    /// The same redemption as job `n` (a code presented twice in one batch).
    SameAs(usize),
    /// Run in the batch's transaction, in order.
    Other,
}

/// What the rows of a batch's hot statement are.
#[derive(Clone, Copy)]
enum Shape {
    /// The refresh keys revoked (rotated) here, if any.
    Rotated,
    /// The codes redeemed here.
    Redeemed,
    /// Both, as [`HOT_WRITE`] returns them.
    Both,
}

impl Shape {
    /// The keys rotated and the codes redeemed, from the statement's rows.
    fn split(
        self,
        rows: &[PgRow],
    ) -> Result<(Vec<String>, Vec<AuthorizationCodeRecord>), SqlError> {
        let mut rotated = Vec::new();
        let mut redeemed = Vec::new();
        for row in rows {
            match self {
                Shape::Rotated => rotated.push(row.text(0)?),
                Shape::Redeemed => redeemed.push(code_from_row(row)?),
                Shape::Both => match row.opt_text(CODE_WIDTH)? {
                    Some(key) => rotated.push(key),
                    None => redeemed.push(code_from_row(row)?),
                },
            }
        }
        Ok((rotated, redeemed))
    }
}

/// The number of [`CODE_COLUMNS`].
const CODE_WIDTH: usize = 13;

/// Runs batches on the pool.
struct PgBatch {
    pool: PgPool,
    /// The connection single statements run on, kept between batches.
    conn: Option<sqlx::pool::PoolConnection<Postgres>>,
    /// Where a batch's commit is flushed, and its new tokens checked against revoked
    /// grants, before its callers hear of it.
    flusher: Flusher,
}

impl Batch for PgBatch {
    async fn process(&mut self, jobs: &[Job]) -> Result<Processed, Failure> {
        let mut slots = Vec::with_capacity(jobs.len());
        let mut presented: Vec<&str> = Vec::new();
        let mut codes: Vec<(&str, &str)> = Vec::new();
        let mut inserts: Vec<(Option<&str>, &TokenRecord)> = Vec::new();
        let mut others = false;
        for job in jobs {
            slots.push(match job {
                Job::Save(token) => {
                    inserts.push((None, token));
                    Slot::Done(Outcome::Saved)
                }
                // The second rotation of one key in a batch loses to the first.
                Job::Rotate { presented: key, .. } if presented.contains(&key.as_str()) => {
                    Slot::Done(Outcome::Rotated(false))
                }
                Job::Rotate {
                    presented: key,
                    new,
                } => {
                    presented.push(key);
                    inserts.push((Some(key), new));
                    Slot::Rotation(presented.len() - 1)
                }
                Job::Redeem {
                    code_hash,
                    client_id,
                } => {
                    let pair = (code_hash.as_str(), client_id.as_str());
                    match codes.iter().position(|c| *c == pair) {
                        Some(first) => Slot::SameAs(first),
                        None => {
                            codes.push(pair);
                            Slot::Redemption(codes.len() - 1)
                        }
                    }
                }
                _ => {
                    others = true;
                    Slot::Other
                }
            });
        }
        // One statement writes every hot job of the batch; its rows say which
        // rotations and redemptions happened here.
        let code_keys = || codes.iter().map(|c| c.0.to_owned()).collect::<Vec<_>>();
        let code_clients = || codes.iter().map(|c| c.1.to_owned()).collect::<Vec<_>>();
        let (write, shape) = match token_statement(&presented, &inserts, !codes.is_empty())? {
            Some(query) if codes.is_empty() => (Some(query), Shape::Rotated),
            Some(query) => (
                Some(query.bind(code_keys()).bind(code_clients())),
                Shape::Both,
            ),
            None if codes.is_empty() => (None, Shape::Rotated),
            None => (
                Some(
                    sqlx::query(REDEEM.as_str())
                        .bind(code_keys())
                        .bind(code_clients()),
                ),
                Shape::Redeemed,
            ),
        };
        // The statement commits by itself, unless the batch has other jobs: then they
        // share a transaction, so that the batch stays all or nothing.
        let (rotated, redeemed, missing, results) = if !others {
            // The writer keeps one connection: no pool hand-off per batch, and its
            // prepared statements stay at hand. A failed one is replaced.
            let conn = match &mut self.conn {
                Some(conn) => conn,
                None => self
                    .conn
                    .insert(self.pool.acquire().await.map_err(SqlError::from)?),
            };
            let written = match write {
                Some(write) => write.fetch_all(&mut **conn).await,
                None => Ok(Vec::new()),
            };
            let rows = match written {
                Ok(rows) => rows,
                Err(error) => {
                    self.conn = None;
                    return Err(Failure::BeforeCommit(error.into()));
                }
            };
            // Committed: a failure from here on must not run these jobs again.
            let (rotated, redeemed) = shape.split(&rows).map_err(Failure::AfterCommit)?;
            let missing = find_missing(&mut **conn, &codes, redeemed.len()).await;
            if missing.is_err() {
                self.conn = None;
            }
            let missing = missing.map_err(Failure::AfterCommit)?;
            (rotated, redeemed, missing, Vec::new())
        } else {
            let mut tx = self.pool.begin().await.map_err(SqlError::from)?;
            let rows = match write {
                Some(write) => write.fetch_all(&mut *tx).await.map_err(SqlError::from)?,
                None => Vec::new(),
            };
            let (rotated, redeemed) = shape.split(&rows)?;
            let mut results = Vec::new();
            for job in jobs {
                if let Some(outcome) = run_other(&mut tx, job).await? {
                    results.push(outcome);
                }
            }
            let missing = find_missing(&mut *tx, &codes, redeemed.len()).await?;
            tx.commit().await.map_err(SqlError::from)?;
            (rotated, redeemed, missing, results)
        };
        // A rotation needs no check after its commit: its `UPDATE` holds the old
        // token's row until then, and `revoke_grant` revokes the grant's tokens twice
        // (see there). A new grant's token holds no such row: it is checked.
        let racing: Vec<String> = inserts
            .iter()
            .filter(|(key, token)| key.is_none() && may_race_a_replay(token))
            .map(|(_, token)| token.access_token_hash.clone())
            .collect();
        // Committed without waiting for the flush: the flusher waits for it before the
        // callers hear of their writes. Only redemptions need not wait (see the
        // module header).
        let follow_up = (!inserts.is_empty() || others).then(|| {
            let flusher = self.flusher.clone();
            Box::pin(async move { flusher.flush(racing).await }) as FollowUp
        });
        let redemption = |index: usize| -> CodeRedemption<AuthorizationCodeRecord> {
            let (code_hash, client_id) = codes[index];
            let is =
                |c: &&AuthorizationCodeRecord| c.code_hash == code_hash && c.client_id == client_id;
            if let Some(code) = redeemed.iter().find(is) {
                return CodeRedemption::Redeemed(code.clone());
            }
            match missing.iter().find(is) {
                Some(code) => CodeRedemption::AlreadyUsed(code.clone()),
                None => CodeRedemption::NotFound,
            }
        };
        let mut results = results.into_iter();
        let mut outcomes = Vec::with_capacity(jobs.len());
        for slot in slots {
            outcomes.push(match slot {
                Slot::Done(outcome) => outcome,
                Slot::Rotation(index) => {
                    Outcome::Rotated(rotated.iter().any(|r| r == presented[index]))
                }
                Slot::Redemption(index) => Outcome::Redeemed(Box::new(redemption(index))),
                // The first presentation redeemed it (or found it used or missing):
                // this one finds it used (or missing).
                Slot::SameAs(index) => Outcome::Redeemed(Box::new(match redemption(index) {
                    CodeRedemption::Redeemed(code) | CodeRedemption::AlreadyUsed(code) => {
                        CodeRedemption::AlreadyUsed(code)
                    }
                    other => other,
                })),
                Slot::Other => results
                    .next()
                    .ok_or_else(|| SqlError::Task("a write had no outcome".to_owned()))
                    .map_err(Failure::AfterCommit)?,
            });
        }
        Ok(Processed {
            outcomes,
            follow_up,
        })
    }
}

/// The batch's token statement, its arrays bound: a plain insert when it rotates
/// nothing, else the rotations with it; `None` when the batch writes no token.
fn token_statement<'q>(
    presented: &[&str],
    inserts: &[(Option<&str>, &TokenRecord)],
    with_codes: bool,
) -> Result<Option<sqlx::query::Query<'q, Postgres, PgArguments>>, SqlError> {
    if inserts.is_empty() {
        return Ok(None);
    }
    let mut columns: Vec<Array> = TOKEN_TYPES.iter().map(|kind| Array::new(*kind)).collect();
    for (_, token) in inserts {
        for (column, value) in columns.iter_mut().zip(token_args(token)?) {
            column.push(value)?;
        }
    }
    let mut query = if presented.is_empty() && !with_codes {
        sqlx::query(INSERT_TOKENS.as_str())
    } else {
        sqlx::query(if with_codes {
            HOT_WRITE.as_str()
        } else {
            ROTATE_AND_INSERT.as_str()
        })
        .bind(
            presented
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>(),
        )
        .bind(
            inserts
                .iter()
                .map(|(key, _)| key.map(str::to_owned))
                .collect::<Vec<Option<String>>>(),
        )
    };
    for column in columns {
        query = column.bind(query);
    }
    Ok(Some(query))
}

/// The codes this batch tried to redeem and did not (used before, by a replay or a
/// racing server, or never issued to that client).
async fn find_missing<'e, E>(
    executor: E,
    codes: &[(&str, &str)],
    redeemed: usize,
) -> Result<Vec<AuthorizationCodeRecord>, SqlError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    if redeemed == codes.len() {
        return Ok(Vec::new());
    }
    sqlx::query(FIND_CODES.as_str())
        .bind(codes.iter().map(|c| c.0.to_owned()).collect::<Vec<_>>())
        .bind(codes.iter().map(|c| c.1.to_owned()).collect::<Vec<_>>())
        .fetch_all(executor)
        .await?
        .iter()
        .map(code_from_row)
        .collect()
}

/// Runs a job that is not a hot write in the batch's transaction (`None` for a hot
/// write, whose outcome comes from the hot statement).
async fn run_other(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    job: &Job,
) -> Result<Option<Outcome>, SqlError> {
    Ok(Some(match job {
        Job::RevokeToken(key) => {
            run_statement(&mut **tx, &revoke_token_statement(key)).await?;
            Outcome::Revoked
        }
        Job::RevokeGrant { grant_id, now } => {
            for statement in revoke_grant_statements(grant_id, *now) {
                run_statement(&mut **tx, &statement).await?;
            }
            Outcome::Revoked
        }
        Job::Statements(statements) => {
            let mut results = Vec::with_capacity(statements.len());
            for statement in statements {
                results.push(run_statement(&mut **tx, statement).await?);
            }
            Outcome::Statements(results)
        }
        Job::Save(_) | Job::Rotate { .. } | Job::Redeem { .. } => return Ok(None),
    }))
}

/// A wait for the flush of committed writes, with the new tokens to check against
/// revoked grants.
struct Flush {
    keys: Vec<String>,
    reply: oneshot::Sender<Result<(), SqlError>>,
}

/// The handle to the flusher task.
#[derive(Clone)]
struct Flusher(mpsc::Sender<Flush>);

impl Flusher {
    /// Starts the flusher task on `pool`, whose commits wait for the WAL flush.
    fn spawn(pool: PgPool) -> Self {
        let (flushes, queue) = mpsc::channel(LOOKUP_QUEUE);
        tokio::spawn(run_flushes(pool, queue));
        Self(flushes)
    }

    /// Returns once every write committed before it is flushed, the committed new
    /// tokens of `keys` whose grant was revoked meanwhile revoked.
    async fn flush(&self, keys: Vec<String>) -> Result<(), SqlError> {
        let stopped = || SqlError::Task("the flusher stopped".to_owned());
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Flush { keys, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Flushes committed writes and checks their new tokens against revoked grants: every
/// flush waiting at that moment in one statement ([`FLUSH_AND_CHECK`]), on one kept
/// connection, retried a few times (the writes are committed, so their callers must
/// not run them again). It runs beside the writers, which go on meanwhile.
async fn run_flushes(pool: PgPool, mut queue: mpsc::Receiver<Flush>) {
    let mut waiting: Vec<Flush> = Vec::with_capacity(MAX_LOOKUPS);
    let mut kept: Option<sqlx::pool::PoolConnection<Postgres>> = None;
    while queue.recv_many(&mut waiting, MAX_LOOKUPS).await > 0 {
        let keys: Vec<&str> = waiting
            .iter()
            .flat_map(|c| c.keys.iter().map(String::as_str))
            .collect();
        let mut outcome = Ok(());
        for _ in 0..FLUSH_ATTEMPTS {
            outcome = async {
                let conn = match &mut kept {
                    Some(conn) => conn,
                    None => kept.insert(pool.acquire().await?),
                };
                sqlx::query(FLUSH_AND_CHECK)
                    .bind(&keys)
                    .fetch_all(&mut **conn)
                    .await
                    .map(drop)
                    .map_err(SqlError::from)
            }
            .await;
            if outcome.is_ok() {
                break;
            }
            kept = None;
        }
        let cause = outcome.err().map(Arc::new);
        for flush in waiting.drain(..) {
            let _ = flush.reply.send(match &cause {
                None => Ok(()),
                Some(cause) => Err(SqlError::Batch(cause.clone())),
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The token statements bind one array per token column, typed as the schema's.
    #[test]
    fn the_token_statements_have_an_array_per_token_column() {
        assert_eq!(
            TOKEN_INSERT_COLUMNS.split(',').count(),
            TOKEN_TYPES.len(),
            "one type per token column"
        );
        assert!(INSERT_TOKENS.contains(&format!("${TOKEN_WIDTH}::bigint[])")));
        assert!(ROTATE_AND_INSERT.contains(&format!("${}::bigint[]", TOKEN_WIDTH + 2)));
        assert!(!ROTATE_AND_INSERT.contains(&format!("${}", TOKEN_WIDTH + 3)));
        assert!(HOT_WRITE.contains(&format!("${}::text[]", TOKEN_WIDTH + 4)));
        assert!(!HOT_WRITE.contains(&format!("${}", TOKEN_WIDTH + 5)));
        assert_eq!(CODE_COLUMNS.split(',').count(), CODE_WIDTH);

        let token = TokenRecord::new("k", "c", "client_credentials", "g", 1, 2);
        let mut columns: Vec<Array> = TOKEN_TYPES.iter().map(|k| Array::new(*k)).collect();
        for (column, value) in columns.iter_mut().zip(token_args(&token).unwrap()) {
            column.push(value).unwrap();
        }
    }

    /// `SqlOptions::max_connections` and the README promise at most seven
    /// connections beyond the pool.
    #[test]
    fn the_hot_path_keeps_seven_connections_of_its_own() {
        assert_eq!(
            PgBackend::HOT_CONNECTIONS + PgBackend::WRITER_CONNECTIONS,
            7
        );
    }
}
