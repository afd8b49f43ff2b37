//! Bulk jobs: POST /agreement-templates/{id}/create-agreements queues one, GET /bulk-jobs/{id}
//! shows its progress, GET /bulk-jobs lists them, POST /bulk-jobs/{id}/cancel ends one.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::request::{optional_json, path, query, staff};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::model::{JobFilter, JobKind, JobStatus};
use crate::services::jobs::{self, create_agreements};
use crate::services::{filter_id, known_id};
use crate::AppContext;

/// The optional body of "Create Agreements".
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOptions {
    /// E-mail each created agreement's signing contact a portal link.
    #[serde(default)]
    notify: bool,
}

pub async fn create_agreements(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let options: CreateOptions = optional_json(&request)?.unwrap_or_default();
    let queue = ctx.bulk_queue()?;
    let job =
        create_agreements::start_create_agreements(&ctx.store, queue, &caller, &id, options.notify)
            .await?;
    Reply::job_accepted(&job)
}

pub async fn get_bulk_job(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    known_id(&id, "bulk job")?;
    let job = jobs::get_bulk_job(&ctx.store, &caller, &id).await?;
    Reply::record(StatusCode::OK, &job, job.version)
}

/// GET /bulk-jobs: jobs newest first; `template_id`, `status`, `kind` filter.
pub async fn list_bulk_jobs(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let q = query(&request, &["template_id", "status", "kind"])?;
    let filter = JobFilter {
        template_id: filter_id(q.get("template_id").as_deref(), "template_id")?,
        status: q
            .get("status")
            .map(|raw| {
                JobStatus::parse(&raw).ok_or_else(|| {
                    crate::ServiceError::Validation(
                        "`status` is one of `queued`, `running`, `completed`, `failed`, `cancelled`"
                            .into(),
                    )
                })
            })
            .transpose()?,
        kind: q
            .get("kind")
            .map(|raw| {
                JobKind::parse(&raw).ok_or_else(|| {
                    crate::ServiceError::Validation(
                        "`kind` is one of `create_agreements`, `provider_sync`, `import_provider_accounts`"
                            .into(),
                    )
                })
            })
            .transpose()?,
    };
    let page = jobs::list_bulk_jobs(&ctx.store, &caller, &filter, &q.page()?).await?;
    Reply::json(StatusCode::OK, &page)
}

/// POST /bulk-jobs/{id}/cancel: 200 with the cancelled job; 409 when it has ended.
pub async fn cancel_bulk_job(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let _: Option<serde_json::Map<String, serde_json::Value>> = optional_json(&request)?;
    let job = jobs::cancel_bulk_job(&ctx.store, &caller, &id).await?;
    Reply::record(StatusCode::OK, &job, job.version)
}
