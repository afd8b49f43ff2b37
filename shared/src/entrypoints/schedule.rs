//! The scheduled entrypoint: an EventBridge schedule event in, a sync job queued for every
//! automatic provider.

use lambda_runtime::{service_fn, LambdaEvent};

use crate::config::{init_tracing, AppContext};
use crate::error::{Chain, ServiceError};
use crate::services::jobs::provider_sync::sync_all_providers;

/// Handles one schedule event (its content does not matter: the time to sync has come).
pub async fn handle_schedule(
    ctx: &AppContext,
    event: &serde_json::Value,
) -> Result<serde_json::Value, ServiceError> {
    let queue = ctx.bulk_queue()?;
    let jobs = sync_all_providers(&ctx.store, queue).await?;
    tracing::info!(jobs = jobs.len(), time = %event.get("time").and_then(|t| t.as_str()).unwrap_or(""), "provider syncs queued");
    Ok(serde_json::json!({"jobs": jobs.iter().map(|j| j.id.to_string()).collect::<Vec<_>>()}))
}

/// The whole main of the scheduled sync function. A failure is logged with its chain and
/// returned to Lambda as the error itself, so the invocation fails (and EventBridge retries).
pub async fn serve_scheduled_sync() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let ctx = AppContext::from_env().await?;
    ctx.bulk_queue()?;
    let ctx = &ctx;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handle_schedule(ctx, &event.payload).await.map_err(|e| {
                tracing::error!(error = %Chain(&e), "scheduled sync failed");
                lambda_runtime::Error::from(e)
            })
        },
    ))
    .await
}
