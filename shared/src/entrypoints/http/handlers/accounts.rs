//! Accounts and contacts: POST/GET /accounts, GET /accounts/{id}, POST/GET /accounts/{id}/contacts.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::request::{json, path, principal, query, staff};
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
