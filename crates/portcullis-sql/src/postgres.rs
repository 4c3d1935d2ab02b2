//! The PostgreSQL backend, on sqlx.
//!
//! - **Hot writes** (new tokens, rotations, redemptions) go through the group commit
//!   (`crate::group_commit`) with two writer tasks, so that one batch fills while the
//!   other waits for its commit's WAL flush. A batch is one set-based statement, which
//!   PostgreSQL commits by itself: the rotations as one `UPDATE … = ANY($1)`, the
//!   redemptions as one `UPDATE … FROM UNNEST(…)`, and every new token as one
//!   `INSERT … SELECT FROM UNNEST(…)`, joined by `WITH` so that a rotation's new token
//!   is inserted only when its old one was revoked. One prepared text serves every
//!   batch size; a batch costs one round trip however many requests it answers.
//! - **Token lookups** go through one lookup task that answers every lookup waiting
//!   at that moment with one `SELECT … WHERE key = ANY($1)`.
//! - **Everything else** (clients, users, sessions, consent, throttling, purging) runs
//!   on the pool directly, a transaction where it is more than one statement.
//!
//! Several processes may share the database, so a token of a grant that a replay can
//! revoke is checked against `revoked_grants` *after* its commit: `revoke_grant`
//! commits the grant's row first and then revokes the grant's tokens, so a token
//! committed before that `UPDATE` is revoked by it, and one committed after finds the
//! row here.

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
use crate::group_commit::{Batch, Failure, Job, Outcome, Writer};
use crate::schema::{
    code_from_row, token_args, token_from_row, OwnedRow, Query, Row, StatementResult, Value,
    CODE_COLUMNS, TOKEN_COLUMNS, TOKEN_INSERT_COLUMNS, TOKEN_WIDTH,
};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Group-commit writer tasks. Batches grow with the load, so more tasks mostly make
/// smaller batches: on the 2-core bench machine two writers and one lookup task beat
/// four of each (docs/performance.md).
const WRITER_TASKS: usize = 2;
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

/// A row read from position `offset` on (the hot statement's rows lead with a kind).
struct Shifted<'r, R>(&'r R, usize);

impl<R: Row> Row for Shifted<'_, R> {
    fn text(&self, index: usize) -> Result<String, SqlError> {
        self.0.text(index + self.1)
    }

    fn opt_text(&self, index: usize) -> Result<Option<String>, SqlError> {
        self.0.opt_text(index + self.1)
    }

    fn int(&self, index: usize) -> Result<i64, SqlError> {
        self.0.int(index + self.1)
    }

    fn opt_int(&self, index: usize) -> Result<Option<i64>, SqlError> {
        self.0.opt_int(index + self.1)
    }

    fn boolean(&self, index: usize) -> Result<bool, SqlError> {
        self.0.boolean(index + self.1)
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
    target: String,
    writer: Writer,
    lookups: mpsc::Sender<Lookup>,
}

