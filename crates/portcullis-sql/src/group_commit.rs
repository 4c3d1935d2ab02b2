//! Group commit, written once: the queue, the batching, the retry of a failed batch's
//! writes one by one, and the replies. Each database brings a small [`Batch`] that
//! runs a batch of [`Job`]s in one transaction (`crate::sqlite`: rusqlite on the
//! writer thread; `crate::postgres`: sqlx, with set-based statements).
//!
//! Writers hand a job to a writer task, which takes every job waiting at that moment
//! (up to [`MAX_BATCH`]), runs them in one transaction, commits, and only then answers
//! each caller. So:
//!
//! - a caller never returns a token that is not committed (a killed process loses no
//!   token it handed out), and a redemption or rotation counts only once committed;
//! - single use stays atomic in SQL: of two redemptions of one code — in one batch, in
//!   two batches, or on two servers sharing a PostgreSQL database — the conditional
//!   `UPDATE … WHERE used = FALSE` lets exactly one through;
//! - a busy server pays for one commit per batch instead of one per request, and under
//!   no load a batch is a single job and nothing waits.
//!
//! When a batch fails because of one of its jobs (a token of a client deleted
//! meanwhile breaks a foreign key), it is rolled back whole and its jobs run again one
//! by one, so each caller gets its own answer and the good jobs still land. When the
//! database itself fails, or the batch is committed and only its follow-up check
//! failed, no job runs again (a committed redemption would then look like a replay):
//! every caller gets the error, its cause kept ([`SqlError::Batch`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use portcullis_core::{AuthorizationCodeRecord, CodeRedemption, TokenRecord};
use tokio::sync::{mpsc, oneshot};

use crate::error::{caused_by_a_job, for_client, SqlError};
use crate::schema::{Query, StatementResult};

/// The most jobs committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;
/// Jobs waiting for a writer before callers wait to enqueue.
const QUEUE: usize = 4096;

/// One write.
#[derive(Debug)]
pub(crate) enum Job {
    /// Save a new token.
    Save(TokenRecord),
    /// Rotate a refresh token (see `Backend::rotate`).
    Rotate { presented: String, new: TokenRecord },
    /// Redeem a code of a client.
    Redeem {
        code_hash: String,
        client_id: String,
    },
    /// Revoke one token.
    RevokeToken(String),
    /// Revoke a grant.
    RevokeGrant { grant_id: String, now: i64 },
    /// Run these statements (every other write, where a database has one writer).
    Statements(Vec<Query>),
}

impl Job {
    /// The client a write is for, when it writes a token (for [`SqlError::UnknownClient`]).
    fn client_id(&self) -> Option<&str> {
        match self {
            Job::Save(token) | Job::Rotate { new: token, .. } => Some(&token.client_id),
            _ => None,
        }
    }
}

/// What a job did, before its caller hears of it.
#[derive(Debug)]
pub(crate) enum Outcome {
    Saved,
    Rotated(bool),
    Redeemed(Box<CodeRedemption<AuthorizationCodeRecord>>),
    Revoked,
    Statements(Vec<StatementResult>),
}

/// Why a batch failed: before its commit (nothing happened) or after it (the jobs are
/// committed; the follow-up check against revoked grants failed).
#[derive(Debug)]
pub(crate) enum Failure {
    BeforeCommit(SqlError),
    AfterCommit(SqlError),
}

impl From<SqlError> for Failure {
    fn from(error: SqlError) -> Self {
        Failure::BeforeCommit(error)
    }
}

/// Work that must finish after a batch's commit before any of its callers hears of
/// it (PostgreSQL's check of new tokens against revoked grants). It runs beside the
/// writer, which goes on with the next batch meanwhile.
pub(crate) type FollowUp = Pin<Box<dyn Future<Output = Result<(), SqlError>> + Send>>;

/// What a committed batch did.
pub(crate) struct Processed {
    /// One outcome per job, in order.
    pub(crate) outcomes: Vec<Outcome>,
    /// What must still finish before the callers are answered.
    pub(crate) follow_up: Option<FollowUp>,
}

impl From<Vec<Outcome>> for Processed {
    fn from(outcomes: Vec<Outcome>) -> Self {
        Self {
            outcomes,
            follow_up: None,
        }
    }
}

/// How one database runs a batch.
pub(crate) trait Batch: Send + 'static {
    /// Runs `jobs` in one transaction and commits it.
    fn process(&mut self, jobs: &[Job]) -> impl Future<Output = Result<Processed, Failure>> + Send;
}

struct Envelope {
    job: Job,
    reply: oneshot::Sender<Result<Outcome, SqlError>>,
}

