//! Billing contracts: create, read (with agreement ids), tag and untag agreements.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;
use serde::Deserialize;

use crate::entrypoints::http::request::{json, path, query, staff};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::services::billing_contracts;
use crate::AppContext;

pub async fn create_contract(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let c = billing_contracts::create_contract(&ctx.store, &caller, json(&request)?).await?;
    let view = billing_contracts::ContractView {
        contract: c,
        agreement_ids: Vec::new(),
    };
    let location = format!("/billing-contracts/{}", view.contract.id);
    Reply::created(&view, view.contract.version, location)
}

pub async fn get_contract(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let view = billing_contracts::get_contract(&ctx.store, &caller, &path(&request, "id")?).await?;
    Reply::record(StatusCode::OK, &view, view.contract.version)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tag {
    agreement_id: String,
}

pub async fn tag_agreement(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let tag: Tag = json(&request)?;
    let view =
        billing_contracts::tag_agreement(&ctx.store, &caller, &id, &tag.agreement_id).await?;
    Reply::record(StatusCode::OK, &view, view.contract.version)
}

pub async fn untag_agreement(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let agreement_id = path(&request, "agreement_id")?;
    billing_contracts::untag_agreement(&ctx.store, &caller, &id, &agreement_id).await?;
    Ok(Reply::no_content())
}

/// GET /billing-contracts?account_id=…: an account's billing contracts.
pub async fn list_contracts(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let q = query(&request, &["account_id"])?;
    let page = billing_contracts::list_contracts(
        &ctx.store,
        &caller,
        q.get("account_id").as_deref(),
        &q.page()?,
    )
    .await?;
    Reply::json(StatusCode::OK, &page)
}
