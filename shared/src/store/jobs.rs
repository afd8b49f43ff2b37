//! Bulk jobs: access patterns 20, 23 and 24 of docs/data-model.md. A job's counters and its
//! chunk pointer move together in one conditional UpdateItem, which is what makes every chunk
//! count exactly once.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{from_item, n, s, sdk_error, to_value};
use super::list::ListQuery;
use super::{keys, Page, PageSpec, Store, StoreError};
use crate::model::{BulkJob, Id, Instant, JobFilter, JobStatus};

/// What one chunk did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkCounts {
    pub created: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Not part of the total: acceptances a sync pulled for agreements it went through.
    pub accepted: u64,
}

impl ChunkCounts {
    pub fn total(&self) -> u64 {
        self.created + self.skipped + self.failed
    }
}

/// What a chunk adds to its job when it is counted.
#[derive(Debug, Clone, Copy)]
pub struct CountedChunk<'a> {
    pub counts: ChunkCounts,
    pub end: &'a ChunkEnd,
    pub now: Instant,
    /// The job's total when this chunk completes it.
    pub final_total: Option<u64>,
    pub unmatched: &'a [crate::model::UnmatchedCustomer],
    pub failures: &'a [crate::model::ItemFailure],
}

/// How the job stands after a chunk is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkEnd {
    /// More to do from this cursor.
    Continue(String),
    /// The last chunk: the job is complete.
    Complete,
    /// The job stops here, failed, with this reason.
    Fail(String),
}

impl Store {
    async fn update_job(
        &self,
        id: &Id,
        update: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        self.update_meta_if(&keys::job(id), update, condition, names, values)
            .await
    }

    /// Queued → running with the number of provider accounts to cover; false if already started.
    pub async fn start_job(&self, id: &Id, total: u64, now: Instant) -> Result<bool, StoreError> {
        self.update_job(
            id,
            "SET #status = :running, #total = :total, started_at = :now, updated_at = :now ADD #version :one",
            "#status = :queued",
            &[("#status", "status"), ("#total", "total"), ("#version", "version")],
            vec![
                (":running", s(JobStatus::Running.as_str())),
                (":queued", s(JobStatus::Queued.as_str())),
                (":total", n(total)),
                (":now", s(now.to_string())),
                (":one", n(1)),
            ],
        )
        .await
    }

