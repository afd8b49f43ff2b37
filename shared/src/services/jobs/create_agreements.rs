//! "Create Agreements" on a template: one Pending agreement for every customer account that has
//! a provider account of the template's provider, a chunk of provider accounts at a time.
//!
//! An agreement's key is derived from (template, account, generation), so a repeated write lands
//! on the same key; the agreement records the job and provider account it was made for, so a
//! repeat is recognised as this job's own rather than counted as a skip.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

use super::runner::{
    queue_job, with_retries, Chunk, ChunkWork, JobError, JobSettings, FAILURES_PER_CHUNK,
};
use crate::error::{ServiceError, ServiceResult};
use crate::model::NoticeStep;
use crate::model::{
    AgreementTemplate, BulkJob, Id, Instant, ItemFailure, JobKind, JobStatus, Principal, Provider,
};
use crate::queue::{BulkQueue, EmailQueue, NoticeMessage};
use crate::services::agreements::{create_for_job, JobCreation};
use crate::services::templates::require_template;
use crate::store::{ChunkCounts, ChunkEnd, ChunkRow, Store};

/// Queues a job; answers at once. The template must be active.
pub async fn start_create_agreements(
    store: &Store,
    queue: &BulkQueue,
    caller: &Principal,
    template_id: &str,
    notify: bool,
) -> ServiceResult<BulkJob> {
    caller.require_staff()?;
    let template = require_template(store, template_id).await?;
    if let Some(why) = template.closed_reason(crate::model::Day::today()) {
        return Err(ServiceError::conflict(format!(
            "{why}; only an active template that has not expired makes agreements"
        )));
    }
    let mut job = BulkJob::queued(
        JobKind::CreateAgreements,
        Some(template.id.clone()),
        template.provider_id.clone(),
        caller.subject().to_string(),
        Instant::now(),
    );
    job.notify = notify;
    queue_job(store, queue, &job).await?;
    tracing::info!(job_id = %job.id, template_id = %template.id, "bulk job queued");
    Ok(job)
}

/// The chunks of a "Create Agreements" job.
pub struct CreateAgreements<'a> {
    pub store: &'a Store,
    /// Where a `notify` job's link e-mails are asked for.
    pub emails: Option<&'a EmailQueue>,
    pub settings: JobSettings,
}

/// The list a job's chunk cursors belong to.
fn cursor_scope(job_id: &Id) -> String {
    format!("bulk-job:{job_id}")
}

impl ChunkWork for CreateAgreements<'_> {
    const KIND: JobKind = JobKind::CreateAgreements;

    async fn chunk(&self, job: &BulkJob, cursor: &str) -> Result<Chunk, JobError> {
        let store = self.store;
        let template_id = job
            .template_id
            .clone()
            .ok_or_else(|| JobError::Poison(format!("bulk job {} names no template", job.id)))?;
        let template: AgreementTemplate = store
            .by_id(&template_id)
            .await?
            .ok_or_else(|| JobError::Poison(format!("template {template_id} does not exist")))?;
        if job.status == JobStatus::Queued {
            // The provider's running count, not a count of the partition: counting 100,000
            // items would cost the first invocation its time. The final total is what the job
            // went through.
            let provider: Option<Provider> = store.by_id(&job.provider_id).await?;
            let total = provider.map(|p| p.provider_account_count).unwrap_or(0);
            store.start_job(&job.id, total, Instant::now()).await?;
        }
        if !template.is_open(crate::model::Day::today()) {
            return Ok(Chunk::ended(
                ChunkCounts::default(),
                ChunkEnd::Fail(deactivated(&template.id)),
            ));
        }
        let (rows, next) = store
            .provider_account_chunk(
                &job.provider_id,
                &cursor_scope(&job.id),
                cursor,
                self.settings.chunk_size,
            )
            .await
            .map_err(|e| match e {
                crate::store::StoreError::BadCursor => {
                    JobError::Poison("the message's cursor is not this job's".into())
                }
                e => e.into(),
            })?;
        let written = create_for(store, job, &template, rows, self.settings).await?;
        if job.notify {
            // Before the chunk is counted: a delivery that dies after this sends them again,
            // and the e-mail sender sends each agreement's link once whatever it is asked.
            let emails = self.emails.ok_or_else(|| {
                JobError::Poison("the job asks to notify, but no e-mail queue is configured".into())
            })?;
            let messages: Vec<NoticeMessage> = written
                .created
                .iter()
                .map(|id| NoticeMessage::new(id.as_str(), &NoticeStep::Link, Some(job.id.as_str())))
                .collect();
            emails
                .send_all(&messages)
                .await
                .map_err(|e| JobError::from(ServiceError::from(e)))?;
        }
        let end = match (written.stopped, next) {
            (true, _) => ChunkEnd::Fail(deactivated(&template.id)),
            (false, Some(next)) => ChunkEnd::Continue(next),
            (false, None) => ChunkEnd::Complete,
        };
        let mut chunk = Chunk::ended(written.counts, end);
        chunk.failures = written.failures;
        Ok(chunk)
    }
}

