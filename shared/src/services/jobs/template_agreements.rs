//! Jobs over one template's agreements, a chunk at a time: asking the accepted ones to accept a
//! newly published document version, and ending the pending ones of a template that expired.
//!
//! Each agreement is changed with a write conditional on the version read, so an agreement is
//! flagged (or ended) once, with one history event, however often its chunk is delivered; an
//! agreement a previous delivery of the same chunk changed is recognised by its state and
//! counted as this job's, so the counts stay exact.

use futures::stream::{self, StreamExt};

use super::runner::{with_retries, Chunk, ChunkWork, JobError, JobSettings, FAILURES_PER_CHUNK};
use crate::model::{
    Actor, Agreement, AgreementFilter, AgreementStatus, AgreementTemplate, BulkJob, HistoryAction,
    HistoryEvent, Id, Instant, ItemFailure, JobKind, JobStatus, NoticeStep, TEMPLATE_EXPIRED,
};
use crate::queue::{EmailQueue, NoticeMessage};
use crate::services::OPTIMISTIC_ATTEMPTS;
use crate::store::{ChunkCounts, ChunkEnd, PageSpec, Store, StoreError};

/// What a job does to each agreement of its chunk.
#[derive(Debug, Clone)]
enum Change {
    /// Accepted agreements are asked to accept this document version.
    AskReacceptance {
        version: String,
        change_summary: Option<String>,
    },
    /// Pending agreements end (inactive, `template_expired`).
    EndByExpiry,
}

impl Change {
    fn status(&self) -> AgreementStatus {
        match self {
            Change::AskReacceptance { .. } => AgreementStatus::Accepted,
            Change::EndByExpiry => AgreementStatus::Pending,
        }
    }

    fn apply(&self, a: &Agreement, now: Instant) -> Option<Agreement> {
        match self {
            Change::AskReacceptance { version, .. } => a.awaiting(version, now),
            Change::EndByExpiry => a.ended_by_expiry(now),
        }
    }

    /// Whether the agreement is as this change leaves it (an earlier delivery's write).
    fn done(&self, a: &Agreement) -> bool {
        match self {
            Change::AskReacceptance { version, .. } => {
                a.awaiting_document_version.as_deref() == Some(version)
            }
            Change::EndByExpiry => {
                a.status == AgreementStatus::Inactive
                    && a.inactive_reason.as_deref() == Some(TEMPLATE_EXPIRED)
            }
        }
    }

    fn event(&self, before: &Agreement, after: &Agreement, job: &BulkJob) -> HistoryEvent {
        let (action, details) = match self {
            Change::AskReacceptance {
                version,
                change_summary,
            } => (
                HistoryAction::ReacceptanceRequested,
                serde_json::json!({
                    "job_id": job.id,
                    "document_version": version,
                    "accepted_document_version": before.accepted_document_version,
                    "change_summary": change_summary,
                }),
            ),
            Change::EndByExpiry => (
                HistoryAction::Expired,
                serde_json::json!({ "job_id": job.id, "reason": TEMPLATE_EXPIRED }),
            ),
        };
        let mut event = HistoryEvent::of_change(
            Some(before),
            after,
            action,
            Actor::system("template-agreements"),
            before.source,
        );
        event.details = Some(details);
        event
    }
}

/// What came of one agreement.
enum Outcome {
    Changed,
    Skipped,
}

/// "Ask for re-acceptance": the accepted agreements of the job's template are flagged
/// `awaiting_document_version`.
pub struct RequestReacceptance<'a> {
    pub store: &'a Store,
    /// Where a `notify` job's e-mails are asked for.
    pub emails: Option<&'a EmailQueue>,
    pub settings: JobSettings,
}

/// "End on expiry": the pending agreements of the job's (expired) template end.
pub struct ExpireAgreements<'a> {
    pub store: &'a Store,
    pub settings: JobSettings,
}

impl ChunkWork for RequestReacceptance<'_> {
    const KIND: JobKind = JobKind::RequestReacceptance;

    async fn chunk(&self, job: &BulkJob, cursor: &str) -> Result<Chunk, JobError> {
        let version = job.document_version.clone().ok_or_else(|| {
            JobError::Poison(format!("bulk job {} names no document version", job.id))
        })?;
        let template = template_of(self.store, job).await?;
        let change = Change::AskReacceptance {
            change_summary: (template.document_version == version)
                .then(|| template.change_summary.clone())
                .flatten(),
            version: version.clone(),
        };
        let (chunk, flagged) =
            run_chunk(self.store, self.settings, job, &template, cursor, &change).await?;
        if job.notify {
            // Before the chunk is counted: a delivery that dies after this asks again, and the
            // sender sends each agreement's step once whatever it is asked.
            let emails = self.emails.ok_or_else(|| {
                JobError::Poison("the job asks to notify, but no e-mail queue is configured".into())
            })?;
            let step = NoticeStep::Reaccept(version);
            let messages: Vec<NoticeMessage> = flagged
                .iter()
                .map(|id| NoticeMessage::new(id.as_str(), &step, Some(job.id.as_str())))
                .collect();
            emails
                .send_all(&messages)
                .await
                .map_err(|e| JobError::from(crate::error::ServiceError::from(e)))?;
        }
        Ok(chunk)
    }
}

