//! Agreement exports: staff ask for a file of agreements (CSV or JSON Lines) matching a filter;
//! a worker writes it to S3 and the export record says how it went.

use serde::{Deserialize, Serialize};

use crate::error::ServiceError;
use crate::model::{AgreementFilter, AgreementStatus, Day, Id, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Queued => "queued",
            ExportStatus::Running => "running",
            ExportStatus::Completed => "completed",
            ExportStatus::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, ExportStatus::Completed | ExportStatus::Failed)
    }
}

/// The filter of an export as staff send it: every field optional, no other field allowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFilterInput {
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub provider_id: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub signed_from: Option<String>,
    #[serde(default)]
    pub signed_to: Option<String>,
}

/// The body of `POST /exports`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewExport {
    pub format: ExportFormat,
    #[serde(default)]
    pub filter: ExportFilterInput,
}

/// An export's filter, checked: ids are ids, the status is one, the days are days and in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AgreementStatus>,
    /// Agreements signed on or after this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_from: Option<Day>,
    /// Agreements signed on or before this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_to: Option<Day>,
}

impl ExportFilter {
    pub fn parse(input: &ExportFilterInput) -> Result<ExportFilter, ServiceError> {
        let id = |raw: &Option<String>, field: &str| {
            raw.as_deref()
                .map(|r| {
                    Id::parse(r).ok_or_else(|| {
                        ServiceError::Validation(format!("`filter.{field}` is not an id"))
                    })
                })
                .transpose()
        };
        let day = |raw: &Option<String>, field: &str| {
            raw.as_deref()
                .map(|r| {
                    Day::parse(r).ok_or_else(|| {
                        ServiceError::Validation(format!(
                            "`filter.{field}` is not a date (YYYY-MM-DD)"
                        ))
                    })
                })
                .transpose()
        };
        let status = input
            .status
            .as_deref()
            .map(|s| {
                AgreementStatus::parse(s).ok_or_else(|| {
                    ServiceError::Validation(
                        "`filter.status` must be `pending`, `accepted` or `inactive`".into(),
                    )
                })
            })
            .transpose()?;
        let filter = ExportFilter {
            template_id: id(&input.template_id, "template_id")?,
            provider_id: id(&input.provider_id, "provider_id")?,
            account_id: id(&input.account_id, "account_id")?,
            status,
            signed_from: day(&input.signed_from, "signed_from")?,
            signed_to: day(&input.signed_to, "signed_to")?,
        };
        if let (Some(from), Some(to)) = (filter.signed_from, filter.signed_to) {
            if from > to {
                return Err(ServiceError::Validation(format!(
                    "`filter.signed_from` ({from}) is after `filter.signed_to` ({to})"
                )));
            }
        }
        Ok(filter)
    }

    /// The agreement list's filter (the same one GET /agreements reads with).
    pub fn agreements(&self) -> AgreementFilter {
        AgreementFilter {
            account_id: self.account_id.clone(),
            template_id: self.template_id.clone(),
            provider_id: self.provider_id.clone(),
            status: self.status,
            signed_from: self.signed_from,
            signed_to: self.signed_to,
            ..AgreementFilter::default()
        }
    }
}

/// An export and how it went. `attempt` counts the worker's attempts: each writes its own
/// object, and only the attempt the record names may complete it (see services::exports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Export {
    pub id: Id,
    pub status: ExportStatus,
    pub format: ExportFormat,
    pub filter: ExportFilter,
    /// The rows written (known once completed).
    pub rows: u64,
    /// The S3 key of the finished file.
    #[serde(default)]
    pub object_key: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub attempt: u64,
    /// Until when (epoch milliseconds) the running attempt holds the export.
    #[serde(default)]
    pub lease_until: Option<i64>,
    /// The staff subject who asked for it.
    pub requested_by: String,
    pub created_at: Instant,
    #[serde(default)]
    pub started_at: Option<Instant>,
    #[serde(default)]
    pub finished_at: Option<Instant>,
    pub updated_at: Instant,
    pub version: u64,
}

impl Export {
    pub fn queued(
        format: ExportFormat,
        filter: ExportFilter,
        requested_by: &str,
        now: Instant,
    ) -> Export {
        Export {
            id: Id::generate(),
            status: ExportStatus::Queued,
            format,
            filter,
            rows: 0,
            object_key: None,
            reason: None,
            attempt: 0,
            lease_until: None,
            requested_by: requested_by.to_string(),
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
            version: 1,
        }
    }

    /// The key of attempt `attempt`'s object.
    pub fn object_key_of(&self, attempt: u64) -> String {
        format!("exports/{}/{attempt}.{}", self.id, self.format.extension())
    }
}

/// What GET /exports/{id} answers: the record, and a download address while completed.
#[derive(Debug, Clone, Serialize)]
pub struct ExportView {
    pub id: Id,
    pub status: ExportStatus,
    pub format: ExportFormat,
    pub filter: ExportFilter,
    pub rows: u64,
    pub url: Option<String>,
    pub url_expires_at: Option<Instant>,
    pub reason: Option<String>,
    pub requested_by: String,
    pub created_at: Instant,
    pub started_at: Option<Instant>,
    pub finished_at: Option<Instant>,
}

impl ExportView {
    pub fn of(export: Export, url: Option<(String, Instant)>) -> ExportView {
        let (url, url_expires_at) = match url {
            Some((u, at)) => (Some(u), Some(at)),
            None => (None, None),
        };
        ExportView {
            id: export.id,
            status: export.status,
            format: export.format,
            filter: export.filter,
            rows: export.rows,
            url,
            url_expires_at,
            reason: export.reason,
            requested_by: export.requested_by,
            created_at: export.created_at,
            started_at: export.started_at,
            finished_at: export.finished_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<ExportFilter, ServiceError> {
        let body: NewExport =
            serde_json::from_value(v).map_err(|e| ServiceError::Validation(e.to_string()))?;
        ExportFilter::parse(&body.filter)
    }

    #[test]
    fn filters_are_checked() {
        assert!(parse(serde_json::json!({"format": "csv"})).is_ok());
        let f = parse(serde_json::json!({"format": "jsonl", "filter": {
            "status": "accepted", "signed_from": "2024-01-01", "signed_to": "2024-01-01"}}))
        .expect("valid");
        assert_eq!(f.status, Some(AgreementStatus::Accepted));
        for bad in [
            serde_json::json!({"format": "xml"}),
            serde_json::json!({"format": "csv", "extra": 1}),
            serde_json::json!({"format": "csv", "filter": {"colour": "red"}}),
            serde_json::json!({"format": "csv", "filter": {"signed_from": "2024-13-01"}}),
            serde_json::json!({"format": "csv", "filter": {"signed_from": "2024-02-01", "signed_to": "2024-01-01"}}),
            serde_json::json!({"format": "csv", "filter": {"status": "signed"}}),
            serde_json::json!({"format": "csv", "filter": {"account_id": "nope"}}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }
}
