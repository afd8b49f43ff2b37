//! The machinery every chunked job shares: its settings, the chunk pointer that makes each chunk
//! count once, the counting, and the continuation that carries the job on through the queue.
//!
//! A message goes on from its chunk to the ones that follow for half of the invocation's time
//! left, then hands the rest on through the queue, so no invocation nears its timeout. Under
//! at-least-once delivery:
//! - a chunk's counts are added by the one conditional write that moves the job's chunk pointer
//!   past it, so a redelivered or concurrently processed chunk is counted once;
//! - the continuation is sent after that write, and re-sent by any later delivery that finds it
//!   unsent, so a worker dying in between does not stall the job.

use std::time::Duration;

use crate::connectors::ConnectorError;
use crate::error::Chain;
use crate::error::ServiceError;
use crate::model::{BulkJob, Id, Instant, ItemFailure, JobKind, JobStatus, UnmatchedCustomer};
use crate::queue::{BulkQueue, JobMessage, MessageError, SendError};
use crate::store::{ChunkCounts, ChunkEnd, CountedChunk, Store, StoreError};

/// How the worker chunks its work.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// Items per chunk (one Query, one message).
    pub chunk_size: usize,
    /// Writes in flight at once within a chunk.
    pub concurrency: usize,
    /// How long one message may go on to the chunks that follow its own before handing the
    /// rest on through the queue. Zero: one chunk per message. The worker sets it per
    /// invocation to half of the time it has left, so a chunk never meets the timeout.
    pub time_budget: Duration,
    /// The receive of a message that is its last (the queue's `maxReceiveCount`): a message
    /// that fails then goes to the dead-letter queue, so its job is ended as failed first.
    pub max_receives: u32,
    /// Attempts at one item (an agreement, a customer) within a chunk before it is counted as
    /// failed and the chunk goes on without it.
    pub item_attempts: u32,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            chunk_size: 1000,
            concurrency: 16,
            time_budget: Duration::ZERO,
            max_receives: 5,
            item_attempts: 3,
        }
    }
}

impl JobSettings {
    /// `BULK_CHUNK_SIZE` (1–1000), `BULK_CONCURRENCY` (1–64), `BULK_MAX_RECEIVES` (1–1000,
    /// the queue's redrive `maxReceiveCount`) and `BULK_ITEM_ATTEMPTS` (1–10) override the
    /// defaults.
    pub fn from_env() -> Self {
        let read = |name: &str, max: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|v| (1..=max).contains(v))
        };
        let d = JobSettings::default();
        JobSettings {
            chunk_size: read("BULK_CHUNK_SIZE", 1000).unwrap_or(d.chunk_size),
            concurrency: read("BULK_CONCURRENCY", 64).unwrap_or(d.concurrency),
            time_budget: d.time_budget,
            max_receives: read("BULK_MAX_RECEIVES", 1000)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(d.max_receives),
            item_attempts: read("BULK_ITEM_ATTEMPTS", 10)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(d.item_attempts),
        }
    }

    /// These settings for an invocation that must end by `deadline`: half of the time left
    /// may go to further chunks.
    pub fn for_deadline(self, deadline: std::time::SystemTime) -> Self {
        let left = deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        JobSettings {
            time_budget: left / 2,
            ..self
        }
    }
}