impl PgBackend {
    /// A backend on `pool` (for `host:port/database` `target`); starts its writer and
    /// lookup tasks, so it must be called inside a tokio runtime.
    pub(crate) fn new(pool: PgPool, target: String) -> Self {
        let (writer, queues) = Writer::new(WRITER_TASKS);
        for queue in queues {
            tokio::spawn(queue.run(PgBatch { pool: pool.clone() }));
        }
        let (lookups, queue) = mpsc::channel(LOOKUP_QUEUE);
        tokio::spawn(run_lookups(pool.clone(), queue));
        Self {
            pool,
            target,
            writer,
            lookups,
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
        self.lookups
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
        self.writer.redeem(code_hash, client_id).await
    }

    async fn revoke_token(&self, key: String) -> Result<(), SqlError> {
        self.execute(revoke_token_statement(&key)).await.map(drop)
    }

    async fn revoke_grant(&self, grant_id: String, now: i64) -> Result<(), SqlError> {
        // Two commits, in this order (see the module header).
        for statement in revoke_grant_statements(&grant_id, now) {
            self.execute(statement).await?;
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
                sqlx::query(lookup_sql(column))
                    .bind(keys)
                    .fetch_all(&pool)
                    .await?
                    .iter()
                    .map(token_from_row)
                    .collect()
            }
            .await;
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

/// The statement every batch of hot writes is: rotations, redemptions and new tokens
/// in one statement, which commits by itself. `$1` the presented refresh keys; `$2`,
/// `$3` the codes and their clients; `$4` the refresh key each new token rotates
/// (NULL for a new grant) and `$5`… the new tokens' columns. Rows: `('rotated', key,
/// NULL…)` per rotation and `('redeemed', code columns…)` per redemption.
static HOT_WRITE: LazyLock<String> = LazyLock::new(|| {
    let code_columns: Vec<String> = CODE_COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect();
    let token_columns: Vec<&str> = TOKEN_INSERT_COLUMNS.split(',').map(str::trim).collect();
    let arrays: Vec<String> = TOKEN_TYPES
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let name = match kind {
                ArrayType::Text => "text",
                ArrayType::Int => "bigint",
                ArrayType::Bool => "boolean",
            };
            format!("${}::{name}[]", i + 5)
        })
        .collect();
    let selected: Vec<String> = token_columns.iter().map(|c| format!("n.{c}")).collect();
    format!(
        "WITH rotated AS ( \
            UPDATE tokens SET revoked = TRUE \
            WHERE refresh_token_hash = ANY($1::text[]) AND revoked = FALSE \
            RETURNING refresh_token_hash \
         ), redeemed AS ( \
            UPDATE authorization_codes AS c SET used = TRUE \
            FROM UNNEST($2::text[], $3::text[]) AS r(code_hash, client_id) \
            WHERE c.code_hash = r.code_hash AND c.client_id = r.client_id AND c.used = FALSE \
            RETURNING {code_columns} \
         ), inserted AS ( \
            INSERT INTO tokens ({TOKEN_INSERT_COLUMNS}) \
            SELECT {selected} FROM UNNEST($4::text[], {arrays}) AS n(presented, {token_columns}) \
            WHERE n.presented IS NULL OR n.presented IN (SELECT refresh_token_hash FROM rotated) \
         ) \
         SELECT 'rotated'::text, refresh_token_hash, NULL::text, NULL::text, NULL::text, NULL::text, \
                NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::bigint, NULL::bigint, \
                NULL::text, NULL::text FROM rotated \
         UNION ALL SELECT 'redeemed'::text, * FROM redeemed",
        code_columns = code_columns.join(", "),
        selected = selected.join(", "),
        arrays = arrays.join(", "),
        token_columns = token_columns.join(", "),
    )
});

/// The codes of `(code_hash, client_id)` pairs, used or not.
static FIND_CODES: LazyLock<String> = LazyLock::new(|| {
    let code_columns: Vec<String> = CODE_COLUMNS
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect();
    format!(
        "SELECT {} FROM authorization_codes AS c \
         JOIN UNNEST($1::text[], $2::text[]) AS r(code_hash, client_id) \
         ON c.code_hash = r.code_hash AND c.client_id = r.client_id",
        code_columns.join(", ")
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
}

impl Batch for PgBatch {
    async fn process(&mut self, jobs: &[Job]) -> Result<Vec<Outcome>, Failure> {
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
        let statement = hot_write(&presented, &codes, &inserts)?;
        let (rows, missing, results) = if others {
            let mut tx = self.pool.begin().await.map_err(SqlError::from)?;
            let rows = statement
                .fetch_all(&mut *tx)
                .await
                .map_err(SqlError::from)?;
            let mut results = Vec::new();
            for job in jobs {
                if let Some(outcome) = run_other(&mut tx, job).await? {
                    results.push(outcome);
                }
            }
            let missing = find_missing(&mut *tx, &codes, &rows).await?;
            tx.commit().await.map_err(SqlError::from)?;
            (rows, missing, results)
        } else {
            let rows = statement
                .fetch_all(&self.pool)
                .await
                .map_err(SqlError::from)?;
            // Committed: a failure from here on must not run these jobs again.
            let missing = find_missing(&self.pool, &codes, &rows)
                .await
                .map_err(Failure::AfterCommit)?;
            (rows, missing, Vec::new())
        };
        let rotated: Vec<String> = rows
            .iter()
            .filter(|row| row.try_get::<&str, _>(0).ok() == Some("rotated"))
            .map(|row| row.text(1))
            .collect::<Result<_, _>>()
            .map_err(Failure::AfterCommit)?;
        let mut redeemed = Vec::new();
        for row in rows
            .iter()
            .filter(|row| row.try_get::<&str, _>(0).ok() == Some("redeemed"))
        {
            redeemed.push(code_from_row(&Shifted(row, 1)).map_err(Failure::AfterCommit)?);
        }
        let racing: Vec<&str> = inserts
            .iter()
            .filter(|(key, token)| {
                may_race_a_replay(token) && key.is_none_or(|k| rotated.iter().any(|r| r == k))
            })
            .map(|(_, token)| token.access_token_hash.as_str())
            .collect();
        check_revoked_grants(&self.pool, &racing)
            .await
            .map_err(Failure::AfterCommit)?;
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
        Ok(outcomes)
    }
}

/// The batch's hot statement, its arrays bound.
fn hot_write<'q>(
    presented: &[&str],
    codes: &[(&str, &str)],
    inserts: &[(Option<&str>, &TokenRecord)],
) -> Result<sqlx::query::Query<'q, Postgres, PgArguments>, SqlError> {
    let mut columns: Vec<Array> = TOKEN_TYPES.iter().map(|kind| Array::new(*kind)).collect();
    for (_, token) in inserts {
        for (column, value) in columns.iter_mut().zip(token_args(token)?) {
            column.push(value)?;
        }
    }
    let owned = |list: &[&str]| {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<String>>()
    };
    let mut query = sqlx::query(HOT_WRITE.as_str())
        .bind(owned(presented))
        .bind(codes.iter().map(|c| c.0.to_owned()).collect::<Vec<_>>())
        .bind(codes.iter().map(|c| c.1.to_owned()).collect::<Vec<_>>())
        .bind(
            inserts
                .iter()
                .map(|(key, _)| key.map(str::to_owned))
                .collect::<Vec<Option<String>>>(),
        );
    for column in columns {
        query = column.bind(query);
    }
    Ok(query)
}

/// The codes this batch tried to redeem and did not (used before, by a replay or a
/// racing server, or never issued to that client).
async fn find_missing<'e, E>(
    executor: E,
    codes: &[(&str, &str)],
    rows: &[PgRow],
) -> Result<Vec<AuthorizationCodeRecord>, SqlError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let redeemed = rows
        .iter()
        .filter(|row| row.try_get::<&str, _>(0).ok() == Some("redeemed"))
        .count();
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

