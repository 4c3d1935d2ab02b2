//! Batched token lookups: the read side of the group commit in `token_writer`.
//!
//! Every introspection and every bearer-token check looks one token up by its key. On
//! PostgreSQL each lookup is a round trip: a message to a server process that must be
//! woken, scheduled and answered, which costs both machines far more than the index
//! probe itself. [`TokenReader`] hands lookups to a few background tasks; each takes
//! every lookup waiting at that moment (up to [`MAX_LOOKUPS`]) and answers them all
//! with one `SELECT ... WHERE key IN (...)`. Under no load a batch is a single lookup
//! and nothing waits; under load one round trip answers many requests.
//!
//! A lookup sees every token committed before it was queued: batches only ever read
//! committed data, and a writer answers its caller only after its commit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use portcullis_core::TokenRecord;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};
use tokio::sync::{mpsc, oneshot};

use crate::error::SqlError;
use crate::repository::TOKEN_COLUMNS;
use crate::rows::TokenRow;

/// The most lookups answered by one query.
pub(crate) const MAX_LOOKUPS: usize = 32;
/// Lookups waiting for a reader before callers wait to enqueue.
const QUEUE: usize = 4096;

/// Which key a lookup goes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenColumn {
    /// `access_token_hash`
    Access,
    /// `refresh_token_hash`
    Refresh,
}

impl TokenColumn {
    fn name(self) -> &'static str {
        match self {
            Self::Access => "access_token_hash",
            Self::Refresh => "refresh_token_hash",
        }
    }

    /// True when `row` is the token whose key in this column is `key`.
    fn matches(self, row: &TokenRecord, key: &str) -> bool {
        match self {
            Self::Access => row.access_token_hash == key,
            Self::Refresh => row.refresh_token_hash.as_deref() == Some(key),
        }
    }

    /// `SELECT ... WHERE column IN ($1, ..., $n)` for n = 1..=MAX_LOOKUPS, built once:
    /// sqlx prepares each distinct text once per connection and reuses it.
    fn query(self, n: usize) -> &'static str {
        static ACCESS: LazyLock<Vec<String>> = LazyLock::new(|| queries(TokenColumn::Access));
        static REFRESH: LazyLock<Vec<String>> = LazyLock::new(|| queries(TokenColumn::Refresh));
        let all = match self {
            Self::Access => &ACCESS,
            Self::Refresh => &REFRESH,
        };
        &all[n.clamp(1, MAX_LOOKUPS) - 1]
    }
}

fn queries(column: TokenColumn) -> Vec<String> {
    (1..=MAX_LOOKUPS)
        .map(|n| {
            let placeholders: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
            format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE {} IN ({})",
                column.name(),
                placeholders.join(", ")
            )
        })
        .collect()
}

type Reply = oneshot::Sender<Result<Option<TokenRecord>, SqlError>>;

struct Lookup {
    column: TokenColumn,
    key: String,
    reply: Reply,
}

/// The handle to the reader tasks; cheap to clone.
#[derive(Clone)]
pub(crate) struct TokenReader {
    queues: Arc<[mpsc::Sender<Lookup>]>,
    next: Arc<AtomicUsize>,
}

fn stopped() -> SqlError {
    SqlError::Task("the token reader stopped (its async runtime has shut down)".to_owned())
}

impl TokenReader {
    /// Starts `tasks` reader tasks on `pool`.
    pub(crate) fn spawn<DB>(pool: Pool<DB>, tasks: usize) -> Self
    where
        DB: Database,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
        for<'q> &'q str: Encode<'q, DB> + Type<DB>,
        for<'r> TokenRow: FromRow<'r, DB::Row>,
    {
        let queues: Vec<mpsc::Sender<Lookup>> = (0..tasks.max(1))
            .map(|_| {
                let (lookups, queue) = mpsc::channel(QUEUE);
                tokio::spawn(run(pool.clone(), queue));
                lookups
            })
            .collect();
        Self {
            queues: queues.into(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The token whose key in `column` is `key`.
    pub(crate) async fn find(
        &self,
        column: TokenColumn,
        key: &str,
    ) -> Result<Option<TokenRecord>, SqlError> {
        let (reply, answer) = oneshot::channel();
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        self.queues[index]
            .send(Lookup {
                column,
                key: key.to_owned(),
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run<DB>(pool: Pool<DB>, mut queue: mpsc::Receiver<Lookup>)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> TokenRow: FromRow<'r, DB::Row>,
{
    let mut batch: Vec<Lookup> = Vec::with_capacity(MAX_LOOKUPS);
    while queue.recv_many(&mut batch, MAX_LOOKUPS).await > 0 {
        for column in [TokenColumn::Access, TokenColumn::Refresh] {
            let (these, rest): (Vec<Lookup>, Vec<Lookup>) =
                batch.drain(..).partition(|l| l.column == column);
            batch = rest;
            if these.is_empty() {
                continue;
            }
            match fetch(&pool, column, &these).await {
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
                    let message = error.to_string();
                    for lookup in these {
                        let _ = lookup.reply.send(Err(SqlError::Task(message.clone())));
                    }
                }
            }
        }
    }
}

/// One query for every distinct key of `lookups`.
async fn fetch<DB>(
    pool: &Pool<DB>,
    column: TokenColumn,
    lookups: &[Lookup],
) -> Result<Vec<TokenRecord>, SqlError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> TokenRow: FromRow<'r, DB::Row>,
{
    let mut keys: Vec<&str> = lookups.iter().map(|l| l.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut query = sqlx::query_as::<DB, TokenRow>(column.query(keys.len()));
    for key in keys {
        query = query.bind(key);
    }
    query
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(TokenRow::into_record)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_prepared_text_per_batch_size() {
        assert_eq!(
            TokenColumn::Access.query(1),
            format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE access_token_hash IN ($1)")
        );
        assert!(TokenColumn::Refresh
            .query(3)
            .ends_with("WHERE refresh_token_hash IN ($1, $2, $3)"));
        assert!(TokenColumn::Access
            .query(MAX_LOOKUPS)
            .ends_with(&format!("${MAX_LOOKUPS})")));
        // Out of range sizes never index out of bounds.
        assert!(TokenColumn::Access.query(0).ends_with("IN ($1)"));
        assert!(TokenColumn::Access
            .query(MAX_LOOKUPS + 1)
            .ends_with(&format!("${MAX_LOOKUPS})")));
    }
}
