//! Exports: access patterns 39–40 of docs/data-model.md. Each attempt of the worker takes the
//! export by a conditional write that numbers it, and only that numbered attempt may end it.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::item::{from_item, key_map, n, s, sdk_error};
use super::{keys, Store, StoreError};
use crate::model::{Export, ExportStatus, Id, Instant};

impl Store {
    /// An update of the export's item; `#status` and `#version` name its status and version.
    async fn update_export(
        &self,
        id: &Id,
        update: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut names = names.to_vec();
        names.extend([("#status", "status"), ("#version", "version")]);
        self.update_meta_if(&keys::export(id), update, condition, &names, values)
            .await
    }

    /// Pattern 39: a new attempt takes the export — queued, or running under a lease that has
    /// run out — numbering itself (`attempt + 1`) and holding it until `lease_until` (epoch ms).
    /// None when the export has ended or another attempt holds it.
    pub async fn start_export_attempt(
        &self,
        id: &Id,
        now: Instant,
        lease_until: i64,
    ) -> Result<Option<Export>, StoreError> {
        let now_ms = i64::try_from(now.unix_millis()).unwrap_or(i64::MAX);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::export(id), keys::META)))
            .update_expression(
                "SET #status = :running, started_at = if_not_exists(started_at, :now), \
                 updated_at = :now, lease_until = :lease ADD #attempt :one, #version :one",
            )
            .condition_expression(
                "#status = :queued OR (#status = :running AND \
                 (attribute_not_exists(lease_until) OR lease_until < :now_ms))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#attempt", "attempt")
            .expression_attribute_values(":running", s(ExportStatus::Running.as_str()))
            .expression_attribute_values(":queued", s(ExportStatus::Queued.as_str()))
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":lease", AttributeValue::N(lease_until.to_string()))
            .expression_attribute_values(":now_ms", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(from_item(out.attributes.unwrap_or_default())?)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// Pattern 40: the attempt `attempt` completes the export with its object and row count,
    /// if it still holds it; false otherwise (a later attempt took over, or it ended).
    pub async fn complete_export(
        &self,
        id: &Id,
        attempt: u64,
        rows: u64,
        object_key: &str,
        now: Instant,
    ) -> Result<bool, StoreError> {
        self.update_export(
            id,
            "SET #status = :completed, #rows = :rows, object_key = :key, finished_at = :now, \
             updated_at = :now REMOVE lease_until ADD #version :one",
            "#status = :running AND #attempt = :attempt",
            &[("#rows", "rows"), ("#attempt", "attempt")],
            vec![
                (":completed", s(ExportStatus::Completed.as_str())),
                (":running", s(ExportStatus::Running.as_str())),
                (":rows", n(rows)),
                (":key", s(object_key)),
                (":now", s(now.to_string())),
                (":attempt", n(attempt)),
                (":one", n(1)),
            ],
        )
        .await
    }

    /// Pattern 40: the attempt `attempt` lets go of the export (it failed and its message
    /// will be delivered again), so the next delivery need not wait for the lease to run out.
    pub async fn release_export(&self, id: &Id, attempt: u64) -> Result<bool, StoreError> {
        self.update_export(
            id,
            "SET lease_until = :zero ADD #version :one",
            "#status = :running AND #attempt = :attempt",
            &[("#attempt", "attempt")],
            vec![
                (":running", s(ExportStatus::Running.as_str())),
                (":attempt", n(attempt)),
                (":zero", n(0)),
                (":one", n(1)),
            ],
        )
        .await
    }

    /// Pattern 40: the export fails with `reason`, unless it has ended; with `attempt`, only
    /// while that attempt holds it.
    pub async fn fail_export(
        &self,
        id: &Id,
        attempt: Option<u64>,
        reason: &str,
        now: Instant,
    ) -> Result<bool, StoreError> {
        let mut values = vec![
            (":failed", s(ExportStatus::Failed.as_str())),
            (":queued", s(ExportStatus::Queued.as_str())),
            (":running", s(ExportStatus::Running.as_str())),
            (":reason", s(reason)),
            (":now", s(now.to_string())),
            (":one", n(1)),
        ];
        let mut names = vec![("#reason", "reason")];
        let condition = match attempt {
            Some(a) => {
                values.push((":attempt", n(a)));
                names.push(("#attempt", "attempt"));
                "#status IN (:queued, :running) AND #attempt = :attempt"
            }
            None => "#status IN (:queued, :running)",
        };
        self.update_export(
            id,
            "SET #status = :failed, #reason = :reason, finished_at = :now, updated_at = :now \
             REMOVE lease_until ADD #version :one",
            condition,
            &names,
            values,
        )
        .await
    }
}
