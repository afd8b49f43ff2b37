//! The scheduled entrypoints: EventBridge schedule events in; one queues a sync job for every
//! automatic provider, the other sweeps stalled jobs (resumes or ends them).

use lambda_runtime::{service_fn, LambdaEvent};

use crate::config::{init_tracing, AppContext};
use futures::future::BoxFuture;

use crate::error::{Chain, ServiceError, ServiceResult};
use crate::model::Instant;
use crate::services::jobs::provider_sync::sync_all_providers;
use crate::services::jobs::sweep::{sweep_jobs, SweepSettings};

/// What a scheduled function does with one event.
type Handler = for<'a> fn(
    &'a AppContext,
    &'a serde_json::Value,
) -> BoxFuture<'a, ServiceResult<serde_json::Value>>;

/// The main of a scheduled function: the context, `ready` (a function missing what it needs
/// fails at start, naming it), then `handle` for each event. A failure is logged with its
/// chain and returned to Lambda as the error itself, so the invocation fails (and EventBridge
/// retries).
async fn serve_schedule(
    what: &'static str,
    ready: fn(&AppContext) -> ServiceResult<()>,
    handle: Handler,
) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let ctx = AppContext::from_env().await?;
    ready(&ctx)?;
    let ctx = &ctx;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handle(ctx, &event.payload).await.map_err(|e| {
                tracing::error!(error = %Chain(&e), "{what} failed");
                lambda_runtime::Error::from(e)
            })
        },
    ))
    .await
}

/// Handles one schedule event (its content does not matter: the time to sync has come).
pub async fn handle_schedule(
    ctx: &AppContext,
    event: &serde_json::Value,
) -> Result<serde_json::Value, ServiceError> {
    let queue = ctx.bulk_queue()?;
    let can_sync = |p: &crate::model::Provider| ctx.can_sync(p);
    let jobs = sync_all_providers(&ctx.store, queue, &can_sync).await?;
    tracing::info!(jobs = jobs.len(), time = %event.get("time").and_then(|t| t.as_str()).unwrap_or(""), "provider syncs queued");
    Ok(serde_json::json!({"jobs": jobs.iter().map(|j| j.id.to_string()).collect::<Vec<_>>()}))
}

/// The whole main of the scheduled sync function.
pub async fn serve_scheduled_sync() -> Result<(), lambda_runtime::Error> {
    serve_schedule(
        "scheduled sync",
        |ctx| ctx.bulk_queue().map(|_| ()),
        |ctx, event| Box::pin(handle_schedule(ctx, event)),
    )
    .await
}

/// Handles one sweep: every stalled job resumed or failed.
pub async fn handle_sweep(
    ctx: &AppContext,
    settings: SweepSettings,
) -> Result<serde_json::Value, ServiceError> {
    let queue = ctx.bulk_queue()?;
    let report = sweep_jobs(&ctx.store, queue, settings, Instant::now()).await?;
    tracing::info!(
        resumed = report.resumed.len(),
        failed = report.failed.len(),
        "jobs swept"
    );
    serde_json::to_value(&report)
        .map_err(|e| ServiceError::because("the sweep's report could not be serialised", e))
}

/// The whole main of the job sweep.
pub async fn serve_job_sweep() -> Result<(), lambda_runtime::Error> {
    serve_schedule(
        "job sweep",
        |ctx| ctx.bulk_queue().map(|_| ()),
        |ctx, _| Box::pin(handle_sweep(ctx, SweepSettings::from_env())),
    )
    .await
}

/// The day a schedule event is for: its `time` (EventBridge's scheduled time, RFC 3339), or
/// today when it has none.
pub fn day_of(event: &serde_json::Value) -> crate::model::Day {
    event
        .get("time")
        .and_then(|t| t.as_str())
        .and_then(|t| t.get(..10))
        .and_then(crate::model::Day::parse)
        .unwrap_or_else(crate::model::Day::today)
}

/// Handles one daily reminder run: the reminders due on the event's day queued.
pub async fn handle_reminders(
    ctx: &AppContext,
    event: &serde_json::Value,
) -> Result<serde_json::Value, ServiceError> {
    let queue = ctx
        .email_queue
        .as_ref()
        .ok_or_else(|| ServiceError::internal("EMAIL_QUEUE_URL is not configured"))?;
    let run =
        crate::services::notices::queue_reminders(&ctx.store, queue, &ctx.reminders, day_of(event))
            .await?;
    serde_json::to_value(&run)
        .map_err(|e| ServiceError::because("the run's report could not be serialised", e))
}

/// The whole main of the daily reminder run.
pub async fn serve_reminders() -> Result<(), lambda_runtime::Error> {
    serve_schedule(
        "reminder run",
        |ctx| match ctx.email_queue {
            Some(_) => Ok(()),
            None => Err(ServiceError::internal("EMAIL_QUEUE_URL is not configured")),
        },
        |ctx, event| Box::pin(handle_reminders(ctx, event)),
    )
    .await
}

/// Handles one daily expiry run: templates past their `expires_on` ended, with their pending
/// agreements.
pub async fn handle_expiry(
    ctx: &AppContext,
    event: &serde_json::Value,
) -> Result<serde_json::Value, ServiceError> {
    let queue = ctx.bulk_queue()?;
    let run =
        crate::services::templates::expire_templates(&ctx.store, queue, day_of(event)).await?;
    tracing::info!(expired = run.expired.len(), "expiry run done");
    serde_json::to_value(&run)
        .map_err(|e| ServiceError::because("the run's report could not be serialised", e))
}

/// The whole main of the daily expiry run.
pub async fn serve_expiry() -> Result<(), lambda_runtime::Error> {
    serve_schedule(
        "expiry run",
        |ctx| ctx.bulk_queue().map(|_| ()),
        |ctx, event| Box::pin(handle_expiry(ctx, event)),
    )
    .await
}
