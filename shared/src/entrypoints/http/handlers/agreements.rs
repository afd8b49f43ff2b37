//! Agreements: create, read, list with filters, deactivate, history.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;
use serde::Deserialize;

use crate::entrypoints::http::request::{if_match, json, optional_json, path, query, staff};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::model::AgreementFilter;
use crate::services::agreements::{self, parse_status};
use crate::services::attestations;
use crate::services::{billing_contracts, filter_id};
use crate::AppContext;

pub async fn create_agreement(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let agreement = agreements::create_agreement(&ctx.store, &caller, json(&request)?).await?;
    Reply::created(
        &agreement,
        agreement.version,
        format!("/agreements/{}", agreement.id),
    )
}

pub async fn get_agreement(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let agreement = agreements::get_agreement(&ctx.store, &caller, &path(&request, "id")?).await?;
    let contracts = billing_contracts::contracts_of(&ctx.store, &agreement.id).await?;
    let mut body = serde_json::to_value(&agreement)
        .map_err(|e| crate::ServiceError::because("the answer could not be serialised", e))?;
    body["billing_contract_ids"] = serde_json::to_value(contracts)
        .map_err(|e| crate::ServiceError::because("the answer could not be serialised", e))?;
    Reply::record(StatusCode::OK, &body, agreement.version)
}

pub async fn list_agreements(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let q = query(
        &request,
        &[
            "account_id",
            "template_id",
            "provider_id",
            "status",
            "declined",
        ],
    )?;
    let filter = AgreementFilter {
        account_id: filter_id(q.get("account_id").as_deref(), "account_id")?,
        template_id: filter_id(q.get("template_id").as_deref(), "template_id")?,
        provider_id: filter_id(q.get("provider_id").as_deref(), "provider_id")?,
        status: q.get("status").as_deref().map(parse_status).transpose()?,
        declined: match q.get("declined").as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                return Err(crate::ServiceError::Validation(
                    "`declined` is `true` or `false`".into(),
                ))
            }
        },
        ..AgreementFilter::default()
    };
    let page = agreements::list_agreements(&ctx.store, &caller, &filter, &q.page()?).await?;
    Reply::json(StatusCode::OK, &page)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Deactivation {
    #[serde(default)]
    reason: Option<String>,
}

pub async fn deactivate_agreement(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let expected = if_match(&request)?;
    let body: Deactivation = optional_json(&request)?.unwrap_or_default();
    let agreement =
        agreements::deactivate_agreement(&ctx.store, &caller, &id, body.reason, expected).await?;
    Reply::record(StatusCode::OK, &agreement, agreement.version)
}

pub async fn agreement_history(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let page = query(&request, &[])?.page()?;
    Reply::json(
        StatusCode::OK,
        &agreements::agreement_history(&ctx.store, &caller, &id, &page).await?,
    )
}

/// POST /agreements/{id}/attestation: staff start Microsoft's enhanced attestation (or get
/// back the live one), optionally naming the signing contact.
pub async fn start_attestation(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let input: attestations::StartRequest = optional_json(&request)?.unwrap_or_default();
    let attestation = attestations::start_for_staff(
        &ctx.store,
        ctx.connector(),
        ctx.follow(),
        &caller,
        &id,
        input,
    )
    .await?;
    Reply::created(&attestation, 0, format!("/agreements/{id}")).map(without_etag)
}

/// POST /agreements/{id}/attestation/refresh: ask Partner Center now.
pub async fn refresh_attestation(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let _: Option<serde_json::Map<String, serde_json::Value>> = optional_json(&request)?;
    let attestation =
        attestations::refresh(&ctx.store, ctx.connector(), ctx.follow(), &caller, &id).await?;
    Reply::json(StatusCode::OK, &attestation)
}

/// An attestation is part of its agreement, not a versioned record of its own: no ETag.
pub fn without_etag(mut reply: Reply) -> Reply {
    reply.version = None;
    reply
}