fn deactivated(template_id: &Id) -> String {
    format!("agreement template {template_id} was deactivated while the job ran")
}

/// How often a chunk reads its template again while writing, so a deactivation stops the job
/// within about this time (each read is a request the writes wait behind on a busy endpoint).
const TEMPLATE_CHECK_EVERY: Duration = Duration::from_secs(1);

enum Step {
    Wrote(Id, Result<JobCreation, String>),
    Checked(Box<AgreementTemplate>),
}

/// What the writes of a chunk came to.
struct Written {
    counts: ChunkCounts,
    failures: Vec<ItemFailure>,
    /// The template was seen inactive: no write started after that.
    stopped: bool,
    /// This job's agreements of the chunk.
    created: Vec<Id>,
}

/// Writes the chunk's agreements with `concurrency` writes in flight, a new one starting as
/// each ends. Every `TEMPLATE_CHECK_EVERY` the template is read again beside the writes; once it
/// is seen inactive no write starts, so a deactivation stops the job within that time and the
/// writes then in flight. A write that still fails after its retries counts as failed, with its
/// reason, and the others go on.
async fn create_for(
    store: &Store,
    job: &BulkJob,
    template: &AgreementTemplate,
    rows: Vec<ChunkRow>,
    settings: JobSettings,
) -> Result<Written, JobError> {
    let concurrency = settings.concurrency;
    let mut counts = ChunkCounts::default();
    let mut failures = Vec::new();
    let mut created = Vec::new();
    let mut template = Arc::new(template.clone());
    let mut rows = rows.into_iter();
    let mut pending: FuturesUnordered<BoxFuture<'_, Result<Step, JobError>>> =
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
                let written = with_retries(settings.item_attempts, || async {
                    create_for_job(store, job, &t, &row.id, &row.account_id)
                        .await
                        .map_err(JobError::from)
                })
                .await;
                Ok(Step::Wrote(row.id, written))
            }));
            writing += 1;
        }
        if !stopped && !checking && rows.len() > 0 && checked_at.elapsed() >= TEMPLATE_CHECK_EVERY {
            let id = template.id.clone();
            pending.push(Box::pin(async move {
                let t: Option<AgreementTemplate> = store.by_id(&id).await?;
                t.map(|t| Step::Checked(Box::new(t)))
                    .ok_or_else(|| JobError::Poison(format!("template {id} disappeared")))
            }));
            checking = true;
        }
        let Some(step) = pending.next().await else {
            break;
        };
        match step? {
            Step::Wrote(provider_account, outcome) => {
                writing -= 1;
                match outcome {
                    Ok(JobCreation::Created(id)) => {
                        counts.created += 1;
                        created.push(id);
                    }
                    Ok(JobCreation::Skipped) => counts.skipped += 1,
                    Ok(JobCreation::TemplateInactive) => stopped = true,
                    Err(reason) => {
                        counts.failed += 1;
                        if failures.len() < FAILURES_PER_CHUNK {
                            failures.push(ItemFailure {
                                item: format!("provider account {provider_account}"),
                                reason,
                            });
                        }
                    }
                }
            }
            Step::Checked(t) => {
                checking = false;
                checked_at = std::time::Instant::now();
                stopped |= !t.is_open(crate::model::Day::today());
                template = Arc::new(*t);
            }
        }
    }
    Ok(Written {
        counts,
        failures,
        stopped,
        created,
    })
}