/// Revokes the committed new tokens whose grant was revoked meanwhile, retried a few
/// times: the tokens are committed, so their callers must not run them again.
async fn check_revoked_grants(pool: &PgPool, racing: &[&str]) -> Result<(), SqlError> {
    if racing.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = racing.iter().map(|k| (*k).to_owned()).collect();
    let mut outcome = Ok(());
    for _ in 0..CHECK_ATTEMPTS {
        outcome = sqlx::query(CHECK_REVOKED_GRANTS)
            .bind(&keys)
            .execute(pool)
            .await
            .map(drop)
            .map_err(SqlError::from);
        if outcome.is_ok() {
            break;
        }
    }
    outcome
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The hot statement binds one array per token column, typed as the schema's.
    #[test]
    fn the_hot_statement_has_an_array_per_token_column() {
        let sql = HOT_WRITE.as_str();
        assert!(sql.contains(&format!("${}::bigint[]", TOKEN_WIDTH + 4)));
        assert!(!sql.contains(&format!("${}", TOKEN_WIDTH + 5)));
        assert_eq!(
            TOKEN_INSERT_COLUMNS.split(',').count(),
            TOKEN_TYPES.len(),
            "one type per token column"
        );
        let token = TokenRecord::new("k", "c", "client_credentials", "g", 1, 2);
        let mut columns: Vec<Array> = TOKEN_TYPES.iter().map(|k| Array::new(*k)).collect();
        for (column, value) in columns.iter_mut().zip(token_args(&token).unwrap()) {
            column.push(value).unwrap();
        }
    }
}
