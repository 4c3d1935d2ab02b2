//! The PostgreSQL backend, on sqlx.
//!
//! - **Hot writes** (new tokens, rotations, redemptions) go through the group commit
//!   (`crate::group_commit`) with two writer tasks, so that one batch fills while the
//!   other waits for its commit's WAL flush. A batch is set-based statements: every
//!   new token in one `INSERT … SELECT FROM UNNEST(…)` (with the rotations' `UPDATE …
//!   = ANY($1)` joined by `WITH`, so that a rotation's new token is inserted only when
//!   its old one was revoked), every redemption in one `UPDATE … FROM UNNEST(…)`. One
//!   prepared text serves every batch size, and a batch costs one statement per kind
//!   however many requests it answers; one statement commits by itself, two share a
//!   transaction.
//! - **Redemptions** have a writer of their own, whose commits do not wait for their
//!   WAL flush (`synchronous_commit = off`): a redemption is visible to every other
//!   transaction the moment it commits, so single use holds across servers, and the
//!   token it leads to is saved afterwards with a commit that does wait — and
//!   flushing the WAL up to that commit flushes the redemption before it. A
//!   redemption that led to no token (a failed PKCE check, say) may be lost if
//!   PostgreSQL itself crashes within the WAL writer's delay (200 ms by default);
//!   its code then works once more, for its own client and verifier only. This saves
//!   one flush per code exchange.
//! - **Token lookups** go through one lookup task that answers every lookup waiting
//!   at that moment with one `SELECT … WHERE key = ANY($1)`.
//! - The writers, the lookup task and the checker (below) each **keep one
//!   connection** between batches, replaced when it fails: handing a pooled
//!   connection out and back for every statement cost more of the server's CPU than
//!   the statement (refresh on the bench machine: 5.8–6.6k → 7.5–8.0k per second).
//!   They run without sequential scans (see `crate::connect`).
//! - **Everything else** (clients, users, sessions, consent, throttling, purging) runs
//!   on the pool directly, a transaction where it is more than one statement.
//!
//! Several processes may share the database, so a replay must revoke the token that a
//! racing legitimate request writes for the same grant. `revoke_grant` commits the
//! grant's row in `revoked_grants` first and then revokes the grant's tokens; every
//! new token is inserted revoked when its grant is in `revoked_grants` already. What
//! is left is a token whose statement began before the grant was remembered and
//! committed after the tokens were revoked: a rotation cannot, because it holds its
//! old token's row, which `revoke_grant`'s `UPDATE` waits for before a second `UPDATE`
//! runs; the first token of a grant (a code exchange) is checked against
//! `revoked_grants` once more after its commit, by a checker task beside the writers
//! (every check waiting at that moment in one statement), before its caller hears of
//! it.

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
/// smaller batches: on the 2-core bench machine two writers and one lookup task beat
/// four of each (docs/performance.md).
const WRITER_TASKS: usize = 2;
/// Lookup tasks, each with a connection of its own.
const LOOKUP_TASKS: usize = 1;
/// The most lookups answered by one query.
const MAX_LOOKUPS: usize = 32;
/// Lookups waiting for the lookup task before callers wait to enqueue.
const LOOKUP_QUEUE: usize = 4096;
/// How often the check against revoked grants is tried after a commit.
const CHECK_ATTEMPTS: usize = 3;

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
    /// Redemptions: their own writer, whose commits do not wait for the WAL flush.
    redeemer: Writer,
    lookups: Vec<mpsc::Sender<Lookup>>,
    next_lookup: std::sync::atomic::AtomicUsize,
}

impl PgBackend {
    /// Connections of the `hot` pool: one per writer task, one for the lookup task,
    /// one for the checker, and two for transactions of mixed batches.
    pub(crate) const HOT_CONNECTIONS: u32 = (WRITER_TASKS + LOOKUP_TASKS) as u32 + 3;

