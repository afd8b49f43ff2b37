//! "Create Agreements" on a template: the job is queued by the API and run by the queue worker
//! in bounded chunks of the provider's accounts. A message goes on from its chunk to the ones
//! that follow for half of the invocation's time left, then hands the rest on through the queue,
//! so no invocation nears its timeout and memory holds one chunk of two ids per account.
//!
//! Exactly-once effects under at-least-once delivery come from keys and conditions:
//! - an agreement's key is derived from (template, account, generation), so a repeated write
//!   lands on the same key, and the agreement records the job and provider account it was made
//!   for, so a repeat is recognised as this job's own rather than counted as a skip;
//! - a chunk's counts are added by the one conditional write that moves the job's chunk pointer
//!   past it, so a redelivered or concurrently processed chunk is counted once;
//! - the continuation is sent after that write, and re-sent by any later delivery that finds it
//!   unsent, so a worker dying in between does not stall the job.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::connectors::ProviderConnector;
use crate::error::{ServiceError, ServiceResult};
use crate::model::{
    Actor, AgreementSource, AgreementTemplate, BulkJob, BulkJobView, Id, Instant, JobKind,
    JobStatus, Principal, TemplateState,
};
use crate::queue::{self, BulkMessage, BulkQueue};
use crate::services::agreements::{insert_agreement, AgreementRequest, Creation};
use crate::services::sync;
use crate::services::templates::require_template;
use crate::services::{known_id, not_found};
use crate::store::{keys, ChunkCounts, ChunkEnd, CountedChunk, Store};

/// Queues a job; answers at once. The template must be active.
pub async fn start_create_agreements(
    store: &Store,
    queue: &BulkQueue,
    caller: &Principal,
    template_id: &str,
) -> ServiceResult<BulkJob> {
    caller.require_staff()?;
    let template = require_template(store, template_id).await?;
    if template.state != TemplateState::Active {
        return Err(ServiceError::conflict(format!(
            "agreement template {} is inactive; activate it before creating agreements",
            template.id
        )));
    }
    let job = BulkJob::queued(
        JobKind::CreateAgreements,
        Some(template.id.clone()),
        template.provider_id.clone(),
        caller.subject().to_string(),
        Instant::now(),
    );
    store.create(&job).await?;
    let message = BulkMessage::create_agreements(job.id.as_str(), template.id.as_str(), None);
    if let Err(e) = queue.send(&message).await {
        // The job can never run: say so on the job rather than leave it queued forever.
        store
            .fail_job(&job.id, "the job could not be queued", Instant::now())
            .await?;
        return Err(ServiceError::internal(e));
    }
    tracing::info!(job_id = %job.id, template_id = %template.id, "bulk job queued");
    Ok(job)
}

pub async fn get_bulk_job(
    store: &Store,
    caller: &Principal,
    id: &str,
) -> ServiceResult<BulkJobView> {
    caller.require_staff()?;
    let id = known_id(id, "bulk job")?;
    let job: Option<BulkJob> = store.get_entity(keys::job, &id).await?;
    job.map(BulkJobView::from)
        .ok_or_else(|| not_found("bulk job", &id))
}

/// How the worker chunks its work.
#[derive(Debug, Clone, Copy)]
pub struct BulkSettings {
    /// Provider accounts per chunk (one Query, one message).
    pub chunk_size: usize,
    /// Agreements written at once within a chunk.
    pub concurrency: usize,
    /// How long one message may go on to the chunks that follow its own before handing the
    /// rest on through the queue. Zero: one chunk per message. The worker sets it per
    /// invocation to half of the time it has left, so a chunk never meets the timeout.
    pub time_budget: Duration,
}

impl Default for BulkSettings {
    fn default() -> Self {
        BulkSettings {
            chunk_size: 1000,
            concurrency: 16,
            time_budget: Duration::ZERO,
        }
    }
}

impl BulkSettings {
    /// `BULK_CHUNK_SIZE` (1–1000) and `BULK_CONCURRENCY` (1–64) override the defaults.
    pub fn from_env() -> Self {
        let read = |name: &str, max: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|v| (1..=max).contains(v))
        };
        let d = BulkSettings::default();
        BulkSettings {
            chunk_size: read("BULK_CHUNK_SIZE", 1000).unwrap_or(d.chunk_size),
            concurrency: read("BULK_CONCURRENCY", 64).unwrap_or(d.concurrency),
            time_budget: d.time_budget,
        }
    }

    /// These settings for an invocation that must end by `deadline`: half of the time left
    /// may go to further chunks.
    pub fn for_deadline(self, deadline: std::time::SystemTime) -> Self {
        let left = deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        BulkSettings {
            time_budget: left / 2,
            ..self
        }
    }
}

