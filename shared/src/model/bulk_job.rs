//! Bulk jobs: "Create Agreements" on a template, run by the queue worker chunk by chunk.

use serde::{Deserialize, Serialize};

use crate::model::{Id, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    /// Ended by staff: the chunk under way when it was cancelled finishes and is counted;
    /// nothing after it runs.
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// What a bulk job makes; provider sync reuses the same machinery with its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    CreateAgreements,
    /// Pull a provider's customers, link them, create Pending agreements of its Active
    /// templates, and (Partner Center) pull acceptances.
    ProviderSync,
    /// A large provider-account import, a part of its rows per chunk.
    ImportProviderAccounts,
    /// A new document version of a template: its accepted agreements are asked to accept it.
    RequestReacceptance,
    /// A template expired: its pending agreements end.
    ExpireAgreements,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::CreateAgreements => "create_agreements",
            JobKind::ProviderSync => "provider_sync",
            JobKind::ImportProviderAccounts => "import_provider_accounts",
            JobKind::RequestReacceptance => "request_reacceptance",
            JobKind::ExpireAgreements => "expire_agreements",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            JobKind::CreateAgreements,
            JobKind::ProviderSync,
            JobKind::ImportProviderAccounts,
            JobKind::RequestReacceptance,
            JobKind::ExpireAgreements,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// The filters of the job list; each is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    pub template_id: Option<Id>,
    pub status: Option<JobStatus>,
    pub kind: Option<JobKind>,
}

/// A provider customer the sync could not link to an account, and why (never guessed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedCustomer {
    pub customer_id: String,
    pub name: String,
    pub domain: Option<String>,
    pub reason: String,
}

/// One item a job could not do (an agreement that could not be written after its retries, a
/// customer a sync could not go through), and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFailure {
    /// What the item is: the provider account of an agreement, the provider's customer id.
    pub item: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkJob {
    pub id: Id,
    pub kind: JobKind,
    /// The template of a "Create Agreements" job.
    #[serde(default)]
    pub template_id: Option<Id>,
    pub provider_id: Id,
    pub status: JobStatus,
    /// Items the job covers; known once the worker has counted them (a sync: at its end).
    pub total: Option<u64>,
    pub created: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Pending agreements a provider sync found accepted at the provider.
    #[serde(default)]
    pub accepted: u64,
    #[serde(default)]
    pub unmatched: Vec<UnmatchedCustomer>,
    /// Items counted in `failed` and why (the first ones of each chunk).
    #[serde(default)]
    pub failures: Vec<ItemFailure>,
    pub started_at: Option<Instant>,
    pub finished_at: Option<Instant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// How often the sweep re-sent the job's pending message after it made no progress.
    #[serde(default)]
    pub resumes: u32,
    pub requested_by: String,
    /// Who cancelled the job (staff's subject), when it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
    /// The cursor of the next chunk to be counted ("" = the first). A chunk's counts are added
    /// only by the write that moves this pointer past it, so each chunk is counted once.
    #[serde(default)]
    pub next_cursor: String,
    /// The last cursor a continuation message was sent for.
    #[serde(default)]
    pub sent_cursor: String,
    /// "Create Agreements" with `notify`: each created agreement's signing contact is e-mailed
    /// a portal link; the e-mail sender counts the outcomes here.
    #[serde(default)]
    pub notify: bool,
    #[serde(default)]
    pub emails_sent: u64,
    #[serde(default)]
    pub emails_failed: u64,
    /// The document version a re-acceptance job asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_version: Option<String>,
}

/// What staff see of a job.
#[derive(Debug, Clone, Serialize)]
pub struct BulkJobView {
    pub id: Id,
    pub kind: JobKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_id: Option<Id>,
    pub provider_id: Id,
    pub status: JobStatus,
    pub total: Option<u64>,
    pub created: u64,
    pub skipped: u64,
    pub failed: u64,
    pub accepted: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched: Vec<UnmatchedCustomer>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<ItemFailure>,
    pub started_at: Option<Instant>,
    pub finished_at: Option<Instant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Only for a job with `notify`: e-mails sent and failed so far (they follow the job's
    /// chunks through the e-mail queue, at its rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<EmailCounts>,
    /// A re-acceptance job: the document version it asks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EmailCounts {
    pub sent: u64,
    pub failed: u64,
}

impl From<BulkJob> for BulkJobView {
    fn from(j: BulkJob) -> Self {
        BulkJobView {
            id: j.id,
            kind: j.kind,
            template_id: j.template_id,
            provider_id: j.provider_id,
            status: j.status,
            total: j.total,
            created: j.created,
            skipped: j.skipped,
            failed: j.failed,
            accepted: j.accepted,
            unmatched: j.unmatched,
            failures: j.failures,
            started_at: j.started_at,
            finished_at: j.finished_at,
            failure_reason: j.failure_reason,
            emails: j.notify.then_some(EmailCounts {
                sent: j.emails_sent,
                failed: j.emails_failed,
            }),
            document_version: j.document_version,
            cancelled_by: j.cancelled_by,
            created_at: j.created_at,
            updated_at: j.updated_at,
            version: j.version,
        }
    }
}

impl BulkJob {
    pub fn queued(
        kind: JobKind,
        template_id: Option<Id>,
        provider_id: Id,
        requested_by: String,
        now: Instant,
    ) -> BulkJob {
        BulkJob {
            id: Id::generate(),
            kind,
            template_id,
            provider_id,
            status: JobStatus::Queued,
            total: None,
            created: 0,
            skipped: 0,
            failed: 0,
            accepted: 0,
            unmatched: Vec::new(),
            failures: Vec::new(),
            started_at: None,
            finished_at: None,
            failure_reason: None,
            resumes: 0,
            requested_by,
            cancelled_by: None,
            created_at: now,
            updated_at: now,
            version: 1,
            next_cursor: String::new(),
            sent_cursor: String::new(),
            notify: false,
            emails_sent: 0,
            emails_failed: 0,
            document_version: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_kinds_read_back_their_words() {
        for s in [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ] {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
            let json = serde_json::to_value(s).expect("serialises");
            assert_eq!(json, s.as_str());
        }
        assert!(JobStatus::Cancelled.is_finished());
        assert!(!JobStatus::Running.is_finished());
        assert_eq!(JobStatus::parse("done"), None);
        for k in [
            JobKind::CreateAgreements,
            JobKind::ProviderSync,
            JobKind::ImportProviderAccounts,
        ] {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).expect("serialises"), k.as_str());
        }
    }
}
