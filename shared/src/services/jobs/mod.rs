//! Jobs on the bulk queue. `runner` is the machinery every chunked job shares (settings, the
//! chunk pointer, counting, continuation); `sweep` resumes or ends stalled jobs; each other
//! module is one kind of work. `handle` dispatches a message to its kind.

pub mod attestation;
pub mod create_agreements;
pub mod import;
pub mod provider_sync;
pub mod runner;
pub mod sweep;
pub mod template_agreements;

pub use runner::{ChunkReport, JobError, JobSettings};

use crate::connectors::ProviderConnector;
use crate::error::ServiceResult;
use crate::model::{BulkJob, BulkJobView, Principal};
use crate::queue::{BulkQueue, EmailQueue, JobMessage};
use crate::services::{known_id, not_found};
use crate::store::Store;
use create_agreements::CreateAgreements;
use provider_sync::ProviderSync;
use runner::{run_chunks, ChunkPointer};

/// What the worker did with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// A chunk message of a job: what this delivery did for the job.
    Chunk(ChunkReport),
    /// An agreement's attestation is done with (attested, refused and noted, or not needed).
    Attestation,
}

/// Does the work one queue message asks for.
pub async fn handle<C: ProviderConnector>(
    store: &Store,
    queue: &BulkQueue,
    emails: Option<&EmailQueue>,
    connector: &C,
    settings: JobSettings,
    message: &JobMessage,
) -> Result<Handled, JobError> {
    match message {
        JobMessage::CreateAgreements {
            job_id,
            template_id,
            cursor,
            ..
        } => {
            let work = CreateAgreements {
                store,
                emails,
                settings,
            };
            chunks(
                store,
                queue,
                &work,
                settings,
                job_id,
                template_id,
                cursor.as_deref(),
            )
            .await
        }
        JobMessage::SyncProvider {
            job_id,
            provider_id,
            cursor,
            ..
        } => {
            let work = ProviderSync {
                store,
                connector,
                settings,
            };
            chunks(
                store,
                queue,
                &work,
                settings,
                job_id,
                provider_id,
                cursor.as_deref(),
            )
            .await
        }
        JobMessage::AttestAgreement { agreement_id, .. } => {
            attestation::attest_agreement(store, connector, agreement_id)
                .await
                .map(|()| Handled::Attestation)
        }
        JobMessage::FollowAttestation {
            agreement_id,
            attestation_id,
            check,
            ..
        } => {
            let follow = crate::services::attestations::Follow {
                queue: Some(queue),
                emails,
                check_secs: crate::services::attestations::check_secs_from_env(),
            };
            crate::services::attestations::follow(
                store,
                connector,
                follow,
                agreement_id,
                attestation_id,
                *check,
            )
            .await
            .map(|()| Handled::Attestation)
        }
        JobMessage::ImportProviderAccounts { job_id, cursor, .. } => {
            let work = import::ImportProviderAccounts { store, settings };
            chunks(
                store,
                queue,
                &work,
                settings,
                job_id,
                job_id,
                cursor.as_deref(),
            )
            .await
        }
        JobMessage::RequestReacceptance {
            job_id,
            template_id,
            cursor,
            ..
        } => {
            let work = template_agreements::RequestReacceptance {
                store,
                emails,
                settings,
            };
            chunks(
                store,
                queue,
                &work,
                settings,
                job_id,
                template_id,
                cursor.as_deref(),
            )
            .await
        }
        JobMessage::ExpireAgreements {
            job_id,
            template_id,
            cursor,
            ..
        } => {
            let work = template_agreements::ExpireAgreements { store, settings };
            chunks(
                store,
                queue,
                &work,
                settings,
                job_id,
                template_id,
                cursor.as_deref(),
            )
            .await
        }
    }
}

/// Runs a chunk message of a job: its chunk and those that follow, as the runner decides.
async fn chunks<W: runner::ChunkWork>(
    store: &Store,
    queue: &BulkQueue,
    work: &W,
    settings: JobSettings,
    job_id: &str,
    subject: &str,
    cursor: Option<&str>,
) -> Result<Handled, JobError> {
    let pointer = ChunkPointer {
        job_id,
        subject,
        cursor,
    };
    run_chunks(store, queue, work, settings, pointer)
        .await
        .map(Handled::Chunk)
}

/// Ends the work of a message that will not be delivered again: its job fails with `reason`
/// (keeping its counts) when the message is the one carrying it; an attestation records its
/// failure on the agreement's history.
pub async fn give_up(store: &Store, message: &JobMessage, reason: &str) -> Result<(), JobError> {
    match message {
        JobMessage::CreateAgreements { job_id, cursor, .. }
        | JobMessage::SyncProvider { job_id, cursor, .. }
        | JobMessage::ImportProviderAccounts { job_id, cursor, .. }
        | JobMessage::RequestReacceptance { job_id, cursor, .. }
        | JobMessage::ExpireAgreements { job_id, cursor, .. } => {
            runner::give_up(store, job_id, cursor.as_deref(), reason).await
        }
        JobMessage::AttestAgreement { agreement_id, .. } => {
            attestation::give_up(store, agreement_id, reason).await
        }
        JobMessage::FollowAttestation {
            agreement_id,
            attestation_id,
            ..
        } => {
            crate::services::attestations::give_up(store, agreement_id, attestation_id, reason)
                .await
        }
    }
}

/// A job's progress, for staff.
pub async fn get_bulk_job(
    store: &Store,
    caller: &Principal,
    id: &str,
) -> ServiceResult<BulkJobView> {
    caller.require_staff()?;
    let id = known_id(id, "bulk job")?;
    let job: Option<BulkJob> = store.by_id(&id).await?;
    job.map(BulkJobView::from)
        .ok_or_else(|| not_found("bulk job", &id))
}

/// GET /bulk-jobs: every job, newest first, optionally of a template, a status and a kind.
pub async fn list_bulk_jobs(
    store: &Store,
    caller: &Principal,
    filter: &crate::model::JobFilter,
    page: &crate::services::PageRequest,
) -> ServiceResult<crate::store::Page<BulkJobView>> {
    caller.require_staff()?;
    Ok(store
        .jobs(filter, page.spec())
        .await?
        .map(BulkJobView::from))
}

/// POST /bulk-jobs/{id}/cancel: ends a job that has not ended as `cancelled`. The chunk under
/// way finishes and is counted; the worker starts nothing after it (it reads the job before
/// each chunk). One conditional write decides between a cancel and the job's own end, so a
/// job ends once: a job that has ended is a 409.
pub async fn cancel_bulk_job(
    store: &Store,
    caller: &Principal,
    id: &str,
) -> ServiceResult<BulkJobView> {
    caller.require_staff()?;
    let id = known_id(id, "bulk job")?;
    let by = caller.subject().to_string();
    if !store
        .cancel_job(&id, &by, crate::model::Instant::now())
        .await?
    {
        let job: Option<BulkJob> = store.by_id(&id).await?;
        let job = job.ok_or_else(|| not_found("bulk job", &id))?;
        return Err(crate::ServiceError::conflict(format!(
            "bulk job {id} has already ended ({})",
            job.status.as_str()
        )));
    }
    tracing::info!(job_id = %id, cancelled_by = %by, "bulk job cancelled");
    let job: Option<BulkJob> = store.by_id(&id).await?;
    job.map(BulkJobView::from)
        .ok_or_else(|| not_found("bulk job", &id))
}