/// Why a message was not processed.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// It never can be: it goes to the dead-letter queue once its receives are spent.
    #[error("unprocessable message: {0}")]
    Poison(String),
    /// It may be later (a dependency failed); the message comes back after its visibility timeout.
    #[error("transient failure: {0}")]
    Retry(String),
}

impl From<ServiceError> for ChunkError {
    fn from(e: ServiceError) -> Self {
        ChunkError::Retry(e.to_string())
    }
}

impl From<crate::store::StoreError> for ChunkError {
    fn from(e: crate::store::StoreError) -> Self {
        ChunkError::Retry(e.to_string())
    }
}

/// What a delivery of a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkReport {
    /// This delivery counted its chunk.
    Counted { counts: ChunkCounts, end: ChunkEnd },
    /// Another delivery counted this chunk first (a duplicate); effects were idempotent.
    AlreadyCounted,
    /// The job had finished; nothing to do.
    JobFinished,
}

fn cursor_scope(job_id: &Id) -> String {
    format!("bulk-job:{job_id}")
}

/// Processes one message: the chunk of a job it names (provider accounts of a "Create
/// Agreements" job, or a page of a provider's customers for a sync), then, while the settings'
/// time budget lasts, the chunks that follow it; the rest is handed on through the queue.
pub async fn run_chunk<C: ProviderConnector>(
    store: &Store,
    queue: &BulkQueue,
    connector: &C,
    settings: BulkSettings,
    message: &BulkMessage,
) -> Result<ChunkReport, ChunkError> {
    let started = std::time::Instant::now();
    let job_id = Id::parse(&message.job_id)
        .ok_or_else(|| ChunkError::Poison(format!("`{}` is not a job id", message.job_id)))?;
    let mut cursor = message.cursor.clone().unwrap_or_default();
    let mut done = ChunkCounts::default();
    let mut chunks = 0usize;
    loop {
        let job = read_job(store, &job_id, message).await?;
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
        let Some(end) =
            count_one_chunk(store, connector, settings, &job, &cursor, &mut done).await?
        else {
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
            end => {
                return Ok(ChunkReport::Counted { counts: done, end });
            }
        }
    }
}

/// The job a message names; a message that names none, or describes another, is poison.
async fn read_job(
    store: &Store,
    job_id: &Id,
    message: &BulkMessage,
) -> Result<BulkJob, ChunkError> {
    let job: BulkJob = store
        .get_entity(keys::job, job_id)
        .await?
        .ok_or_else(|| ChunkError::Poison(format!("bulk job {job_id} does not exist")))?;
    let matches = match job.kind {
        JobKind::CreateAgreements => {
            message.kind == queue::CREATE_AGREEMENTS
                && job.template_id.as_ref().map(Id::as_str) == message.template_id.as_deref()
        }
        JobKind::ProviderSync => {
            message.kind == queue::SYNC_PROVIDER
                && Some(job.provider_id.as_str()) == message.provider_id.as_deref()
        }
    };
    if !matches {
        return Err(ChunkError::Poison(format!(
            "the message does not describe bulk job {job_id}"
        )));
    }
    Ok(job)
}

