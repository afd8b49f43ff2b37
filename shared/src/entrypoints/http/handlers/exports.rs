//! Exports: POST /exports queues one, GET /exports/{id} says how it went and, once completed,
//! where to download it.

use std::sync::Arc;

use http::StatusCode;
use lambda_http::Request;

use crate::entrypoints::http::request::{json, path, staff};
use crate::entrypoints::http::Reply;
use crate::error::ServiceResult;
use crate::model::NewExport;
use crate::services::exports;
use crate::services::known_id;
use crate::AppContext;

pub async fn create_export(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let input: NewExport = json(&request)?;
    let queue = ctx.export_queue()?;
    let export = exports::start_export(&ctx.store, queue, &caller, input).await?;
    let mut reply = Reply::json(
        StatusCode::ACCEPTED,
        &serde_json::json!({"export_id": export.id, "status": export.status}),
    )?;
    reply.location = Some(format!("/exports/{}", export.id));
    Ok(reply)
}

pub async fn get_export(ctx: Arc<AppContext>, request: Request) -> ServiceResult<Reply> {
    let caller = staff(&request)?;
    let id = path(&request, "id")?;
    known_id(&id, "export")?;
    let bucket = ctx.exports()?;
    let view = exports::get_export(&ctx.store, bucket, &caller, &id).await?;
    Reply::json(StatusCode::OK, &view)
}
