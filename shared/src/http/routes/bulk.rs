//! Provider accounts (create, import, list), "Create Agreements" on a template, bulk job status.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::error::{ServiceError, ServiceResult};
use crate::http::request::{
    body_bytes, content_type, is_json, json, optional_json, path, query, staff,
};
use crate::http::Reply;
use crate::model::NewProviderAccount;
use crate::services::provider_accounts::{self, ImportRow, ProviderAccountFilter};
use crate::services::{bulk, known_id};
use crate::AppContext;

/// An import's body: 10,000 rows fit well within it, and it stays under Lambda's 6 MB payload.
pub const MAX_IMPORT_BODY: usize = 5 * 1024 * 1024;

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
        let values: Vec<serde_json::Value> = crate::http::request::parse_json(body)?;
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
    let report = provider_accounts::import_provider_accounts(&ctx.store, &caller, rows).await?;
    Reply::json(StatusCode::OK, &report)
}

pub async fn create_agreements(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let _: Option<serde_json::Map<String, serde_json::Value>> = optional_json(&request)?;
    let queue = ctx.bulk_queue()?;
    let job = bulk::start_create_agreements(&ctx.store, queue, &caller, &id).await?;
    Reply::job_accepted(&job)
}

pub async fn get_bulk_job(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    known_id(&id, "bulk job")?;
    let job = bulk::get_bulk_job(&ctx.store, &caller, &id).await?;
    Reply::record(StatusCode::OK, &job, job.version)
}
