//! Provider accounts: POST /provider-accounts, POST /provider-accounts/import (JSON or CSV; a
//! large file runs as a job), GET /provider-accounts.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::problem::code_of;
use crate::entrypoints::http::request::{
    body_bytes, content_type, is_json, json, parse_json, query, staff,
};
use crate::entrypoints::http::Reply;
use crate::error::{ServiceError, ServiceResult};
use crate::model::NewProviderAccount;
use crate::services::jobs::import;
use crate::services::provider_accounts::{self, ImportRow, ProviderAccountFilter};
use crate::AppContext;

/// An import's body: 10,000 rows fit well within it, and it stays under Lambda's 6 MB payload.
pub const MAX_IMPORT_BODY: usize = 5 * 1024 * 1024;
/// Imports of up to this many rows are answered at once (200 with the report); larger ones run
/// as a job (202, progress and per-row failures at `GET /bulk-jobs/{id}`), which no request's
/// time limit can cut short.
pub const SYNC_IMPORT_ROWS: usize = 1000;

pub async fn create_provider_account(
    ctx: Arc<AppContext>,
    request: Request,
) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let pa =
        provider_accounts::create_provider_account(&ctx.store, &caller, json(&request)?).await?;
    Reply::created(
        &pa,
        pa.version,
        format!("/provider-accounts?provider_id={}", pa.provider_id),
    )
}

pub async fn list_provider_accounts(
    ctx: Arc<AppContext>,
    request: Request,
) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let q = query(&request, &["provider_id", "account_id"])?;
    let filter = ProviderAccountFilter {
        provider_id: q.get("provider_id"),
        account_id: q.get("account_id"),
    };
    let page =
        provider_accounts::list_provider_accounts(&ctx.store, &caller, &filter, &q.page()?).await?;
    Reply::json(StatusCode::OK, &page)
}

pub async fn import_provider_accounts(
    ctx: Arc<AppContext>,
    request: Request,
) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let body = body_bytes(&request, MAX_IMPORT_BODY)?;
    let media = content_type(&request).unwrap_or_default();
    let rows: Vec<ImportRow> = if is_json(&media) {
        let values: Vec<serde_json::Value> = parse_json(body)?;
        values
            .into_iter()
            .map(|v| serde_json::from_value::<NewProviderAccount>(v).map_err(|e| e.to_string()))
            .collect()
    } else if media == "text/csv" {
        provider_accounts::parse_csv(body)?
    } else {
        return Err(ServiceError::UnsupportedMediaType(
            "send a JSON array (application/json) or a CSV file (text/csv)".into(),
        ));
    };
    if rows.len() > SYNC_IMPORT_ROWS {
        let job = import::start_import(&ctx.store, ctx.bulk_queue()?, &caller, rows).await?;
        return Reply::job_accepted(&job);
    }
    let report = provider_accounts::import_provider_accounts(&ctx.store, &caller, rows).await?;
    let failed: Vec<serde_json::Value> = report
        .failed
        .iter()
        .map(|f| {
            serde_json::json!({
                "row": f.row,
                "code": code_of(&f.error),
                "detail": f.error.to_string(),
            })
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        &serde_json::json!({
            "created": report.created,
            "skipped": report.skipped,
            "failed": failed,
        }),
    )
}
