//! The e-mail queue's sender: each message one step of one agreement's e-mails, sent through
//! SES no faster than this instance's share of `EMAIL_SEND_RATE`, each step at most once.
//!
//! A message whose e-mail SES did not send (throttled, paused) goes back to the queue, and so
//! do the rest of its batch, to back off; one that cannot be read goes to the dead-letter queue
//! after its receives; on its last receive a step that still could not be sent is recorded as
//! failed (and counted on its job), so a job's e-mail counts always add up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{service_fn, LambdaEvent};
use tokio::sync::Mutex;
use tokio::time::Instant as Clock;
use tracing::Instrument;

use crate::config::{init_tracing, AppContext};
use crate::error::{Chain, ServiceError};
use crate::model::{Id, NoticeStep};
use crate::queue::NoticeMessage;
use crate::services::notices::{Delivery, Notifier, RetryLater};

/// The e-mail queue's maxReceiveCount (template.yaml): on that receive a step is given up.
pub const MAX_RECEIVES: u32 = 5;

/// Paces sends: one every `interval`, across the invocations of an instance. A send waits for
/// its slot; slots are handed out in the order sends ask for them.
pub struct Pace {
    interval: Duration,
    next: Mutex<Option<Clock>>,
}

impl Pace {
    pub fn per_second(rate: f64) -> Pace {
        Pace {
            interval: Duration::from_secs_f64(1.0 / rate.max(0.001)),
            next: Mutex::new(None),
        }
    }

    /// Waits for this send's slot.
    pub async fn wait(&self) {
        let mut next = self.next.lock().await;
        let now = Clock::now();
        let slot = next.filter(|n| *n > now).unwrap_or(now);
        *next = Some(slot + self.interval);
        drop(next);
        tokio::time::sleep_until(slot).await;
    }
}

enum Outcome {
    Done,
    /// Back to the queue; the rest of the batch too.
    BackOff,
    Failed,
}

/// Sends a batch's e-mails side by side, each in its slot of the pace (so the instance keeps
/// its share of the rate however long SES and the table take to answer); reports the ones to
/// retry. Once SES does not send one, every message whose slot has not come yet backs off.
pub async fn handle_batch(
    notifier: Notifier<'_>,
    pace: &Pace,
    event: SqsEvent,
) -> SqsBatchResponse {
    let backing_off = AtomicBool::new(false);
    let outcomes = futures::future::join_all(
        event
            .records
            .iter()
            .map(|record| handle_message(notifier, pace, &backing_off, record)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for (record, outcome) in event.records.iter().zip(outcomes) {
        if !matches!(outcome, Outcome::Done) {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn handle_message(
    notifier: Notifier<'_>,
    pace: &Pace,
    backing_off: &AtomicBool,
    record: &SqsMessage,
) -> Outcome {
    let message_id = record.message_id.as_deref().unwrap_or("");
    let receives = super::sqs::receive_count(record);
    let span = tracing::info_span!("email_message", message_id, receives);
    async {
        let parsed = NoticeMessage::parse(record.body.as_deref().unwrap_or(""))
            .map_err(|e| e.to_string())
            .and_then(|m| {
                let agreement = Id::parse(&m.agreement_id).ok_or("bad agreement_id")?;
                let step = NoticeStep::parse(&m.step).ok_or("bad step")?;
                let job = match &m.job_id {
                    Some(j) => Some(Id::parse(j).ok_or("bad job_id")?),
                    None => None,
                };
                Ok::<_, String>((agreement, step, job))
            });
        let (agreement, step, job) = match parsed {
            Ok(p) => p,
            Err(why) => {
                tracing::error!(%why, "unprocessable message; it will go to the dead-letter queue");
                return Outcome::Failed;
            }
        };
        pace.wait().await;
        if backing_off.load(Ordering::Relaxed) {
            return Outcome::BackOff;
        }
        match notifier.deliver(&agreement, &step, job.as_ref()).await {
            Ok(delivery) => {
                if let Delivery::NotWanted(why) = &delivery {
                    tracing::info!(%why, step = %step, "e-mail no longer wanted");
                }
                Outcome::Done
            }
            Err(e) if receives >= MAX_RECEIVES => {
                let reason = format!("gave up after {receives} attempts: {}", Chain(&e));
                tracing::error!(%reason, "e-mail failed on its last receive");
                if let Err(e) = notifier.give_up(&agreement, &step, job.as_ref(), &reason).await {
                    tracing::error!(error = %Chain(&e), "the e-mail could not be recorded as failed");
                }
                Outcome::Failed
            }
            Err(e @ RetryLater::NotSent(_)) => {
                tracing::warn!(error = %Chain(&e), "SES did not send; backing off");
                backing_off.store(true, Ordering::Relaxed);
                Outcome::BackOff
            }
            Err(e) => {
                tracing::warn!(error = %Chain(&e), "e-mail will be tried again");
                Outcome::Failed
            }
        }
    }
    .instrument(span)
    .await
}

/// The whole main of the e-mail sender.
pub async fn serve_email_sender() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let ctx = AppContext::from_env().await?;
    let email = ctx.email()?;
    let portal_url = email
        .portal_url
        .clone()
        .ok_or_else(|| ServiceError::internal("PORTAL_URL is not configured"))?;
    let pace = Pace::per_second(email.per_second);
    let (ctx, pace, portal_url) = (&ctx, &pace, &portal_url);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        // Without the key no link can be signed: the whole batch fails and comes back.
        let notifier = Notifier {
            store: &ctx.store,
            email,
            key: ctx.link_key().await?,
            portal_url,
        };
        Ok::<_, lambda_runtime::Error>(handle_batch(notifier, pace, event.payload).await)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sends_waiting_side_by_side_get_slots_one_interval_apart() {
        let pace = Pace::per_second(10.0);
        let start = Clock::now();
        let slots = futures::future::join_all((0..5).map(|_| async {
            pace.wait().await;
            (Clock::now() - start).as_millis()
        }))
        .await;
        assert_eq!(slots, [0, 100, 200, 300, 400]);
        // A send asking after the last slot has passed goes at once, not a slot later.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let asked = Clock::now();
        pace.wait().await;
        assert_eq!(Clock::now(), asked);
    }
}
