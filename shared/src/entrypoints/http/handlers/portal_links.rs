//! Portal links and e-mails staff ask for: POST/GET /accounts/{id}/portal-links,
//! POST /portal-links/{id}/revoke, POST /agreements/{id}/remind.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::request::{json, optional_json, path, portal_url, query, staff};
use crate::entrypoints::http::Reply;
use crate::error::{ServiceError, ServiceResult};
use crate::services::notices::{self, Delivery, Notifier};
use crate::services::portal_links;
use crate::AppContext;

pub async fn create_portal_link(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let account = path(&request, "id")?;
    let view = portal_links::create_link(
        &ctx.store,
        ctx.link_key().await?,
        ctx.email.as_ref(),
        &portal_url(&request),
        &caller,
        &account,
        json(&request)?,
    )
    .await?;
    Reply::created(&view, view.version, format!("/portal-links/{}", view.id))
}

pub async fn list_portal_links(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let account = path(&request, "id")?;
    let page = query(&request, &[])?.page()?;
    Reply::json(
        StatusCode::OK,
        &portal_links::list_links(&ctx.store, &caller, &account, &page).await?,
    )
}

pub async fn revoke_portal_link(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let _: Option<serde_json::Map<String, serde_json::Value>> = optional_json(&request)?;
    let view = portal_links::revoke_link(&ctx.store, &caller, &id).await?;
    Reply::record(StatusCode::OK, &view, view.version)
}

pub async fn remind_agreement(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let _: Option<serde_json::Map<String, serde_json::Value>> = optional_json(&request)?;
    let url = ctx
        .email()?
        .portal_url
        .clone()
        .unwrap_or_else(|| portal_url(&request));
    let notifier = Notifier {
        store: &ctx.store,
        email: ctx.email()?,
        key: ctx.link_key().await?,
        portal_url: &url,
    };
    match notices::remind_now(notifier, &caller, &id).await? {
        Delivery::Sent { to, at, .. } => Reply::json(
            StatusCode::OK,
            &serde_json::json!({ "sent_to": to, "sent_at": at }),
        ),
        other => Err(ServiceError::internal(format!(
            "a reminder ended as {other:?}"
        ))),
    }
}
