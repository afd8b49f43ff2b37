//! The bulk job's writes: counters and the chunk pointer move together in one conditional
//! UpdateItem, which is what makes every chunk count exactly once.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::model::{Id, Instant, JobStatus};
use crate::store::{keys, sdk_error, Store, StoreError};

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

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

impl Store {
    fn job_key(&self, id: &Id) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("PK".to_string(), s(keys::job(id))),
            ("SK".to_string(), s(keys::META)),
        ])
    }

    async fn update_job(
        &self,
        id: &Id,
        update: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.job_key(id)))
            .update_expression(update)
            .condition_expression(condition)
            .return_values(ReturnValue::None);
        for (k, v) in names {
            request = request.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            request = request.expression_attribute_values(k, v);
        }
        match super::conditional(request.send().await) {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
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
        } = *chunk;
        let mut update = String::from(
            "SET next_cursor = :next, updated_at = :now, unmatched = list_append(if_not_exists(unmatched, :none), :unmatched) ADD created :c, skipped :s, failed :f, accepted :a, #version :one",
        );
        let unmatched = serde_dynamo::to_attribute_value(unmatched)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
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
        ];
        match end {
            ChunkEnd::Continue(next) => values.push((":next", s(next.clone()))),
            ChunkEnd::Complete => {
                update = update.replacen(
                    "SET next_cursor = :next,",
                    "SET next_cursor = :next, #status = :end, finished_at = :now, #total = :total,",
                    1,
                );
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
                values.push((":next", s("#done")));
                values.push((":end", s(JobStatus::Failed.as_str())));
                values.push((":reason", s(reason.clone())));
            }
        }
        self.update_job(
            id,
            &update,
            "next_cursor = :cursor AND #status = :running",
            &names,
            values,
        )
        .await
    }

    /// Ends a job that has not finished as failed, keeping its counts.
    pub async fn fail_job(&self, id: &Id, reason: &str, now: Instant) -> Result<bool, StoreError> {
        self.update_job(
            id,
            "SET #status = :failed, failure_reason = :reason, finished_at = :now, updated_at = :now ADD #version :one",
            "#status IN (:queued, :running)",
            &[("#status", "status"), ("#version", "version")],
            vec![
                (":failed", s(JobStatus::Failed.as_str())),
                (":queued", s(JobStatus::Queued.as_str())),
                (":running", s(JobStatus::Running.as_str())),
                (":reason", s(reason)),
                (":now", s(now.to_string())),
                (":one", n(1)),
            ],
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

    /// Adds `n` to a provider's count of provider accounts.
    pub async fn add_provider_accounts(&self, provider: &Id, n: u64) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(HashMap::from([
                ("PK".to_string(), s(keys::provider(provider))),
                ("SK".to_string(), s(keys::META)),
            ])))
            .update_expression("ADD provider_account_count :n")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
            .send()
            .await;
        super::conditional(result)
    }

    /// One chunk of a partition in key order after `start`, and where the next chunk begins.
    pub async fn chunk<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        sort_prefix: &str,
        start: Option<HashMap<String, AttributeValue>>,
        limit: usize,
    ) -> Result<(Vec<T>, Option<HashMap<String, AttributeValue>>), StoreError> {
        self.chunk_of(pk, sort_prefix, start, limit, &[]).await
    }

    /// A chunk of a partition with only the `attributes` named (all of them when empty): a bulk
    /// job reads thousands of items and needs two of their attributes.
    pub async fn chunk_of<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        sort_prefix: &str,
        start: Option<HashMap<String, AttributeValue>>,
        limit: usize,
        attributes: &[&str],
    ) -> Result<(Vec<T>, Option<HashMap<String, AttributeValue>>), StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(sort_prefix))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        if !attributes.is_empty() {
            let names: Vec<String> = (0..attributes.len()).map(|i| format!("#a{i}")).collect();
            query = query.projection_expression(names.join(", "));
            for (name, attribute) in names.into_iter().zip(attributes) {
                query = query.expression_attribute_names(name, *attribute);
            }
        }
        let out = query.send().await.map_err(sdk_error)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(super::from_item)
            .collect::<Result<Vec<T>, _>>()?;
        Ok((items, out.last_evaluated_key))
    }

    /// Accounts whose e-mail domain is `domain` (at most `max`: enough to tell one from several).
    pub async fn accounts_by_domain(&self, domain: &str, max: i32) -> Result<Vec<Id>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :pk AND begins_with(GSI2SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::domain(domain)))
            .expression_attribute_values(":prefix", s(keys::ACCOUNT_PREFIX))
            .limit(max)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| {
                item.get("id")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|v| Id::parse(v))
            })
            .collect())
    }
}
