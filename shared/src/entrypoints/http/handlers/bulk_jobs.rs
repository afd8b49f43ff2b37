//! Bulk jobs: POST /agreement-templates/{id}/create-agreements queues one, GET /bulk-jobs/{id}
//! shows its progress.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::request::{optional_json, path, staff};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::services::jobs::{self, create_agreements};
use crate::services::known_id;
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
