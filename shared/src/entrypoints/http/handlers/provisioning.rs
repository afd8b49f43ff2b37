//! Provisioning: POST /accounts/{id}/provision.

use std::sync::Arc;

use lambda_http::Request;

use crate::entrypoints::http::request::{json, path, staff};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::services::provisioning;
use crate::AppContext;

pub async fn provision_account(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let account_id = path(&request, "id")?;
    let input = json(&request)?;
    let done = provisioning::provision(
        &ctx.store,
        ctx.connector(),
        ctx.follow(),
        &caller,
        &account_id,
        input,
    )
    .await?;
    let location = format!("/agreements/{}", done.agreement.id);
    Reply::created(&done, done.agreement.version, location)
}
