//! Group commit of the hot writes: new tokens, refresh-token rotations and code
//! redemptions.
//!
//! These are the writes every token request makes. Instead of one transaction each,
//! [`TokenWriter`] hands them to a background task, which takes every job waiting at
//! that moment (up to [`MAX_BATCH`]), runs them in one transaction — redemptions and
//! rotations first, each as its own conditional statement, then one multi-row `INSERT`
//! for all the new tokens — commits, and only then answers each caller. So:
//!
//! - a caller never returns a token that is not committed (a killed process loses no
//!   token it handed out), and a redemption or rotation counts only once committed;
//! - single use stays atomic in SQL: of two redemptions of one code — in one batch, in
//!   two batches, or on two servers sharing a PostgreSQL database — the conditional
//!   `UPDATE ... WHERE used = FALSE` lets exactly one through;
//! - a busy server pays for one commit per batch instead of one per request, and under
//!   no load a batch is a single job and nothing waits.
//!
//! When a batch fails (a token of a client deleted meanwhile violates a foreign key,
//! say), it is rolled back whole and its jobs run again one by one, so each caller
//! gets its own answer and the good jobs still land.
//!
//! After the commit, new tokens of grants that a replay can revoke
//! (`authorization_code`, `refresh_token`) are checked against `revoked_grants`, which
//! closes the race between a legitimate redemption and a replay (see `revoke_grant`).
//!
//! SQLite gets one writer task (it has one writer at a time anyway); PostgreSQL gets
//! several, since it commits concurrent transactions in parallel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use portcullis_core::{AuthorizationCodeRecord, CodeRedemption, TokenRecord};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};
use tokio::sync::{mpsc, oneshot};

use crate::error::{for_client, SqlError};
use crate::repository::{Dialect, CODE_COLUMNS};
use crate::rows::{list_to_json, CodeRow};

/// The most jobs committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;
/// Rows per `INSERT` statement: a whole batch (14 parameters a row stays well under
/// SQLite's 32766 and PostgreSQL's 65535 parameters).
const ROWS_PER_STATEMENT: usize = MAX_BATCH;
/// Jobs waiting for a writer before callers wait to enqueue.
const QUEUE: usize = 4096;

type Reply<T> = oneshot::Sender<Result<T, SqlError>>;

/// One write.
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
}

/// What a job did, before its caller hears of it.
enum Outcome {
    Saved,
    Rotated(bool),
    Redeemed(Box<CodeRedemption<AuthorizationCodeRecord>>),
}

/// The handle to the writer tasks; cheap to clone.
#[derive(Clone)]
pub(crate) struct TokenWriter {
    queues: Arc<[mpsc::Sender<Job>]>,
    next: Arc<AtomicUsize>,
}

fn stopped() -> SqlError {
    SqlError::Task("the token writer stopped (its async runtime has shut down)".to_owned())
}

