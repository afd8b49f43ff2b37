//! Agreement templates: create, read, list, PATCH, activate, deactivate.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::request::{if_match, json, optional_json, path, query, staff};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::model::{TemplateState, TemplateView};
use crate::services::templates::{self, TemplateFilter};
use crate::AppContext;

pub async fn create_template(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let template = templates::create_template(&ctx.store, &caller, json(&request)?).await?;
    Reply::created(
        &TemplateView::from(&template),
        template.version,
        format!("/agreement-templates/{}", template.id),
    )
}

pub async fn get_template(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let template = templates::get_template(&ctx.store, &caller, &path(&request, "id")?).await?;
    Reply::record(
        StatusCode::OK,
        &TemplateView::from(&template),
        template.version,
    )
}

pub async fn list_templates(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let q = query(&request, &["provider_id", "state"])?;
    let filter = TemplateFilter {
        provider_id: q.get("provider_id"),
        state: q.get("state"),
    };
    let page = templates::list_templates(&ctx.store, &caller, &filter, &q.page()?).await?;
    let items: Vec<TemplateView> = page.items.iter().map(TemplateView::from).collect();
    Reply::json(
        StatusCode::OK,
        &serde_json::json!({"items": items, "next_cursor": page.next_cursor}),
    )
}

pub async fn update_template(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let expected = if_match(&request)?;
    let template =
        templates::update_template(&ctx.store, &caller, &id, json(&request)?, expected).await?;
    Reply::record(
        StatusCode::OK,
        &TemplateView::from(&template),
        template.version,
    )
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
    Reply::record(
        StatusCode::OK,
        &TemplateView::from(&template),
        template.version,
    )
}

pub async fn activate_template(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    set_state(ctx, request, TemplateState::Active).await
}

pub async fn deactivate_template(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    set_state(ctx, request, TemplateState::Inactive).await
}

pub async fn publish_template_version(
    ctx: Arc<AppContext>,
    request: Request,
) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let expected = if_match(&request)?;
    let input = json(&request)?;
    let queue = ctx.bulk_queue()?;
    let published =
        templates::publish_version(&ctx.store, queue, &caller, &id, input, expected).await?;
    let body = serde_json::json!({
        "template": TemplateView::from(&published.template),
        "job_id": published.job_id,
    });
    Reply::created(
        &body,
        published.template.version,
        format!("/agreement-templates/{id}/versions"),
    )
}

pub async fn list_template_versions(
    ctx: Arc<AppContext>,
    request: Request,
) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let q = query(&request, &[])?;
    let page =
        templates::list_versions(&ctx.store, &caller, &path(&request, "id")?, &q.page()?).await?;
    Reply::json(StatusCode::OK, &page)
}
