//! Automatic providers: POST /accounts/{id}/provision and POST /providers/{id}/sync.

use std::sync::Arc;

use lambda_http::Request;

use crate::error::ServiceResult;
use crate::http::request::{json, optional_json, path, staff};
use crate::http::Reply;
use crate::services::{provisioning, sync};
use crate::AppContext;

pub async fn provision_account(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let account_id = path(&request, "id")?;
    let input = json(&request)?;
    let done = provisioning::provision(
        &ctx.store,
        Some(ctx.connector()),
        &caller,
        &account_id,
        input,
    )
    .await?;
    let location = format!("/agreements/{}", done.agreement.id);
    Reply::created(&done, done.agreement.version, location)
}

pub async fn sync_provider(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let _: Option<serde_json::Map<String, serde_json::Value>> = optional_json(&request)?;
    let job = sync::request_provider_sync(&ctx.store, ctx.bulk_queue()?, &caller, &id).await?;
    Reply::job_accepted(&job)
}