/// Does the chunk at `cursor` and counts it, adding its counts to `done`. None when another
/// delivery counted it first.
async fn count_one_chunk<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    settings: BulkSettings,
    job: &BulkJob,
    cursor: &str,
    done: &mut ChunkCounts,
) -> Result<Option<ChunkEnd>, ChunkError> {
    let chunk = match job.kind {
        JobKind::CreateAgreements => create_agreements_chunk(store, settings, job, cursor).await?,
        JobKind::ProviderSync => sync::sync_chunk(store, connector, settings, job, cursor).await?,
    };
    // The pointer condition means no other chunk was counted since `job` was read, so the
    // job's counts plus this chunk's are the final ones when this chunk ends the job.
    let processed = job.created + job.skipped + job.failed + chunk.counts.total();
    let counted = store
        .count_chunk(
            &job.id,
            cursor,
            &CountedChunk {
                counts: chunk.counts,
                end: &chunk.end,
                now: Instant::now(),
                final_total: Some(processed),
                unmatched: &chunk.unmatched,
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
    Ok(Some(chunk.end))
}

/// What one chunk did, before it is counted.
pub(crate) struct Chunk {
    pub counts: ChunkCounts,
    pub end: ChunkEnd,
    pub unmatched: Vec<crate::model::UnmatchedCustomer>,
}

async fn create_agreements_chunk(
    store: &Store,
    settings: BulkSettings,
    job: &BulkJob,
    cursor: &str,
) -> Result<Chunk, ChunkError> {
    let scope = cursor_scope(&job.id);
    let start = if cursor.is_empty() {
        None
    } else {
        Some(
            store
                .cursors()
                .decode(&scope, cursor)
                .map_err(|_| ChunkError::Poison("the message's cursor is not this job's".into()))?,
        )
    };
    let template_id = job
        .template_id
        .clone()
        .ok_or_else(|| ChunkError::Poison(format!("bulk job {} names no template", job.id)))?;
    let template: AgreementTemplate = store
        .get_entity(keys::template, &template_id)
        .await?
        .ok_or_else(|| ChunkError::Poison(format!("template {template_id} does not exist")))?;
    if job.status == JobStatus::Queued {
        // The provider's running count, not a count of the partition: counting 100,000 items
        // would cost the first invocation its time. The final total is what the job went through.
        let provider: Option<crate::model::Provider> =
            store.get_entity(keys::provider, &job.provider_id).await?;
        let total = provider.map(|p| p.provider_account_count).unwrap_or(0);
        store.start_job(&job.id, total, Instant::now()).await?;
    }
    if template.state != TemplateState::Active {
        return Ok(Chunk {
            counts: ChunkCounts::default(),
            end: ChunkEnd::Fail(deactivated(&template.id)),
            unmatched: Vec::new(),
        });
    }
    let (accounts, last_key) = store
        .chunk_of::<ChunkRow>(
            &keys::provider(&job.provider_id),
            keys::PROVIDER_ACCOUNT_PREFIX,
            start,
            settings.chunk_size,
            CHUNK_ATTRIBUTES,
        )
        .await?;
    let (counts, stopped) =
        create_for(store, job, &template, accounts, settings.concurrency).await?;
    let end = if stopped {
        ChunkEnd::Fail(deactivated(&template.id))
    } else {
        match last_key {
            Some(key) => ChunkEnd::Continue(
                store
                    .cursors()
                    .encode(&scope, &key)
                    .ok_or_else(|| ChunkError::Retry("cursor of non-string key".into()))?,
            ),
            None => ChunkEnd::Complete,
        }
    };
    Ok(Chunk {
        counts,
        end,
        unmatched: Vec::new(),
    })
}

fn deactivated(template_id: &Id) -> String {
    format!("agreement template {template_id} was deactivated while the job ran")
}

/// The attributes of a provider account a "Create Agreements" chunk reads: only what it needs.
pub const CHUNK_ATTRIBUTES: &[&str] = &["id", "account_id"];

/// The two attributes of a provider account a "Create Agreements" chunk needs.
#[derive(Debug, serde::Deserialize)]
struct ChunkRow {
    id: Id,
    account_id: Id,
}

/// How often a chunk reads its template again while writing, so a deactivation stops the job
/// within about this time (each read is a request the writes wait behind on a busy endpoint).
const TEMPLATE_CHECK_EVERY: Duration = Duration::from_secs(1);

enum Step {
    Wrote(Outcome),
    Checked(Box<AgreementTemplate>),
}

/// Writes the chunk's agreements with `concurrency` writes in flight, a new one starting as
/// each ends. Every `TEMPLATE_CHECK_EVERY` the template is read again beside the writes; once it
/// is seen inactive no write starts, so a deactivation stops the job within that time and the
/// writes then in flight. Returns the counts of the provider accounts gone through, and whether
/// it stopped for a deactivation.
async fn create_for(
    store: &Store,
    job: &BulkJob,
    template: &AgreementTemplate,
    rows: Vec<ChunkRow>,
    concurrency: usize,
) -> Result<(ChunkCounts, bool), ChunkError> {
    let mut counts = ChunkCounts::default();
    let mut template = Arc::new(template.clone());
    let mut rows = rows.into_iter();
    let mut pending: FuturesUnordered<BoxFuture<'_, Result<Step, ChunkError>>> =
        FuturesUnordered::new();
    let mut writing = 0usize;
    let mut checking = false;
    let mut checked_at = std::time::Instant::now();
    let mut stopped = false;
    loop {
        while !stopped && writing < concurrency.max(1) {
            let Some(row) = rows.next() else { break };
            let t = Arc::clone(&template);
            pending.push(Box::pin(async move {
                create_one(store, job, &t, &row.id, &row.account_id)
                    .await
                    .map(Step::Wrote)
            }));
            writing += 1;
        }
        if !stopped && !checking && rows.len() > 0 && checked_at.elapsed() >= TEMPLATE_CHECK_EVERY {
            let id = template.id.clone();
            pending.push(Box::pin(async move {
                let t: Option<AgreementTemplate> = store.get_entity(keys::template, &id).await?;
                t.map(|t| Step::Checked(Box::new(t)))
                    .ok_or_else(|| ChunkError::Poison(format!("template {id} disappeared")))
            }));
            checking = true;
        }
        let Some(step) = pending.next().await else {
            break;
        };
        match step? {
            Step::Wrote(outcome) => {
                writing -= 1;
                match outcome {
                    Outcome::Created => counts.created += 1,
                    Outcome::Skipped => counts.skipped += 1,
                    Outcome::TemplateInactive => stopped = true,
                }
            }
            Step::Checked(t) => {
                checking = false;
                checked_at = std::time::Instant::now();
                stopped |= t.state != TemplateState::Active;
                template = Arc::new(*t);
            }
        }
    }
    Ok((counts, stopped))
}

pub(crate) async fn create_one(
    store: &Store,
    job: &BulkJob,
    template: &AgreementTemplate,
    provider_account_id: &Id,
    account_id: &Id,
) -> Result<Outcome, ChunkError> {
    let source = match job.kind {
        JobKind::CreateAgreements => AgreementSource::Bulk,
        JobKind::ProviderSync => AgreementSource::ProviderSync,
    };
    let request = AgreementRequest {
        account_id: account_id.clone(),
        name: None,
        executed_on: None,
        source,
        actor: Actor::system(&format!("bulk job {}", job.id)),
        bulk: Some((job.id.clone(), provider_account_id.clone())),
    };
    Ok(match insert_agreement(store, template, request).await? {
        Creation::Created(_) => Outcome::Created,
        // Made by an earlier delivery of this very chunk: it counts as this job's creation.
        Creation::AlreadyOpen(a)
            if a.bulk_job_id.as_ref() == Some(&job.id)
                && a.provider_account_id.as_ref() == Some(provider_account_id) =>
        {
            Outcome::Created
        }
        Creation::AlreadyOpen(_) => Outcome::Skipped,
        Creation::TemplateInactive => Outcome::TemplateInactive,
    })
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Created,
    Skipped,
    TemplateInactive,
}

async fn send_continuation(
    store: &Store,
    queue: &BulkQueue,
    job: &BulkJob,
    next: &str,
) -> Result<(), ChunkError> {
    let message = match (&job.kind, &job.template_id) {
        (JobKind::CreateAgreements, Some(t)) => {
            BulkMessage::create_agreements(job.id.as_str(), t.as_str(), Some(next.to_string()))
        }
        _ => BulkMessage::sync_provider(
            job.id.as_str(),
            job.provider_id.as_str(),
            Some(next.to_string()),
        ),
    };
    queue
        .send(&message)
        .await
        .map_err(|e| ChunkError::Retry(e.to_string()))?;
    store.mark_sent(&job.id, next).await?;
    Ok(())
}

/// A delivery of an already counted chunk: if the worker that counted it died before sending
/// the continuation, send it now, so the job goes on.
async fn resend_if_unsent(
    store: &Store,
    queue: &BulkQueue,
    job: &BulkJob,
) -> Result<(), ChunkError> {
    let pending = !job.next_cursor.is_empty() && job.sent_cursor != job.next_cursor;
    if pending && job.status == JobStatus::Running {
        tracing::info!(job_id = %job.id, "re-sending a continuation that was not recorded as sent");
        send_continuation(store, queue, job, &job.next_cursor).await?;
    }
    Ok(())
}