/// Why a message was not processed. Only `Poison` and `Unreadable` can never succeed; every
/// other variant is a dependency's failure, worth the message's next delivery.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The message names something that does not exist or is not what it says.
    #[error("unprocessable message: {0}")]
    Poison(String),
    #[error("unreadable message")]
    Unreadable(#[from] MessageError),
    #[error("a store request failed")]
    Store(#[from] StoreError),
    #[error("an operation failed")]
    Service(#[from] ServiceError),
    #[error("the continuation could not be sent")]
    Queue(#[from] SendError),
    #[error("the provider failed")]
    Provider(#[from] ConnectorError),
}

impl JobError {
    /// Whether no later delivery can succeed: the message belongs in the dead-letter queue.
    pub fn is_poison(&self) -> bool {
        matches!(self, JobError::Poison(_) | JobError::Unreadable(_))
    }
}

/// What a delivery of a chunk message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkReport {
    /// This delivery counted its chunk (and perhaps some that followed).
    Counted { counts: ChunkCounts, end: ChunkEnd },
    /// Another delivery counted this chunk first (a duplicate); effects were idempotent.
    AlreadyCounted,
    /// The job had finished; nothing to do.
    JobFinished,
}

/// What one chunk did, before it is counted.
#[derive(Debug)]
pub struct Chunk {
    pub counts: ChunkCounts,
    pub end: ChunkEnd,
    pub unmatched: Vec<UnmatchedCustomer>,
    /// The first items of the chunk counted as failed, with why.
    pub failures: Vec<ItemFailure>,
}

impl Chunk {
    pub fn ended(counts: ChunkCounts, end: ChunkEnd) -> Self {
        Chunk {
            counts,
            end,
            unmatched: Vec::new(),
            failures: Vec::new(),
        }
    }
}

/// One kind of chunked job: does the chunk of a job at a cursor, without counting it.
#[allow(async_fn_in_trait)]
pub trait ChunkWork {
    /// The jobs this work does.
    const KIND: JobKind;

    /// The chunk of `job` at `cursor` (empty: the first).
    async fn chunk(&self, job: &BulkJob, cursor: &str) -> Result<Chunk, JobError>;
}

/// A chunk message as the runner reads it: which job, what it is about, and from where.
#[derive(Debug, Clone, Copy)]
pub struct ChunkPointer<'a> {
    pub job_id: &'a str,
    /// The template of a "Create Agreements" job, the provider of a sync, the job itself for an
    /// import.
    pub subject: &'a str,
    pub cursor: Option<&'a str>,
}

/// Queues a new job: writes it, then sends its first message. A job that cannot be queued is
/// marked failed rather than left queued forever.
pub async fn queue_job(
    store: &Store,
    queue: &BulkQueue,
    job: &BulkJob,
) -> Result<(), ServiceError> {
    store.create(job).await?;
    if let Err(e) = queue.send(&JobMessage::chunk_of(job, None)).await {
        store
            .fail_job(&job.id, None, "the job could not be queued", Instant::now())
            .await?;
        return Err(e.into());
    }
    Ok(())
}

/// Processes one chunk message: the chunk it names, then, while the settings' time budget
/// lasts, the chunks that follow it; the rest is handed on through the queue.
pub async fn run_chunks<W: ChunkWork>(
    store: &Store,
    queue: &BulkQueue,
    work: &W,
    settings: JobSettings,
    pointer: ChunkPointer<'_>,
) -> Result<ChunkReport, JobError> {
    let started = std::time::Instant::now();
    let job_id = Id::parse(pointer.job_id)
        .ok_or_else(|| JobError::Poison(format!("`{}` is not a job id", pointer.job_id)))?;
    let mut cursor = pointer.cursor.unwrap_or_default().to_string();
    let mut done = ChunkCounts::default();
    let mut chunks = 0usize;
    loop {
        let job = read_job::<W>(store, &job_id, pointer.subject).await?;
        if job.status.is_finished() {
            // After a chunk of this message's own, only another party's write can have ended
            // the job (this message returns as soon as its own chunk ends it).
            return Ok(if chunks == 0 {
                ChunkReport::JobFinished
            } else {
                ChunkReport::Counted {
                    counts: done,
                    end: match job.status {
                        JobStatus::Completed => ChunkEnd::Complete,
                        JobStatus::Cancelled => ChunkEnd::Fail("cancelled".into()),
                        _ => ChunkEnd::Fail(job.failure_reason.unwrap_or_default()),
                    },
                }
            });
        }
        if job.next_cursor != cursor {
            if chunks == 0 {
                resend_if_unsent(store, queue, &job).await?;
                return Ok(ChunkReport::AlreadyCounted);
            }
            // Another delivery counted the chunk this one had gone on to; it goes on from here.
            return Ok(ChunkReport::Counted {
                counts: done,
                end: ChunkEnd::Continue(job.next_cursor),
            });
        }
        let Some(end) = count_one_chunk(store, work, &job, &cursor, &mut done).await? else {
            // Counted by another delivery — or by this one, its answer lost and the SDK's retry
            // refused by the pointer condition. Either way the job now says whether a
            // continuation is due: send it unless it is recorded as sent.
            if let Some(job) = store.by_id::<BulkJob>(&job_id).await? {
                resend_if_unsent(store, queue, &job).await?;
            }
            return Ok(if chunks == 0 {
                ChunkReport::AlreadyCounted
            } else {
                ChunkReport::Counted {
                    counts: done,
                    end: ChunkEnd::Continue(cursor),
                }
            });
        };
        chunks += 1;
        match end {
            ChunkEnd::Continue(next) if started.elapsed() < settings.time_budget => cursor = next,
            ChunkEnd::Continue(next) => {
                send_continuation(store, queue, &job, &next).await?;
                return Ok(ChunkReport::Counted {
                    counts: done,
                    end: ChunkEnd::Continue(next),
                });
            }
            end => return Ok(ChunkReport::Counted { counts: done, end }),
        }
    }
}

/// The job a message names; a message that names none, or describes another, is poison.
async fn read_job<W: ChunkWork>(
    store: &Store,
    job_id: &Id,
    subject: &str,
) -> Result<BulkJob, JobError> {
    let job: BulkJob = store
        .by_id(job_id)
        .await?
        .ok_or_else(|| JobError::Poison(format!("bulk job {job_id} does not exist")))?;
    let about = match job.kind {
        JobKind::CreateAgreements | JobKind::RequestReacceptance | JobKind::ExpireAgreements => {
            job.template_id.as_ref().map(Id::as_str)
        }
        JobKind::ProviderSync => Some(job.provider_id.as_str()),
        JobKind::ImportProviderAccounts => Some(job.id.as_str()),
    };
    if job.kind != W::KIND || about != Some(subject) {
        return Err(JobError::Poison(format!(
            "the message does not describe bulk job {job_id}"
        )));
    }
    Ok(job)
}

/// Does the chunk at `cursor` and counts it, adding its counts to `done`. None when another
/// delivery counted it first.
async fn count_one_chunk<W: ChunkWork>(
    store: &Store,
    work: &W,
    job: &BulkJob,
    cursor: &str,
    done: &mut ChunkCounts,
) -> Result<Option<ChunkEnd>, JobError> {
    let chunk = work.chunk(job, cursor).await?;
    let end = chunk.end;
    // The pointer condition means no other chunk was counted since `job` was read, so the
    // job's counts plus this chunk's are the final ones when this chunk ends the job.
    let processed = job.created + job.skipped + job.failed + chunk.counts.total();
    let counted = store
        .count_chunk(
            &job.id,
            cursor,
            &CountedChunk {
                counts: chunk.counts,
                end: &end,
                now: Instant::now(),
                final_total: Some(processed),
                unmatched: &chunk.unmatched,
                failures: &chunk.failures,
            },
        )
        .await?;
    if !counted {
        return Ok(None);
    }
    tracing::info!(job_id = %job.id, created = chunk.counts.created, skipped = chunk.counts.skipped, failed = chunk.counts.failed, "bulk chunk counted");
    done.created += chunk.counts.created;
    done.skipped += chunk.counts.skipped;
    done.failed += chunk.counts.failed;
    done.accepted += chunk.counts.accepted;
    Ok(Some(end))
}

async fn send_continuation(
    store: &Store,
    queue: &BulkQueue,
    job: &BulkJob,
    next: &str,
) -> Result<(), JobError> {
    queue
        .send(&JobMessage::chunk_of(job, Some(next.to_string())))
        .await?;
    store.mark_sent(&job.id, next).await?;
    Ok(())
}

/// A delivery of an already counted chunk: if the worker that counted it died before sending
/// the continuation, send it now, so the job goes on.
async fn resend_if_unsent(store: &Store, queue: &BulkQueue, job: &BulkJob) -> Result<(), JobError> {
    let pending = !job.next_cursor.is_empty() && job.sent_cursor != job.next_cursor;
    if pending && job.status == JobStatus::Running {
        tracing::info!(job_id = %job.id, "re-sending a continuation that was not recorded as sent");
        send_continuation(store, queue, job, &job.next_cursor).await?;
    }
    Ok(())
}

/// Items counted as failed that a chunk lists on its job, at most.
pub const FAILURES_PER_CHUNK: usize = 50;

/// Does one item of a chunk, retrying a failure with exponential backoff and jitter up to
/// `attempts` times. Err(reason) when it still fails: the item is counted as failed and the
/// chunk goes on. Errors that no retry can fix are not retried.
pub async fn with_retries<T, F, Fut>(attempts: u32, mut item: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, JobError>>,
{
    let attempts = attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match item().await {
            Ok(done) => return Ok(done),
            Err(e) if attempt >= attempts || !is_transient(&e) => {
                return Err(Chain(&e).to_string());
            }
            Err(e) => {
                let wait = backoff(attempt);
                tracing::warn!(error = %Chain(&e), attempt, wait_ms = wait.as_millis() as u64, "item failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Whether a later attempt at the same item may succeed.
fn is_transient(e: &JobError) -> bool {
    matches!(
        e,
        JobError::Store(StoreError::Sdk(_))
            | JobError::Queue(_)
            | JobError::Service(ServiceError::Store(StoreError::Sdk(_)))
            | JobError::Provider(ConnectorError::Transient { .. })
            | JobError::Service(ServiceError::ProviderFailed {
                source: ConnectorError::Transient { .. },
                ..
            })
    )
}

/// 100 ms, 200 ms, 400 ms, … (at most 2 s), each with up to half again of random jitter.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(100)
        .saturating_mul(1 << attempt.saturating_sub(1).min(5))
        .min(Duration::from_secs(2));
    let jitter = rand::random::<f64>() * 0.5;
    base.mul_f64(1.0 + jitter)
}

/// Ends a job as failed because its message will not be processed again (its last receive
/// failed), keeping the counts it has — if that message is the one carrying the job (the job's
/// pointer is at its cursor). A stale duplicate leaves the job alone. Idempotent: a job that
/// has ended stays as it ended.
pub async fn give_up(
    store: &Store,
    job_id: &str,
    cursor: Option<&str>,
    reason: &str,
) -> Result<(), JobError> {
    let Some(id) = Id::parse(job_id) else {
        return Ok(());
    };
    let at = cursor.unwrap_or_default();
    if store
        .fail_job(&id, Some(at), reason, Instant::now())
        .await?
    {
        tracing::error!(job_id = %id, %reason, "job failed: its message will not be processed again");
    }
    Ok(())
}
