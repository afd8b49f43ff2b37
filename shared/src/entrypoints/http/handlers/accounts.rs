//! Accounts and contacts: POST/GET /accounts, GET /accounts/{id}, POST/GET /accounts/{id}/contacts.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::request::{if_match, json, path, principal, query, staff};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::services::accounts;
use crate::AppContext;

pub async fn create_account(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let account = accounts::create_account(&ctx.store, &caller, json(&request)?).await?;
    Reply::created(
        &account,
        account.version,
        format!("/accounts/{}", account.id),
    )
}

pub async fn get_account(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = principal(&request)?;
    let account = accounts::get_account(&ctx.store, &caller, &path(&request, "id")?).await?;
    Reply::record(StatusCode::OK, &account, account.version)
}

pub async fn list_accounts(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let page = query(&request, &[])?.page()?;
    Reply::json(
        StatusCode::OK,
        &accounts::list_accounts(&ctx.store, &caller, &page).await?,
    )
}

pub async fn create_contact(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let account_id = path(&request, "id")?;
    let contact =
        accounts::create_contact(&ctx.store, &caller, &account_id, json(&request)?).await?;
    Reply::created(
        &contact,
        contact.version,
        format!("/accounts/{}/contacts/{}", contact.account_id, contact.id),
    )
}

pub async fn list_contacts(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let page = query(&request, &[])?.page()?;
    let account_id = path(&request, "id")?;
    Reply::json(
        StatusCode::OK,
        &accounts::list_contacts(&ctx.store, &caller, &account_id, &page).await?,
    )
}

/// PATCH /accounts/{id}: changes an account's writable fields (If-Match honoured).
pub async fn update_account(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    let expected = if_match(&request)?;
    let account =
        accounts::update_account(&ctx.store, &caller, &id, json(&request)?, expected).await?;
    Reply::record(StatusCode::OK, &account, account.version)
}

/// PATCH /accounts/{id}/contacts/{contact_id}: changes a contact's writable fields, or makes it
/// the account's primary contact (If-Match honoured).
pub async fn update_contact(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let account_id = path(&request, "id")?;
    let contact_id = path(&request, "contact_id")?;
    let expected = if_match(&request)?;
    let contact = accounts::update_contact(
        &ctx.store,
        &caller,
        &account_id,
        &contact_id,
        json(&request)?,
        expected,
    )
    .await?;
    Reply::record(StatusCode::OK, &contact, contact.version)
}