    /// A backend on `pool`, with `hot` for the token lookups and hot writes (for
    /// `host:port/database` `target`); starts its writer and lookup tasks, so it must
    /// be called inside a tokio runtime.
    pub(crate) fn new(pool: PgPool, hot: PgPool, redeem: PgPool, target: String) -> Self {
        let checker = Checker::spawn(hot.clone());
        let (writer, queues) = Writer::new(WRITER_TASKS);
        for queue in queues {
            tokio::spawn(queue.run(PgBatch {
                pool: hot.clone(),
                conn: None,
                checker: checker.clone(),
            }));
        }
        let (redeemer, queues) = Writer::new(1);
        for queue in queues {
            tokio::spawn(queue.run(PgBatch {
                pool: redeem.clone(),
                conn: None,
                checker: checker.clone(),
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
            redeemer,
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

    async fn save_token(&self, token: TokenRecord) -> Result<(), SqlError> {
        self.writer.save(token).await
    }

    async fn rotate(&self, presented: String, new: TokenRecord) -> Result<bool, SqlError> {
        self.writer.rotate(presented, new).await
    }

    async fn redeem(
        &self,
        code_hash: String,
        client_id: String,
    ) -> Result<CodeRedemption<AuthorizationCodeRecord>, SqlError> {
        self.redeemer.redeem(code_hash, client_id).await
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

/// Rotations and new tokens in one statement: `$1` the presented refresh keys, `$2`
/// the key each new token rotates (NULL for a new grant), `$3`… the new tokens'
/// columns. A rotation's new token is inserted only when its old one was revoked here;
/// the rows are the keys revoked.
static ROTATE_AND_INSERT: LazyLock<String> = LazyLock::new(|| {
    let (columns, selected) = selected_token_columns();
    format!(
        "WITH rotated AS ( \
            UPDATE tokens SET revoked = TRUE \
            WHERE refresh_token_hash = ANY($1::text[]) AND revoked = FALSE \
            RETURNING refresh_token_hash \
         ), inserted AS ( \
            INSERT INTO tokens ({TOKEN_INSERT_COLUMNS}) \
            SELECT {selected} FROM UNNEST($2::text[], {arrays}) AS n(presented, {columns}) \
            WHERE n.presented IS NULL OR n.presented IN (SELECT refresh_token_hash FROM rotated) \
         ) \
         SELECT refresh_token_hash FROM rotated",
        arrays = token_arrays(3),
        columns = columns.join(", "),
    )
});

/// Redemptions in one statement: `$1` the codes, `$2` their clients; the rows are the
/// codes redeemed here.
static REDEEM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE authorization_codes AS c SET used = TRUE \
         FROM UNNEST($1::text[], $2::text[]) AS r(code_hash, client_id) \
         WHERE c.code_hash = r.code_hash AND c.client_id = r.client_id AND c.used = FALSE \
         RETURNING {}",
        qualified_code_columns()
    )
});

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

/// Revokes, after their commit, the new tokens whose grant was revoked meanwhile.
const CHECK_REVOKED_GRANTS: &str = "UPDATE tokens SET revoked = TRUE \
     WHERE access_token_hash = ANY($1::text[]) AND revoked = FALSE \
     AND grant_id IN (SELECT grant_id FROM revoked_grants)";

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

/// Runs batches on the pool.
struct PgBatch {
    pool: PgPool,
    /// The connection single statements run on, kept between batches.
    conn: Option<sqlx::pool::PoolConnection<Postgres>>,
    /// Where new tokens are checked against revoked grants after their commit.
    checker: Checker,
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
        let tokens = token_statement(&presented, &inserts)?;
        let redeem = (!codes.is_empty()).then(|| {
            sqlx::query(REDEEM.as_str())
                .bind(codes.iter().map(|c| c.0.to_owned()).collect::<Vec<_>>())
                .bind(codes.iter().map(|c| c.1.to_owned()).collect::<Vec<_>>())
        });
        // One statement commits by itself; several share a transaction, so that the
        // batch stays all or nothing.
        let alone = !others && (tokens.is_none() || redeem.is_none());
        let (rotated_rows, redeemed_rows, missing, results) = if alone {
            // The writer keeps one connection: no pool hand-off per batch, and its
            // prepared statements stay at hand. A failed one is replaced.
            let conn = match &mut self.conn {
                Some(conn) => conn,
                None => self
                    .conn
                    .insert(self.pool.acquire().await.map_err(SqlError::from)?),
            };
            let written = match (tokens, redeem) {
                (Some(tokens), _) => tokens.fetch_all(&mut **conn).await,
                (None, Some(redeem)) => redeem.fetch_all(&mut **conn).await,
                (None, None) => Ok(Vec::new()),
            };
            let rows = match written {
                Ok(rows) => rows,
                Err(error) => {
                    self.conn = None;
                    return Err(Failure::BeforeCommit(error.into()));
                }
            };
            let (rotated_rows, redeemed_rows) = if codes.is_empty() {
                (rows, Vec::new())
            } else {
                (Vec::new(), rows)
            };
            // Committed: a failure from here on must not run these jobs again. (On
            // the kept connection: the redeemer's pool has no other.)
            let missing = match self.conn.as_mut() {
                Some(conn) => find_missing(&mut **conn, &codes, redeemed_rows.len()).await,
                None => find_missing(&self.pool, &codes, redeemed_rows.len()).await,
            };
            if missing.is_err() {
                self.conn = None;
            }
            let missing = missing.map_err(Failure::AfterCommit)?;
            (rotated_rows, redeemed_rows, missing, Vec::new())
        } else {
            let mut tx = self.pool.begin().await.map_err(SqlError::from)?;
            let mut rotated_rows = Vec::new();
            let mut redeemed_rows = Vec::new();
            if let Some(redeem) = redeem {
                redeemed_rows = redeem.fetch_all(&mut *tx).await.map_err(SqlError::from)?;
            }
            if let Some(tokens) = tokens {
                rotated_rows = tokens.fetch_all(&mut *tx).await.map_err(SqlError::from)?;
            }
            let mut results = Vec::new();
            for job in jobs {
                if let Some(outcome) = run_other(&mut tx, job).await? {
                    results.push(outcome);
                }
            }
            let missing = find_missing(&mut *tx, &codes, redeemed_rows.len()).await?;
            tx.commit().await.map_err(SqlError::from)?;
            (rotated_rows, redeemed_rows, missing, results)
        };
        let rotated: Vec<String> = rotated_rows
            .iter()
            .map(|row| row.text(0))
            .collect::<Result<_, _>>()
            .map_err(Failure::AfterCommit)?;
        let redeemed: Vec<AuthorizationCodeRecord> = redeemed_rows
            .iter()
            .map(code_from_row)
            .collect::<Result<_, _>>()
            .map_err(Failure::AfterCommit)?;
        // A rotation needs no check after its commit: its `UPDATE` holds the old
        // token's row until then, and `revoke_grant` revokes the grant's tokens twice
        // (see there). A new grant's token holds no such row: it is checked.
        let racing: Vec<String> = inserts
            .iter()
            .filter(|(key, token)| key.is_none() && may_race_a_replay(token))
            .map(|(_, token)| token.access_token_hash.clone())
            .collect();
        let follow_up = (!racing.is_empty()).then(|| {
            let checker = self.checker.clone();
            Box::pin(async move { checker.check(racing).await }) as FollowUp
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
    let mut query = if presented.is_empty() {
        sqlx::query(INSERT_TOKENS.as_str())
    } else {
        sqlx::query(ROTATE_AND_INSERT.as_str())
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

/// A check of committed new tokens against revoked grants, waiting for the checker.
struct Check {
    keys: Vec<String>,
    reply: oneshot::Sender<Result<(), SqlError>>,
}

/// The handle to the checker task.
#[derive(Clone)]
struct Checker(mpsc::Sender<Check>);

impl Checker {
    /// Starts the checker task on `pool`.
    fn spawn(pool: PgPool) -> Self {
        let (checks, queue) = mpsc::channel(LOOKUP_QUEUE);
        tokio::spawn(run_checks(pool, queue));
        Self(checks)
    }

    /// Revokes the committed new tokens of `keys` whose grant was revoked meanwhile.
    async fn check(&self, keys: Vec<String>) -> Result<(), SqlError> {
        let stopped = || SqlError::Task("the revoked-grant checker stopped".to_owned());
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Check { keys, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Revokes, after their commit, the new tokens whose grant was revoked meanwhile: every
/// check waiting at that moment in one statement, on one kept connection, retried a
/// few times (the tokens are committed, so their callers must not run them again). It
/// runs beside the writers, before the callers hear of their tokens.
async fn run_checks(pool: PgPool, mut queue: mpsc::Receiver<Check>) {
    let mut waiting: Vec<Check> = Vec::with_capacity(MAX_LOOKUPS);
    let mut kept: Option<sqlx::pool::PoolConnection<Postgres>> = None;
    while queue.recv_many(&mut waiting, MAX_LOOKUPS).await > 0 {
        let keys: Vec<&str> = waiting
            .iter()
            .flat_map(|c| c.keys.iter().map(String::as_str))
            .collect();
        let mut outcome = Ok(());
        for _ in 0..CHECK_ATTEMPTS {
            outcome = async {
                let conn = match &mut kept {
                    Some(conn) => conn,
                    None => kept.insert(pool.acquire().await?),
                };
                sqlx::query(CHECK_REVOKED_GRANTS)
                    .bind(&keys)
                    .execute(&mut **conn)
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
        for check in waiting.drain(..) {
            let _ = check.reply.send(match &cause {
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
        let token = TokenRecord::new("k", "c", "client_credentials", "g", 1, 2);
        let mut columns: Vec<Array> = TOKEN_TYPES.iter().map(|k| Array::new(*k)).collect();
        for (column, value) in columns.iter_mut().zip(token_args(&token).unwrap()) {
            column.push(value).unwrap();
        }
    }
}