    /// Adds a chunk's counts and moves the pointer from `cursor` on, if the pointer is still at
    /// `cursor` and the job is running; false when another delivery counted this chunk already.
    pub async fn count_chunk(
        &self,
        id: &Id,
        cursor: &str,
        chunk: &CountedChunk<'_>,
    ) -> Result<bool, StoreError> {
        let CountedChunk {
            counts,
            end,
            now,
            final_total,
            unmatched,
            failures,
        } = *chunk;
        let mut update = String::from(
            "SET next_cursor = :next, updated_at = :now, unmatched = list_append(if_not_exists(unmatched, :none), :unmatched), failures = list_append(if_not_exists(failures, :none), :failures) ADD created :c, skipped :s, failed :f, accepted :a, #version :one",
        );
        // A job cancelled while this chunk ran still gets the chunk's counts (its writes
        // happened), and stays cancelled.
        let counting = update.clone();
        let unmatched = to_value(unmatched)?;
        let failures = to_value(failures)?;
        let mut names = vec![("#status", "status"), ("#version", "version")];
        if matches!(end, ChunkEnd::Complete) {
            names.push(("#total", "total"));
        }
        let mut values = vec![
            (":cursor", s(cursor)),
            (":running", s(JobStatus::Running.as_str())),
            (":now", s(now.to_string())),
            (":c", n(counts.created)),
            (":s", n(counts.skipped)),
            (":f", n(counts.failed)),
            (":a", n(counts.accepted)),
            (":one", n(1)),
            (":none", AttributeValue::L(vec![])),
            (":unmatched", unmatched),
            (":failures", failures),
        ];
        match end {
            ChunkEnd::Continue(next) => values.push((":next", s(next.clone()))),
            ChunkEnd::Complete => {
                update = update.replacen(
                    "SET next_cursor = :next,",
                    "SET next_cursor = :next, #status = :end, finished_at = :now, #total = :total,",
                    1,
                );
                update.push_str(" REMOVE GSI1PK, GSI1SK");
                values.push((":next", s("#done")));
                values.push((":end", s(JobStatus::Completed.as_str())));
                values.push((":total", n(final_total.unwrap_or(0))));
            }
            ChunkEnd::Fail(reason) => {
                update = update.replacen(
                    "SET next_cursor = :next,",
                    "SET next_cursor = :next, #status = :end, finished_at = :now, failure_reason = :reason,",
                    1,
                );
                update.push_str(" REMOVE GSI1PK, GSI1SK");
                values.push((":next", s("#done")));
                values.push((":end", s(JobStatus::Failed.as_str())));
                values.push((":reason", s(reason.clone())));
            }
        }
        let cancelled_values: Vec<(&str, AttributeValue)> = values
            .iter()
            .filter(|(k, _)| !matches!(*k, ":running" | ":end" | ":reason" | ":total"))
            .cloned()
            .chain([(":cancelled", s(JobStatus::Cancelled.as_str()))])
            .collect();
        if self
            .update_job(
                id,
                &update,
                "next_cursor = :cursor AND #status = :running",
                &names,
                values,
            )
            .await?
        {
            return Ok(true);
        }
        self.update_job(
            id,
            &counting,
            "next_cursor = :cursor AND #status = :cancelled",
            &[("#status", "status"), ("#version", "version")],
            cancelled_values,
        )
        .await
    }

    /// Ends a job that has not ended as cancelled (and takes it out of `OPEN_JOBS`); false
    /// when it had ended already. A chunk under way is still counted (`count_chunk`); the
    /// worker starts no further chunk.
    pub async fn cancel_job(&self, id: &Id, by: &str, now: Instant) -> Result<bool, StoreError> {
        self.update_job(
            id,
            "SET #status = :cancelled, cancelled_by = :by, finished_at = :now, updated_at = :now ADD #version :one REMOVE GSI1PK, GSI1SK",
            "attribute_exists(PK) AND #status IN (:queued, :running)",
            &[("#status", "status"), ("#version", "version")],
            vec![
                (":cancelled", s(JobStatus::Cancelled.as_str())),
                (":queued", s(JobStatus::Queued.as_str())),
                (":running", s(JobStatus::Running.as_str())),
                (":by", s(by)),
                (":now", s(now.to_string())),
                (":one", n(1)),
            ],
        )
        .await
    }

    /// Pattern 41: every job, newest first, optionally of a template, a status and a kind.
    pub async fn jobs(
        &self,
        filter: &JobFilter,
        page: PageSpec<'_>,
    ) -> Result<Page<BulkJob>, StoreError> {
        let mut query =
            ListQuery::index(Some("GSI2"), keys::ALL_JOBS.into(), keys::JOB_PREFIX).descending();
        if let Some(t) = &filter.template_id {
            query = query.equal("template_id", t.to_string());
        }
        if let Some(st) = filter.status {
            query = query.equal("status", st.as_str());
        }
        if let Some(k) = filter.kind {
            query = query.equal("kind", k.as_str());
        }
        self.list(&query, page).await
    }