impl TokenWriter {
    /// Starts `tasks` writer tasks on `pool` (the write pool).
    pub(crate) fn spawn<DB>(pool: Pool<DB>, tasks: usize) -> Self
    where
        DB: Dialect,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
        for<'q> &'q str: Encode<'q, DB> + Type<DB>,
        for<'q> Option<&'q str>: Encode<'q, DB>,
        for<'q> i64: Encode<'q, DB> + Type<DB>,
        for<'q> Option<i64>: Encode<'q, DB>,
        for<'q> bool: Encode<'q, DB> + Type<DB>,
        for<'r> CodeRow: FromRow<'r, DB::Row>,
    {
        let queues: Vec<mpsc::Sender<Job>> = (0..tasks.max(1))
            .map(|_| {
                let (jobs, queue) = mpsc::channel(QUEUE);
                tokio::spawn(run(pool.clone(), queue));
                jobs
            })
            .collect();
        Self {
            queues: queues.into(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn submit<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, SqlError> {
        let (done, answer) = oneshot::channel();
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        self.queues[index]
            .send(job(done))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Saves `token`; returns once it is committed.
    pub(crate) async fn save(&self, token: TokenRecord) -> Result<(), SqlError> {
        self.submit(|done| Job::Save(token, done)).await
    }

    /// Rotates a refresh token: when the token holding `old_refresh_hash` is not
    /// revoked, revokes it and saves `new`, atomically; `false` otherwise.
    pub(crate) async fn rotate(
        &self,
        old_refresh_hash: String,
        new: TokenRecord,
    ) -> Result<bool, SqlError> {
        self.submit(|done| Job::Rotate {
            old_refresh_hash,
            new,
            done,
        })
        .await
    }

    /// Marks the code of `client_id` used, atomically, and tells what it was (another
    /// client's code is not found and stays unchanged).
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

async fn run<DB>(pool: Pool<DB>, mut queue: mpsc::Receiver<Job>)
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'r> CodeRow: FromRow<'r, DB::Row>,
{
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match process(&pool, &batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    reply(job, Ok(outcome));
                }
            }
            // One job broke a constraint (a token of a client deleted meanwhile): the
            // batch was rolled back whole, so each job runs again alone and gets its
            // own answer.
            Err(Failure::BeforeCommit(error)) if caused_by_a_job(&error) && batch.len() == 1 => {
                tracing::debug!(%error, "write failed");
                if let Some(job) = batch.pop() {
                    reply(job, Err(error));
                }
            }
            Err(Failure::BeforeCommit(error)) if caused_by_a_job(&error) => {
                tracing::debug!(%error, size = batch.len(), "write batch failed; running its jobs one by one");
                for job in batch.drain(..) {
                    let outcome = match process(&pool, std::slice::from_ref(&job)).await {
                        Ok(mut one) => Ok(one.remove(0)),
                        Err(Failure::BeforeCommit(e) | Failure::AfterCommit(e)) => Err(e),
                    };
                    reply(job, outcome);
                }
            }
            // The database itself failed (unreachable, timed out), or the batch is
            // committed and only the follow-up check failed: never run committed jobs
            // again (a redemption would then look like a replay); answer every job
            // with the error.
            Err(Failure::BeforeCommit(error) | Failure::AfterCommit(error)) => {
                tracing::error!(%error, size = batch.len(), "write batch failed");
                let message = error.to_string();
                for job in batch.drain(..) {
                    reply(job, Err(SqlError::Task(message.clone())));
                }
            }
        }
    }
}

/// Why a batch failed: before its commit (nothing happened) or after it (the jobs are
/// committed; the check against revoked grants failed).
enum Failure {
    BeforeCommit(SqlError),
    AfterCommit(SqlError),
}

/// True for errors one job can cause by itself (a constraint it breaks, a row it
/// cannot read): the others deserve another try without it.
fn caused_by_a_job(error: &SqlError) -> bool {
    match error {
        SqlError::Database(sqlx::Error::Database(db)) => {
            !matches!(db.kind(), sqlx::error::ErrorKind::Other)
        }
        SqlError::Corrupt(_) => true,
        _ => false,
    }
}

fn reply(job: Job, outcome: Result<Outcome, SqlError>) {
    let mismatch = || SqlError::Task("the token writer mixed up its answers".to_owned());
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
    }
}

/// Runs `jobs` in one transaction (or, when they are only new tokens, in one
/// self-committing `INSERT`), then checks the new tokens against revoked grants.
async fn process<DB>(pool: &Pool<DB>, jobs: &[Job]) -> Result<Vec<Outcome>, Failure>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'r> CodeRow: FromRow<'r, DB::Row>,
{
    let (outcomes, inserts) = commit_jobs(pool, jobs)
        .await
        .map_err(Failure::BeforeCommit)?;
    // Committed: from here on a failure must not make anyone run these jobs again.
    let mut checked = check_revoked_grants(pool, &inserts).await;
    for _ in 0..2 {
        if checked.is_ok() {
            break;
        }
        checked = check_revoked_grants(pool, &inserts).await;
    }
    checked.map_err(Failure::AfterCommit)?;
    Ok(outcomes)
}

/// Runs and commits `jobs`; returns their outcomes and the tokens inserted.
async fn commit_jobs<'j, DB>(
    pool: &Pool<DB>,
    jobs: &'j [Job],
) -> Result<(Vec<Outcome>, Vec<&'j TokenRecord>), SqlError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'r> CodeRow: FromRow<'r, DB::Row>,
{
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut inserts: Vec<&TokenRecord> = Vec::with_capacity(jobs.len());
    let only_saves = jobs.iter().all(|job| matches!(job, Job::Save(..)));
    if only_saves && jobs.len() <= ROWS_PER_STATEMENT {
        // One INSERT statement is atomic by itself: no BEGIN/COMMIT round trips.
        for job in jobs {
            if let Job::Save(token, _) = job {
                inserts.push(token);
                outcomes.push(Outcome::Saved);
            }
        }
        insert_tokens(pool, &inserts).await?;
    } else {
        let mut tx = pool.begin().await?;
        for job in jobs {
            match job {
                Job::Save(token, _) => {
                    inserts.push(token);
                    outcomes.push(Outcome::Saved);
                }
                Job::Rotate {
                    old_refresh_hash,
                    new,
                    ..
                } => {
                    let revoked = sqlx::query::<DB>(
                        "UPDATE tokens SET revoked = TRUE \
                         WHERE refresh_token_hash = $1 AND revoked = FALSE",
                    )
                    .bind(old_refresh_hash.as_str())
                    .execute(&mut *tx)
                    .await?;
                    let rotated = DB::rows_affected(&revoked) == 1;
                    if rotated {
                        inserts.push(new);
                    }
                    outcomes.push(Outcome::Rotated(rotated));
                }
                Job::Redeem {
                    code_hash,
                    client_id,
                    ..
                } => {
                    let redeem = format!(
                        "UPDATE authorization_codes SET used = TRUE WHERE code_hash = $1 \
                         AND client_id = $2 AND used = FALSE RETURNING {CODE_COLUMNS}"
                    );
                    let found = match sqlx::query_as::<DB, CodeRow>(&redeem)
                        .bind(code_hash.as_str())
                        .bind(client_id.as_str())
                        .fetch_optional(&mut *tx)
                        .await?
                    {
                        Some(row) => CodeRedemption::Redeemed(row.into_record()?),
                        None => {
                            // Nothing changed: used before by this client, or never
                            // issued to it.
                            let find = format!(
                                "SELECT {CODE_COLUMNS} FROM authorization_codes \
                                 WHERE code_hash = $1 AND client_id = $2"
                            );
                            match sqlx::query_as::<DB, CodeRow>(&find)
                                .bind(code_hash.as_str())
                                .bind(client_id.as_str())
                                .fetch_optional(&mut *tx)
                                .await?
                            {
                                Some(row) => CodeRedemption::AlreadyUsed(row.into_record()?),
                                None => CodeRedemption::NotFound,
                            }
                        }
                    };
                    outcomes.push(Outcome::Redeemed(Box::new(found)));
                }
            }
        }
        for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
            insert_tokens(&mut *tx, chunk).await?;
        }
        tx.commit().await?;
    }
    Ok((outcomes, inserts))
}

