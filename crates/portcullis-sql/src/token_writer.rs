//! Group commit of new tokens.
//!
//! Issuing a token is the hot write of an authorization server. Instead of one
//! transaction per token, [`TokenWriter`] hands every new token to one background
//! task, which takes all the tokens waiting at that moment (up to [`MAX_BATCH`]),
//! writes them with multi-row `INSERT`s in one transaction, commits, and only then
//! answers each caller. A caller therefore never returns a token that is not
//! committed — a killed process loses no token it handed out — while a busy server
//! pays for one commit per batch instead of one per token. Under no load a batch is a
//! single token and nothing waits.
//!
//! When a batch fails (a token of a client deleted meanwhile violates a foreign key,
//! say), its tokens are written again one by one, so each caller gets its own answer
//! and the good tokens still land.
//!
//! After the commit, tokens of grants that can be revoked by a replay
//! (`authorization_code`, `refresh_token`) are checked against `revoked_grants`, which
//! closes the race between a legitimate redemption and a replay (see `revoke_grant`).

use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};
use tokio::sync::{mpsc, oneshot};

use portcullis_core::TokenRecord;

use crate::error::SqlError;
use crate::rows::list_to_json;

/// The most tokens committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;
/// Rows per `INSERT` statement (13 parameters each, well under every driver's limit).
const ROWS_PER_STATEMENT: usize = 64;
/// Tokens waiting for the writer before callers wait to enqueue.
const QUEUE: usize = 4096;

type Job = (TokenRecord, oneshot::Sender<Result<(), SqlError>>);

/// The handle to the token-writing task; cheap to clone.
#[derive(Clone)]
pub(crate) struct TokenWriter {
    jobs: mpsc::Sender<Job>,
}

fn stopped() -> SqlError {
    SqlError::Task("the token writer stopped (its async runtime has shut down)".to_owned())
}

impl TokenWriter {
    /// Starts the writer on `pool` (which should be the write pool).
    pub(crate) fn spawn<DB>(pool: Pool<DB>) -> Self
    where
        DB: Database,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
        for<'q> &'q str: Encode<'q, DB> + Type<DB>,
        for<'q> Option<&'q str>: Encode<'q, DB>,
        for<'q> i64: Encode<'q, DB> + Type<DB>,
        for<'q> Option<i64>: Encode<'q, DB>,
        for<'q> bool: Encode<'q, DB> + Type<DB>,
    {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, queue));
        Self { jobs }
    }

    /// Saves `token`; returns once it is committed.
    pub(crate) async fn save(&self, token: TokenRecord) -> Result<(), SqlError> {
        let (done, answer) = oneshot::channel();
        self.jobs.send((token, done)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run<DB>(pool: Pool<DB>, mut queue: mpsc::Receiver<Job>)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let tokens: Vec<&TokenRecord> = batch.iter().map(|(token, _)| token).collect();
        match write_batch(&pool, &tokens).await {
            Ok(()) => {
                let result = check_revoked_grants(&pool, &tokens).await;
                if let Err(error) = &result {
                    tracing::error!(%error, "checking new tokens against revoked grants failed");
                }
                let ok = result.is_ok();
                for (_, done) in batch.drain(..) {
                    let _ = done.send(if ok { Ok(()) } else { Err(stopped_check()) });
                }
            }
            Err(error) => {
                if batch.len() > 1 {
                    tracing::debug!(%error, size = batch.len(), "token batch failed; writing one by one");
                }
                for (token, done) in batch.drain(..) {
                    let one = [&token];
                    let result = match write_batch(&pool, &one).await {
                        Ok(()) => check_revoked_grants(&pool, &one).await,
                        Err(error) => Err(error),
                    };
                    let _ = done.send(result);
                }
            }
        }
    }
}

fn stopped_check() -> SqlError {
    SqlError::Task("the new token could not be checked against revoked grants".to_owned())
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

/// Inserts `tokens` in one transaction.
async fn write_batch<DB>(pool: &Pool<DB>, tokens: &[&TokenRecord]) -> Result<(), SqlError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    let mut rows = Vec::with_capacity(tokens.len());
    for token in tokens {
        rows.push((
            *token,
            token.scope.to_string(),
            list_to_json(&token.audience)?,
        ));
    }
    let mut tx = pool.begin().await?;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO tokens (access_token_hash, refresh_token_hash, client_id, scope, \
             subject, grant_type, grant_id, issued_at, expires_in, expires_at, \
             refresh_token_expires_at, revoked, audience) VALUES {}",
            placeholders(chunk.len(), 13, numbered::<DB>())
        );
        let mut query = sqlx::query::<DB>(&sql);
        for (token, scope, audience) in chunk {
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
                .bind(audience.as_str());
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// True for databases whose placeholders are numbered (`$1`): PostgreSQL.
fn numbered<DB: Database>() -> bool {
    DB::NAME != "SQLite"
}

/// Grant types whose grant may be revoked before their token is saved.
fn may_race_a_replay(token: &TokenRecord) -> bool {
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