    /// Ends a job that has not finished as failed, keeping its counts. With `at`, only if its
    /// chunk pointer is still there: the message that gives up is the one carrying the job,
    /// not a stale duplicate of a chunk counted since.
    pub async fn fail_job(
        &self,
        id: &Id,
        at: Option<&str>,
        reason: &str,
        now: Instant,
    ) -> Result<bool, StoreError> {
        let mut values = vec![
            (":failed", s(JobStatus::Failed.as_str())),
            (":queued", s(JobStatus::Queued.as_str())),
            (":running", s(JobStatus::Running.as_str())),
            (":reason", s(reason)),
            (":now", s(now.to_string())),
            (":one", n(1)),
        ];
        let condition = match at {
            Some(cursor) => {
                values.push((":cursor", s(cursor)));
                "next_cursor = :cursor AND #status IN (:queued, :running)"
            }
            None => "#status IN (:queued, :running)",
        };
        self.update_job(
            id,
            "SET #status = :failed, failure_reason = :reason, finished_at = :now, updated_at = :now ADD #version :one REMOVE GSI1PK, GSI1SK",
            condition,
            &[("#status", "status"), ("#version", "version")],
            values,
        )
        .await
    }

    /// Records that the continuation for `cursor` was sent (best effort; a lost record only
    /// means a redelivered message sends it once more).
    pub async fn mark_sent(&self, id: &Id, cursor: &str) -> Result<bool, StoreError> {
        self.update_job(
            id,
            "SET sent_cursor = :cursor",
            "attribute_exists(PK)",
            &[],
            vec![(":cursor", s(cursor))],
        )
        .await
    }

    /// Pattern 30: the jobs that have not ended, oldest first (the sweep's work list).
    pub async fn open_jobs(&self, max: usize) -> Result<Vec<BulkJob>, StoreError> {
        self.collection(Some("GSI1"), keys::OPEN_JOBS, keys::JOB_PREFIX, max)
            .await
    }

    /// Pattern 31: the sweep takes a job that made no progress since `seen` (its `updated_at`),
    /// counting the resume; false when the job moved meanwhile or has ended (another sweep, or
    /// the worker, got there first).
    pub async fn take_stalled_job(
        &self,
        id: &Id,
        seen: Instant,
        now: Instant,
    ) -> Result<bool, StoreError> {
        self.update_job(
            id,
            "SET updated_at = :now ADD resumes :one, #version :one",
            "updated_at = :seen AND #status IN (:queued, :running)",
            &[("#status", "status"), ("#version", "version")],
            vec![
                (":now", s(now.to_string())),
                (":seen", s(seen.to_string())),
                (":queued", s(JobStatus::Queued.as_str())),
                (":running", s(JobStatus::Running.as_str())),
                (":one", n(1)),
            ],
        )
        .await
    }

    /// Pattern 20: one chunk of a provider's provider accounts in key order, from the cursor
    /// `after` (sealed for the list `scope`; empty for the first chunk), with only the two
    /// attributes a "Create Agreements" chunk needs; and the cursor of the next chunk.
    pub async fn provider_account_chunk(
        &self,
        provider: &Id,
        scope: &str,
        after: &str,
        size: usize,
    ) -> Result<(Vec<ChunkRow>, Option<String>), StoreError> {
        let start = if after.is_empty() {
            None
        } else {
            Some(self.cursors().await?.decode(scope, after)?)
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::provider(provider)))
            .expression_attribute_values(":prefix", s(keys::PROVIDER_ACCOUNT_PREFIX))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .limit(i32::try_from(size).unwrap_or(i32::MAX));
        let names: Vec<String> = (0..CHUNK_ATTRIBUTES.len())
            .map(|i| format!("#a{i}"))
            .collect();
        query = query.projection_expression(names.join(", "));
        for (name, attribute) in names.into_iter().zip(CHUNK_ATTRIBUTES) {
            query = query.expression_attribute_names(name, *attribute);
        }
        let out = query.send().await.map_err(sdk_error)?;
        let rows = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<ChunkRow>, _>>()?;
        let next = match out.last_evaluated_key {
            Some(key) => Some(self.cursors().await?.encode(scope, &key)?),
            None => None,
        };
        Ok((rows, next))
    }
}

/// The attributes of a provider account a "Create Agreements" chunk reads: only what it needs.
pub const CHUNK_ATTRIBUTES: &[&str] = &["id", "account_id"];

/// A provider account as a "Create Agreements" chunk reads it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ChunkRow {
    pub id: Id,
    pub account_id: Id,
}