/// The writer loop: runs until every handle is dropped.
async fn run<B: Batch>(mut batch: B, mut queue: mpsc::Receiver<Envelope>) {
    let mut waiting: Vec<Envelope> = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        let (jobs, replies): (Vec<Job>, Vec<_>) =
            waiting.drain(..).map(|e| (e.job, e.reply)).unzip();
        match batch.process(&jobs).await {
            Ok(Processed {
                outcomes,
                follow_up: None,
            }) => {
                for ((job, reply), outcome) in jobs.into_iter().zip(replies).zip(outcomes) {
                    answer(&job, reply, Ok(outcome));
                }
            }
            Ok(Processed {
                outcomes,
                follow_up: Some(follow_up),
            }) => {
                tokio::spawn(async move {
                    let checked = follow_up.await;
                    if let Err(error) = &checked {
                        tracing::error!(%error, size = jobs.len(), "the check after a write batch failed");
                    }
                    let cause = checked.err().map(Arc::new);
                    for ((job, reply), outcome) in jobs.into_iter().zip(replies).zip(outcomes) {
                        let outcome = match &cause {
                            None => Ok(outcome),
                            Some(cause) => Err(SqlError::Batch(cause.clone())),
                        };
                        answer(&job, reply, outcome);
                    }
                });
            }
            Err(Failure::BeforeCommit(error)) if caused_by_a_job(&error) && jobs.len() == 1 => {
                tracing::debug!(%error, "write failed");
                if let (Some(job), Some(reply)) = (jobs.first(), replies.into_iter().next()) {
                    answer(job, reply, Err(error));
                }
            }
            Err(Failure::BeforeCommit(error)) if caused_by_a_job(&error) => {
                tracing::debug!(%error, size = jobs.len(), "write batch failed; running its jobs one by one");
                for (job, reply) in jobs.into_iter().zip(replies) {
                    let outcome = match batch.process(std::slice::from_ref(&job)).await {
                        Ok(Processed {
                            mut outcomes,
                            follow_up,
                        }) if !outcomes.is_empty() => match follow_up {
                            Some(follow_up) => follow_up.await.map(|()| outcomes.remove(0)),
                            None => Ok(outcomes.remove(0)),
                        },
                        Ok(_) => Err(SqlError::Task("a write had no outcome".to_owned())),
                        Err(Failure::BeforeCommit(e) | Failure::AfterCommit(e)) => Err(e),
                    };
                    answer(&job, reply, outcome);
                }
            }
            Err(Failure::BeforeCommit(error) | Failure::AfterCommit(error)) => {
                tracing::error!(%error, size = jobs.len(), "write batch failed");
                let cause = Arc::new(error);
                for (job, reply) in jobs.into_iter().zip(replies) {
                    answer(&job, reply, Err(SqlError::Batch(cause.clone())));
                }
            }
        }
    }
}

/// Sends a job's outcome to its caller: a token write that broke the client's foreign
/// key becomes [`SqlError::UnknownClient`].
fn answer(
    job: &Job,
    reply: oneshot::Sender<Result<Outcome, SqlError>>,
    outcome: Result<Outcome, SqlError>,
) {
    let outcome = match (outcome, job.client_id()) {
        (Err(error), Some(client_id)) => Err(for_client(error, client_id)),
        (outcome, _) => outcome,
    };
    let _ = reply.send(outcome);
}

/// The handle to the writer tasks; cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    queues: Arc<[mpsc::Sender<Envelope>]>,
    next: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("tasks", &self.queues.len())
            .finish()
    }
}

/// The receiving end of one writer's queue, for [`run`].
pub(crate) struct Queue(mpsc::Receiver<Envelope>);

impl Queue {
    /// Runs the writer loop over this queue with `batch`.
    pub(crate) async fn run<B: Batch>(self, batch: B) {
        run(batch, self.0).await;
    }
}

impl Writer {
    /// A handle to `tasks` writers, and the queues they are to serve.
    pub(crate) fn new(tasks: usize) -> (Self, Vec<Queue>) {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..tasks.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::channel(QUEUE);
                (sender, Queue(receiver))
            })
            .unzip();
        (
            Self {
                queues: senders.into(),
                next: Arc::new(AtomicUsize::new(0)),
            },
            receivers,
        )
    }

    async fn submit(&self, job: Job) -> Result<Outcome, SqlError> {
        let stopped = || SqlError::Task("the database writer stopped".to_owned());
        let (reply, answer) = oneshot::channel();
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        self.queues[index]
            .send(Envelope { job, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    fn mismatch() -> SqlError {
        SqlError::Task("the database writer mixed up its answers".to_owned())
    }

    /// Saves `token`; returns once it is committed.
    pub(crate) async fn save(&self, token: TokenRecord) -> Result<(), SqlError> {
        match self.submit(Job::Save(token)).await? {
            Outcome::Saved => Ok(()),
            _ => Err(Self::mismatch()),
        }
    }

    /// Rotates a refresh token (see `Backend::rotate`).
    pub(crate) async fn rotate(
        &self,
        presented: String,
        new: TokenRecord,
    ) -> Result<bool, SqlError> {
        match self.submit(Job::Rotate { presented, new }).await? {
            Outcome::Rotated(rotated) => Ok(rotated),
            _ => Err(Self::mismatch()),
        }
    }

    /// Redeems a code of `client_id`.
    pub(crate) async fn redeem(
        &self,
        code_hash: String,
        client_id: String,
    ) -> Result<CodeRedemption<AuthorizationCodeRecord>, SqlError> {
        match self
            .submit(Job::Redeem {
                code_hash,
                client_id,
            })
            .await?
        {
            Outcome::Redeemed(found) => Ok(*found),
            _ => Err(Self::mismatch()),
        }
    }

    /// Revokes one token.
    pub(crate) async fn revoke_token(&self, key: String) -> Result<(), SqlError> {
        match self.submit(Job::RevokeToken(key)).await? {
            Outcome::Revoked => Ok(()),
            _ => Err(Self::mismatch()),
        }
    }

    /// Revokes a grant.
    pub(crate) async fn revoke_grant(&self, grant_id: String, now: i64) -> Result<(), SqlError> {
        match self.submit(Job::RevokeGrant { grant_id, now }).await? {
            Outcome::Revoked => Ok(()),
            _ => Err(Self::mismatch()),
        }
    }

    /// Runs `statements` in one transaction of the writer.
    pub(crate) async fn statements(
        &self,
        statements: Vec<Query>,
    ) -> Result<Vec<StatementResult>, SqlError> {
        match self.submit(Job::Statements(statements)).await? {
            Outcome::Statements(results) => Ok(results),
            _ => Err(Self::mismatch()),
        }
    }
}