/// Placeholders for `rows` tuples of `width` values: `$1, $2, ...` when `numbered`
/// (PostgreSQL), plain `?` otherwise (SQLite, where sqlx resolves every numbered
/// parameter by name — a linear search per parameter that makes a multi-row insert
/// quadratic).
fn placeholders(rows: usize, width: usize, numbered: bool) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(row * width + column + 1).to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

/// True for databases whose placeholders are numbered (`$1`): PostgreSQL.
fn numbered<DB: Database>() -> bool {
    DB::NAME != "SQLite"
}

/// Inserts `tokens` with one multi-row `INSERT` on `executor`.
async fn insert_tokens<'e, DB, E>(executor: E, tokens: &[&TokenRecord]) -> Result<(), SqlError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    if tokens.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::with_capacity(tokens.len());
    for token in tokens {
        rows.push((
            *token,
            token.scope.to_string(),
            list_to_json(&token.audience)?,
        ));
    }
    let sql = format!(
        "INSERT INTO tokens (access_token_hash, refresh_token_hash, client_id, scope, \
         subject, grant_type, grant_id, issued_at, expires_in, expires_at, \
         refresh_token_expires_at, revoked, audience, grant_expires_at) VALUES {}",
        placeholders(rows.len(), 14, numbered::<DB>())
    );
    let mut query = sqlx::query::<DB>(&sql);
    for (token, scope, audience) in &rows {
        query = query
            .bind(token.access_token_hash.as_str())
            .bind(token.refresh_token_hash.as_deref())
            .bind(token.client_id.as_str())
            .bind(scope.as_str())
            .bind(token.subject.as_deref())
            .bind(token.grant_type.as_str())
            .bind(token.grant_id.as_str())
            .bind(token.issued_at)
            .bind(token.expires_in)
            .bind(token.issued_at.saturating_add(token.expires_in))
            .bind(token.refresh_token_expires_at)
            .bind(token.revoked)
            .bind(audience.as_str())
            .bind(token.grant_expires_at);
    }
    query.execute(executor).await?;
    Ok(())
}

/// Grant types whose grant may be revoked before their token is saved.
pub(crate) fn may_race_a_replay(token: &TokenRecord) -> bool {
    matches!(
        token.grant_type.as_str(),
        "authorization_code" | "refresh_token"
    )
}

/// Revokes, after their commit, the tokens whose grant is in `revoked_grants`.
async fn check_revoked_grants<DB>(pool: &Pool<DB>, tokens: &[&TokenRecord]) -> Result<(), SqlError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    let racing: Vec<&&TokenRecord> = tokens.iter().filter(|t| may_race_a_replay(t)).collect();
    for chunk in racing.chunks(ROWS_PER_STATEMENT) {
        let list = placeholders(chunk.len(), 1, numbered::<DB>());
        let sql = format!(
            "UPDATE tokens SET revoked = TRUE WHERE revoked = FALSE \
             AND grant_id IN (SELECT grant_id FROM revoked_grants) \
             AND access_token_hash IN ({})",
            list.replace(['(', ')'], "")
        );
        let mut query = sqlx::query::<DB>(&sql);
        for token in chunk {
            query = query.bind(token.access_token_hash.as_str());
        }
        query.execute(pool).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_value() {
        assert_eq!(placeholders(1, 2, true), "($1, $2)");
        assert_eq!(placeholders(2, 3, true), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(2, 2, false), "(?, ?), (?, ?)");
    }
}
