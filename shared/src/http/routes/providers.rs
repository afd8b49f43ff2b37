//! POST /providers, GET /providers/{id}, GET /providers.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::error::ServiceResult;
use crate::http::request::{json, path, principal, query, staff};
use crate::http::Reply;
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
