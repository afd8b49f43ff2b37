//! The bulk queue's worker: an SQS batch in, each message parsed into one typed `JobMessage`
//! and handed to its job (a chunk of "Create Agreements" or of a provider sync, or one
//! agreement's attestation), and only the messages that failed reported back
//! (ReportBatchItemFailures) so that the rest are deleted. A failed message comes back after its
//! visibility timeout; one that can never be processed goes to the dead-letter queue once its
//! receives are spent.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{service_fn, LambdaEvent};
use tracing::Instrument;

use crate::config::{init_tracing, AppContext};
use crate::connectors::ProviderConnector;
use crate::error::Chain;
use crate::queue::{self, BulkQueue};
use crate::services::jobs::{self, JobError, JobSettings};

/// Handles a batch; never fails as a whole, so one bad message cannot hold back the others.
pub async fn handle_batch<C: ProviderConnector>(
    ctx: &AppContext,
    connector: &C,
    settings: JobSettings,
    event: SqsEvent,
) -> SqsBatchResponse {
    let queue = match ctx.bulk_queue() {
        Ok(q) => Some(q),
        Err(e) => {
            tracing::error!(error = %Chain(&e), "worker misconfigured");
            None
        }
    };
    let results = futures::future::join_all(
        event
            .records
            .iter()
            .map(|record| handle_message(ctx, queue, connector, settings, record)),
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

/// How often SQS has delivered the message (1 on its first delivery).
pub fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
}

/// true when the message is done with (processed, or a duplicate of processed work).
async fn handle_message<C: ProviderConnector>(
    ctx: &AppContext,
    queue: Option<&BulkQueue>,
    connector: &C,
    settings: JobSettings,
    record: &SqsMessage,
) -> bool {
    let message_id = record.message_id.as_deref().unwrap_or("");
    let receives = receive_count(record);
    let span = tracing::info_span!("sqs_message", message_id, receives);
    async {
        let Some(queue) = queue else {
            return false;
        };
        let message = match queue::parse(record.body.as_deref().unwrap_or("")) {
            Ok(message) => message,
            Err(e) => {
                let e = JobError::from(e);
                tracing::error!(error = %Chain(&e), "unprocessable message; it will go to the dead-letter queue");
                return false;
            }
        };
        match jobs::handle(
            &ctx.store,
            queue,
            ctx.email_queue.as_ref(),
            connector,
            settings,
            &message,
        ).await {
            Ok(done) => {
                tracing::info!(?done, "message done");
                true
            }
            Err(e) if e.is_poison() => {
                tracing::error!(error = %Chain(&e), "unprocessable message; it will go to the dead-letter queue");
                false
            }
            Err(e) if receives >= settings.max_receives => {
                // The queue will not deliver it again: end its work as failed, with why.
                let reason = format!(
                    "gave up after {receives} attempts: {}",
                    Chain(&e)
                );
                tracing::error!(%reason, "message failed on its last receive; it will go to the dead-letter queue");
                if let Err(e) = jobs::give_up(&ctx.store, &message, &reason).await {
                    tracing::error!(error = %Chain(&e), "the job could not be marked failed; the sweep will");
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %Chain(&e), "message failed; it will be redelivered");
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
    let settings = JobSettings::from_env();
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
