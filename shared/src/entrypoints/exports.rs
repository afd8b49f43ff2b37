//! The export queue's worker: each message names one export, written whole by one attempt
//! (services::exports). A message that fails comes back after its visibility timeout; on its
//! last receive the export is failed with the reason, and the message goes to the dead-letter
//! queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{service_fn, LambdaEvent};
use tracing::Instrument;

use crate::config::{init_tracing, AppContext};
use crate::entrypoints::sqs::receive_count;
use crate::error::Chain;
use crate::queue::ExportMessage;
use crate::services::exports::{self, ExportsBucket};

/// The export queue's `maxReceiveCount` (`EXPORT_MAX_RECEIVES`, 1–1000; 3 when unset).
fn max_receives() -> u32 {
    std::env::var("EXPORT_MAX_RECEIVES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|v| (1..=1000).contains(v))
        .unwrap_or(3)
}

/// Handles a batch one message at a time (one export's part buffer in memory at once).
pub async fn handle_batch(
    ctx: &AppContext,
    bucket: &ExportsBucket,
    deadline: std::time::SystemTime,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        if !handle_message(ctx, bucket, deadline, record).await {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// true when the message is done with.
async fn handle_message(
    ctx: &AppContext,
    bucket: &ExportsBucket,
    deadline: std::time::SystemTime,
    record: &SqsMessage,
) -> bool {
    let message_id = record.message_id.as_deref().unwrap_or("");
    let receives = receive_count(record);
    let span = tracing::info_span!("export_message", message_id, receives);
    async {
        let message = match ExportMessage::parse(record.body.as_deref().unwrap_or("")) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %Chain(&e), "unprocessable message; it will go to the dead-letter queue");
                return false;
            }
        };
        match exports::run_export(&ctx.store, bucket, &message.export_id, deadline).await {
            Ok(outcome) => {
                tracing::info!(?outcome, export_id = message.export_id, "message done");
                true
            }
            Err(e) if e.is_poison() => {
                tracing::error!(error = %Chain(&e), "unprocessable message; it will go to the dead-letter queue");
                false
            }
            Err(e) if receives >= max_receives() => {
                let reason = format!("gave up after {receives} attempts: {}", Chain(&e));
                tracing::error!(%reason, "export failed on its message's last receive");
                if let Err(e) = exports::give_up(&ctx.store, &message.export_id, &reason).await {
                    tracing::error!(error = %Chain(&e), "the export could not be marked failed");
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %Chain(&e), "export attempt failed; the message will be redelivered");
                false
            }
        }
    }
    .instrument(span)
    .await
}

/// The whole main of the export worker.
pub async fn serve_export_worker() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let ctx = AppContext::from_env().await?;
    let bucket = ctx.exports()?.clone();
    let ctx = &ctx;
    let bucket = &bucket;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        // Boxed: the export's future nests deep enough to overflow the compiler's layout depth
        // when it is inlined into the runtime's.
        Ok::<_, std::convert::Infallible>(
            Box::pin(handle_batch(
                ctx,
                bucket,
                event.context.deadline(),
                event.payload,
            ))
            .await,
        )
    }))
    .await
}