impl ChunkWork for ExpireAgreements<'_> {
    const KIND: JobKind = JobKind::ExpireAgreements;

    async fn chunk(&self, job: &BulkJob, cursor: &str) -> Result<Chunk, JobError> {
        let template = template_of(self.store, job).await?;
        let (chunk, _) = run_chunk(
            self.store,
            self.settings,
            job,
            &template,
            cursor,
            &Change::EndByExpiry,
        )
        .await?;
        Ok(chunk)
    }
}

async fn template_of(store: &Store, job: &BulkJob) -> Result<AgreementTemplate, JobError> {
    let id = job
        .template_id
        .clone()
        .ok_or_else(|| JobError::Poison(format!("bulk job {} names no template", job.id)))?;
    store
        .by_id(&id)
        .await?
        .ok_or_else(|| JobError::Poison(format!("template {id} does not exist")))
}

/// One chunk: a page of the template's agreements in the state the change applies to, each
/// changed with `concurrency` writes in flight. Answers the chunk and the agreements it counts
/// as changed.
async fn run_chunk(
    store: &Store,
    settings: JobSettings,
    job: &BulkJob,
    template: &AgreementTemplate,
    cursor: &str,
    change: &Change,
) -> Result<(Chunk, Vec<Id>), JobError> {
    if job.status == JobStatus::Queued {
        // The number of agreements is known when the job has gone through them: its total
        // is set at its end.
        store.start_job(&job.id, 0, Instant::now()).await?;
    }
    let filter = AgreementFilter {
        template_id: Some(template.id.clone()),
        status: Some(change.status()),
        ..AgreementFilter::default()
    };
    let page = store
        .agreements(
            &filter,
            PageSpec {
                limit: settings.chunk_size,
                cursor: (!cursor.is_empty()).then_some(cursor),
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::BadCursor => {
                JobError::Poison("the message's cursor is not this job's".into())
            }
            e => e.into(),
        })?;
    let outcomes: Vec<(Agreement, Result<Outcome, String>)> = stream::iter(page.items)
        .map(|listed| async move {
            let outcome = with_retries(settings.item_attempts, || {
                change_one(store, job, &listed, change)
            })
            .await;
            (listed, outcome)
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    let mut counts = ChunkCounts::default();
    let mut failures = Vec::new();
    let mut changed = Vec::new();
    for (agreement, outcome) in outcomes {
        match outcome {
            Ok(Outcome::Changed) => {
                counts.created += 1;
                changed.push(agreement.id);
            }
            Ok(Outcome::Skipped) => counts.skipped += 1,
            Err(reason) => {
                counts.failed += 1;
                if failures.len() < FAILURES_PER_CHUNK {
                    failures.push(ItemFailure {
                        item: format!("agreement {}", agreement.id),
                        reason,
                    });
                }
            }
        }
    }
    let end = match page.next_cursor {
        Some(next) => ChunkEnd::Continue(next),
        None => ChunkEnd::Complete,
    };
    let mut chunk = Chunk::ended(counts, end);
    chunk.failures = failures;
    Ok((chunk, changed))
}

/// Changes one agreement under the version it was read at; a lost race reads it again.
async fn change_one(
    store: &Store,
    job: &BulkJob,
    listed: &Agreement,
    change: &Change,
) -> Result<Outcome, JobError> {
    // The list is read from an index, which may lag: the write's condition is on the version.
    let mut current = listed.clone();
    for _ in 0..OPTIMISTIC_ATTEMPTS {
        let Some(next) = change.apply(&current, Instant::now()) else {
            return Ok(if change.done(&current) {
                Outcome::Changed
            } else {
                Outcome::Skipped
            });
        };
        let event = change.event(&current, &next, job);
        match store.update_agreement(&next, current.version, &event).await {
            Ok(()) => return Ok(Outcome::Changed),
            Err(StoreError::ConditionFailed) => {
                let Some(read) = store.by_id::<Agreement>(&listed.id).await? else {
                    return Ok(Outcome::Skipped);
                };
                current = read;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(JobError::Store(StoreError::ConditionFailed))
}
