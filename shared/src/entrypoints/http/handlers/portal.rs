//! The customer's routes: GET /portal/agreements, GET /portal/agreements/{id},
//! POST /portal/agreements/{id}/confirm, and the public page GET /portal.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::request::{optional_json, origin, path, principal, query};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::services::portal::{self, Origin};
use crate::AppContext;

/// The self-service page: static, holds no data, calls the routes above with the customer's token.
pub const PAGE: &str = include_str!("../portal.html");

pub async fn list_own_agreements(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = principal(&request)?;
    let page = query(&request, &[])?.page()?;
    Reply::json(
        StatusCode::OK,
        &portal::list_own_agreements(&ctx.store, &caller, &page).await?,
    )
}

pub async fn get_own_agreement(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = principal(&request)?;
    let found = portal::get_own_agreement(&ctx.store, &caller, &path(&request, "id")?).await?;
    Reply::record(StatusCode::OK, &found, found.agreement.version)
}

pub async fn confirm_agreement(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = principal(&request)?;
    let id = path(&request, "id")?;
    let _: Option<serde_json::Map<String, serde_json::Value>> = optional_json(&request)?;
    let seen = origin(&request);
    let from = Origin {
        source_ip: seen.source_ip,
        user_agent: seen.user_agent,
    };
    let confirmed = portal::confirm_agreement(
        &ctx.store,
        ctx.bulk_queue.as_ref(),
        ctx.email_queue.as_ref(),
        &caller,
        &id,
        &from,
    )
    .await?;
    Reply::record(StatusCode::OK, &confirmed, confirmed.agreement.version)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Decline {
    #[serde(default)]
    reason: Option<String>,
}

pub async fn decline_agreement(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = principal(&request)?;
    let id = path(&request, "id")?;
    let body: Decline = optional_json(&request)?.unwrap_or_default();
    let declined = portal::decline_agreement(&ctx.store, &caller, &id, body.reason).await?;
    Reply::record(StatusCode::OK, &declined, declined.agreement.version)
}

/// POST /portal/agreements/{id}/attestation: the customer gets Microsoft's acceptance link.
pub async fn start_attestation(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = principal(&request)?;
    let id = path(&request, "id")?;
    let _: Option<serde_json::Map<String, serde_json::Value>> = optional_json(&request)?;
    let attestation =
        portal::start_attestation(&ctx.store, ctx.connector(), ctx.follow(), &caller, &id).await?;
    Reply::created(&attestation, 0, format!("/portal/agreements/{id}"))
        .map(super::agreements::without_etag)
}

pub async fn portal_page(_ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    page(request).await
}

/// The page itself: it needs no context (see `serve_stateless`).
pub async fn page(_request: Request) -> ServiceResult<Reply> {
    Ok(Reply::html(PAGE.to_string()))
}
