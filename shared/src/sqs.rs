//! The SQS entrypoint of the bulk worker: an SQS batch in, one chunk per message, and only the
//! messages that failed reported back (ReportBatchItemFailures), so the rest are deleted.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{service_fn, LambdaEvent};
use tracing::Instrument;

use crate::config::{init_tracing, AppContext};
use crate::connectors::ProviderConnector;
use crate::queue::{self, QueueMessage};
use crate::services::bulk::{run_chunk, BulkSettings, ChunkError};
use crate::services::sync::attest_agreement;

/// Handles a batch; never fails as a whole, so one bad message cannot hold back the others.
pub async fn handle_batch<C: ProviderConnector>(
    ctx: &AppContext,
    connector: &C,
    settings: BulkSettings,
    event: SqsEvent,
) -> SqsBatchResponse {
    let results = futures::future::join_all(
        event
            .records
            .iter()
            .map(|record| handle_message(ctx, connector, settings, record)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for (record, ok) in event.records.iter().zip(results) {
        if !ok {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// true when the message is done with (processed, or a duplicate of processed work).
async fn handle_message<C: ProviderConnector>(
    ctx: &AppContext,
    connector: &C,
    settings: BulkSettings,
    record: &SqsMessage,
) -> bool {
    let message_id = record.message_id.as_deref().unwrap_or("");
    let receives = record
        .attributes
        .get("ApproximateReceiveCount")
        .map(String::as_str)
        .unwrap_or("?");
    let span = tracing::info_span!("sqs_message", message_id, receives);
    async {
        let message = match queue::parse(record.body.as_deref().unwrap_or("")) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "unprocessable message; it will go to the dead-letter queue");
                return false;
            }
        };
        let queue = match ctx.bulk_queue() {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(error = %e, "worker misconfigured");
                return false;
            }
        };
        let outcome = match &message {
            QueueMessage::Job(job) => run_chunk(&ctx.store, queue, connector, settings, job)
                .await
                .map(|report| tracing::info!(job_id = %job.job_id, ?report, "message done")),
            QueueMessage::Attest(attest) => attest_agreement(&ctx.store, connector, attest)
                .await
                .map(|()| tracing::info!(agreement_id = %attest.agreement_id, "attestation done")),
        };
        match outcome {
            Ok(()) => true,
            Err(ChunkError::Poison(reason)) => {
                tracing::error!(%reason, "unprocessable message; it will go to the dead-letter queue");
                false
            }
            Err(ChunkError::Retry(reason)) => {
                tracing::warn!(%reason, "message failed; it will be redelivered");
                false
            }
        }
    }
    .instrument(span)
    .await
}

/// The whole main of the bulk worker.
pub async fn serve_bulk_worker() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let ctx = AppContext::from_env().await?;
    ctx.bulk_queue()?;
    let settings = BulkSettings::from_env();
    let ctx = &ctx;
    let connector = ctx.connector();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, std::convert::Infallible>(
            handle_batch(
                ctx,
                connector,
                settings.for_deadline(event.context.deadline()),
                event.payload,
            )
            .await,
        )
    }))
    .await
}
