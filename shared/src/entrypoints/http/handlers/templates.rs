//! Agreement templates: create, read, list, PATCH, activate, deactivate.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::request::{if_match, json, optional_json, path, query, staff};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::model::TemplateState;
use crate::services::templates::{self, TemplateFilter};
use crate::AppContext;

pub async fn create_template(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let template = templates::create_template(&ctx.store, &caller, json(&request)?).await?;
    Reply::created(
        &template,
        template.version,
        format!("/agreement-templates/{}", template.id),
    )
}

pub async fn get_template(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let template = templates::get_template(&ctx.store, &caller, &path(&request, "id")?).await?;
    Reply::record(StatusCode::OK, &template, template.version)
}

pub async fn list_templates(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let q = query(&request, &["provider_id", "state"])?;
    let filter = TemplateFilter {
        provider_id: q.get("provider_id"),
        state: q.get("state"),
    };
    let page = templates::list_templates(&ctx.store, &caller, &filter, &q.page()?).await?;
    Reply::json(StatusCode::OK, &page)
}

pub async fn update_template(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let expected = if_match(&request)?;
    let template =
        templates::update_template(&ctx.store, &caller, &id, json(&request)?, expected).await?;
    Reply::record(StatusCode::OK, &template, template.version)
}

async fn set_state(
    ctx: Arc<AppContext>,
    request: Request,
    state: TemplateState,
) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let expected = if_match(&request)?;
    // The route needs no fields; a body, if sent, must still be an empty JSON object.
    let _: Option<serde_json::Map<String, serde_json::Value>> = optional_json(&request)?;
    let template = templates::set_template_state(&ctx.store, &caller, &id, state, expected).await?;
    Reply::record(StatusCode::OK, &template, template.version)
}

pub async fn activate_template(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    set_state(ctx, request, TemplateState::Active).await
}

pub async fn deactivate_template(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    set_state(ctx, request, TemplateState::Inactive).await
}
