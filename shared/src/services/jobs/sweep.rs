//! The sweep: every job ends. A job that has not ended and has made no progress for a while
//! (its message lost, dead-lettered, or stuck behind a dead worker) gets its pending message
//! sent again — the chunk pointer makes a duplicate harmless — and after a few such resumes
//! without progress it is ended as failed, with why and the counts it has.

use std::time::Duration;

use crate::error::ServiceResult;
use crate::model::{Id, Instant};
use crate::queue::{BulkQueue, JobMessage};
use crate::store::Store;

/// Open jobs one sweep looks at, at most (oldest first; the next sweep takes the rest).
const MAX_OPEN_JOBS: usize = 1000;

#[derive(Debug, Clone, Copy)]
pub struct SweepSettings {
    /// A job whose `updated_at` is older than this is stalled.
    pub stale_after: Duration,
    /// Resumes of a stalled job before it is failed.
    pub max_resumes: u32,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            stale_after: Duration::from_secs(15 * 60),
            max_resumes: 3,
        }
    }
}

impl SweepSettings {
    /// `JOB_STALE_AFTER_SECONDS` (at least 60) and `JOB_MAX_RESUMES` (0–100) override the
    /// defaults.
    pub fn from_env() -> Self {
        let read = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        let d = SweepSettings::default();
        SweepSettings {
            stale_after: read("JOB_STALE_AFTER_SECONDS")
                .filter(|s| *s >= 60)
                .map(Duration::from_secs)
                .unwrap_or(d.stale_after),
            max_resumes: read("JOB_MAX_RESUMES")
                .filter(|r| *r <= 100)
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(d.max_resumes),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub resumed: Vec<Id>,
    pub failed: Vec<Id>,
}

/// Resumes or fails every stalled job.
pub async fn sweep_jobs(
    store: &Store,
    queue: &BulkQueue,
    settings: SweepSettings,
    now: Instant,
) -> ServiceResult<SweepReport> {
    let mut report = SweepReport::default();
    let stale_millis = i128::try_from(settings.stale_after.as_millis()).unwrap_or(i128::MAX);
    for job in store.open_jobs(MAX_OPEN_JOBS).await? {
        // The index lags its table: a job that has just ended (completed, failed, cancelled)
        // may still be listed. The writes below are conditional on an open job anyway.
        if job.status.is_finished() {
            continue;
        }
        if now.unix_millis() - job.updated_at.unix_millis() < stale_millis {
            continue;
        }
        if job.resumes >= settings.max_resumes {
            let reason = format!(
                "no progress for {} s after {} resumes",
                settings.stale_after.as_secs(),
                job.resumes
            );
            if store.fail_job(&job.id, None, &reason, now).await? {
                tracing::error!(job_id = %job.id, %reason, "stalled job failed");
                report.failed.push(job.id);
            }
            continue;
        }
        // Only one sweep resumes a job, and only if nothing moved it since it was read.
        if !store.take_stalled_job(&job.id, job.updated_at, now).await? {
            continue;
        }
        let cursor = (!job.next_cursor.is_empty()).then(|| job.next_cursor.clone());
        queue.send(&JobMessage::chunk_of(&job, cursor)).await?;
        tracing::warn!(job_id = %job.id, resumes = job.resumes + 1, "stalled job resumed");
        report.resumed.push(job.id);
    }
    Ok(report)
}
