//! Providers: POST /providers, GET /providers/{id}, GET /providers, and POST
//! /providers/{id}/sync, which queues a sync of an automatic provider.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::request::{
    if_match, json, optional_json, path, principal, query, staff,
};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::services::jobs::provider_sync;
use crate::services::providers;
use crate::AppContext;

pub async fn create_provider(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let provider = providers::create_provider(&ctx.store, &caller, json(&request)?).await?;
    Reply::created(
        &provider,
        provider.version,
        format!("/providers/{}", provider.id),
    )
}

pub async fn get_provider(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = principal(&request)?;
    let provider = providers::get_provider(&ctx.store, &caller, &path(&request, "id")?).await?;
    Reply::record(StatusCode::OK, &provider, provider.version)
}

pub async fn list_providers(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let page = query(&request, &[])?.page()?;
    Reply::json(
        StatusCode::OK,
        &providers::list_providers(&ctx.store, &caller, &page).await?,
    )
}

pub async fn sync_provider(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let _: Option<serde_json::Map<String, serde_json::Value>> = optional_json(&request)?;
    let queue = ctx.bulk_queue()?;
    let can_sync = |p: &crate::model::Provider| ctx.can_sync(p);
    let job =
        provider_sync::request_provider_sync(&ctx.store, queue, &caller, &id, &can_sync).await?;
    Reply::job_accepted(&job)
}

/// PATCH /providers/{id}: changes a provider's writable fields (If-Match honoured).
pub async fn update_provider(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let expected = if_match(&request)?;
    let provider =
        providers::update_provider(&ctx.store, &caller, &id, json(&request)?, expected).await?;
    Reply::record(StatusCode::OK, &provider, provider.version)
}
