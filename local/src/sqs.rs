//! Local SQS: creates the template's queues, and runs each SQS event source mapping with
//! Lambda's semantics (poll, invoke with an `SqsEvent`, delete what succeeded).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::operation::create_queue::CreateQueueError;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::intrinsics::{QueueAddress, REGION};
use crate::lambda::{InvokeError, Pool};
use crate::template::Queue;

/// Lambda's default number of concurrent pollers (here: concurrent invocations) per mapping.
pub const DEFAULT_POLLERS: u32 = 2;
/// How long a poller waits before retrying after SQS refused a call.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Why the queues could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("SQS {operation} for queue {queue}: {message}")]
pub struct QueueSetupError {
    operation: &'static str,
    queue: String,
    message: String,
}

fn setup_error<E: std::error::Error>(
    operation: &'static str,
    queue: &str,
    error: E,
) -> QueueSetupError {
    QueueSetupError {
        operation,
        queue: queue.to_string(),
        message: DisplayErrorContext(error).to_string(),
    }
}

/// The local name of a template queue.
pub fn queue_name(prefix: &str, queue: &Queue) -> String {
    let name = format!("{prefix}-{}", queue.logical_id);
    if queue.fifo {
        format!("{name}.fifo")
    } else {
        name
    }
}

/// Creates (or reuses and updates) every queue, dead-letter queues first, and returns their
/// addresses by logical id. `queues` must be in the template's dependency order.
pub async fn ensure_queues(
    client: &aws_sdk_sqs::Client,
    queues: &[Queue],
    prefix: &str,
    visibility_timeout: u32,
) -> Result<BTreeMap<String, QueueAddress>, QueueSetupError> {
    let mut addresses: BTreeMap<String, QueueAddress> = BTreeMap::new();
    for queue in queues {
        let name = queue_name(prefix, queue);
        let mut attributes = HashMap::from([(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.to_string(),
        )]);
        if let Some(redrive) = &queue.redrive {
            let dead_letter =
                addresses
                    .get(&redrive.dead_letter_queue)
                    .ok_or_else(|| QueueSetupError {
                        operation: "CreateQueue",
                        queue: name.clone(),
                        message: format!(
                            "dead-letter queue {} was not created first",
                            redrive.dead_letter_queue
                        ),
                    })?;
            attributes.insert(
                QueueAttributeName::RedrivePolicy,
                json!({
                    "deadLetterTargetArn": dead_letter.arn,
                    "maxReceiveCount": redrive.max_receive_count,
                })
                .to_string(),
            );
        }
        if queue.content_based_deduplication {
            attributes.insert(QueueAttributeName::ContentBasedDeduplication, "true".into());
        }
        let mut create_attributes = attributes.clone();
        if queue.fifo {
            create_attributes.insert(QueueAttributeName::FifoQueue, "true".into());
        }
        let url = match client
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(create_attributes))
            .send()
            .await
        {
            Ok(created) => created.queue_url.unwrap_or_default(),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(CreateQueueError::QueueNameExists(_))
                ) =>
            {
                client
                    .get_queue_url()
                    .queue_name(&name)
                    .send()
                    .await
                    .map_err(|e| setup_error("GetQueueUrl", &name, e))?
                    .queue_url
                    .unwrap_or_default()
            }
            Err(error) => return Err(setup_error("CreateQueue", &name, error)),
        };
        // An existing queue keeps the attributes it was made with unless they are set again.
        client
            .set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| setup_error("SetQueueAttributes", &name, e))?;
        let arn = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| setup_error("GetQueueAttributes", &name, e))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| QueueSetupError {
                operation: "GetQueueAttributes",
                queue: name.clone(),
                message: "no QueueArn in the answer".into(),
            })?;
        tracing::info!(queue = %name, %url, "queue ready");
        addresses.insert(queue.logical_id.clone(), QueueAddress { name, url, arn });
    }
    Ok(addresses)
}

/// Builds the event Lambda sends for a batch of SQS messages.
pub fn build_event(messages: &[Message], queue_arn: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|message| {
            let attributes: Map<String, Value> = message
                .attributes()
                .map(|attributes| {
                    attributes
                        .iter()
                        .map(|(name, value)| {
                            (name.as_str().to_string(), Value::String(value.clone()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let message_attributes: Map<String, Value> = message
                .message_attributes()
                .map(|attributes| {
                    attributes
                        .iter()
                        .map(|(name, value)| {
                            let mut attribute = Map::new();
                            if let Some(text) = value.string_value() {
                                attribute.insert("stringValue".into(), json!(text));
                            }
                            if let Some(blob) = value.binary_value() {
                                attribute.insert(
                                    "binaryValue".into(),
                                    json!(STANDARD.encode(blob.as_ref())),
                                );
                            }
                            attribute.insert(
                                "stringListValues".into(),
                                json!(value.string_list_values()),
                            );
                            let binary_list: Vec<String> = value
                                .binary_list_values()
                                .iter()
                                .map(|b| STANDARD.encode(b.as_ref()))
                                .collect();
                            attribute.insert("binaryListValues".into(), json!(binary_list));
                            attribute.insert("dataType".into(), json!(value.data_type()));
                            (name.clone(), Value::Object(attribute))
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": message.message_id(),
                "receiptHandle": message.receipt_handle(),
                "body": message.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": message.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The message ids a `ReportBatchItemFailures` response lists as failed, or `None` when the
/// response makes the whole batch a failure (unparsable, or an item identifier that is empty,
/// missing or not one of the batch's messages).
pub fn failed_items(payload: &[u8], message_ids: &[&str]) -> Option<HashSet<String>> {
    let response: Value = serde_json::from_slice(payload).ok()?;
    let failures = match &response {
        Value::Null => return Some(HashSet::new()),
        Value::Object(object) => match object.get("batchItemFailures") {
            None | Some(Value::Null) => return Some(HashSet::new()),
            Some(Value::Array(failures)) => failures,
            Some(_) => return None,
        },
        _ => return None,
    };
    let mut failed = HashSet::new();
    for failure in failures {
        let id = failure
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && message_ids.contains(id))?;
        failed.insert(id.to_string());
    }
    Some(failed)
}

/// One SQS event of a function, ready to poll.
#[derive(Debug, Clone)]
pub struct EventSourceMapping {
    pub function: Pool,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: u32,
    pub report_batch_item_failures: bool,
    pub pollers: u32,
}

/// Starts the mapping's pollers; they run until aborted. An aborted batch is simply not
/// deleted, so its messages come back after the visibility timeout.
pub fn spawn_pollers(
    mapping: EventSourceMapping,
    client: aws_sdk_sqs::Client,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mapping = Arc::new(mapping);
    (0..mapping.pollers.max(1))
        .map(|_| {
            let mapping = mapping.clone();
            let client = client.clone();
            tokio::spawn(async move { poll(&mapping, &client).await })
        })
        .collect()
}

async fn poll(mapping: &EventSourceMapping, client: &aws_sdk_sqs::Client) {
    let max_messages = i32::try_from(mapping.batch_size.clamp(1, 10)).unwrap_or(10);
    loop {
        let received = client
            .receive_message()
            .queue_url(&mapping.queue_url)
            .max_number_of_messages(max_messages)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        match received {
            Ok(output) => {
                let messages = output.messages.unwrap_or_default();
                if !messages.is_empty() {
                    process_batch(mapping, client, &messages).await;
                }
            }
            Err(error) => {
                tracing::warn!(queue = %mapping.queue_url, error = %DisplayErrorContext(&error), "ReceiveMessage failed; retrying");
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}

async fn process_batch(
    mapping: &EventSourceMapping,
    client: &aws_sdk_sqs::Client,
    messages: &[Message],
) {
    let event = build_event(messages, &mapping.queue_arn);
    let ids: Vec<&str> = messages.iter().filter_map(Message::message_id).collect();
    let function = mapping.function.name();
    let payload = match mapping
        .function
        .invoke(Bytes::from(event.to_string()), None)
        .await
    {
        Ok(payload) => payload,
        Err(InvokeError::ShuttingDown) => return,
        Err(error) => {
            tracing::warn!(function, queue = %mapping.queue_url, messages = messages.len(), %error, "batch failed; its messages return after the visibility timeout");
            return;
        }
    };
    let failed = if mapping.report_batch_item_failures {
        match failed_items(&payload, &ids) {
            Some(failed) => failed,
            None => {
                tracing::warn!(function, response = %String::from_utf8_lossy(&payload), "invalid batchItemFailures response: the whole batch failed");
                return;
            }
        }
    } else {
        HashSet::new()
    };
    if !failed.is_empty() {
        tracing::info!(
            function,
            failed = failed.len(),
            of = messages.len(),
            "batch item failures return after the visibility timeout"
        );
    }
    let entries: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.message_id().is_none_or(|id| !failed.contains(id)))
        .filter_map(|(index, message)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .set_receipt_handle(message.receipt_handle().map(str::to_string))
                .build()
                .ok()
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    match client
        .delete_message_batch()
        .queue_url(&mapping.queue_url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(output) if !output.failed().is_empty() => {
            tracing::warn!(queue = %mapping.queue_url, failed = ?output.failed(), "some processed messages could not be deleted");
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(queue = %mapping.queue_url, error = %DisplayErrorContext(&error), "DeleteMessageBatch failed; the batch will be delivered again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::primitives::Blob;
    use aws_sdk_sqs::types::MessageAttributeValue;

    fn message(id: &str, body: &str) -> Message {
        let mut builder = Message::builder()
            .message_id(id)
            .receipt_handle(format!("rh-{id}"))
            .body(body)
            .md5_of_body("md5")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1700000000000")
            .attributes(MessageSystemAttributeName::SenderId, "AIDA")
            .attributes(
                MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
                "1700000000001",
            );
        if let Ok(attribute) = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("v")
            .build()
        {
            builder = builder.message_attributes("s", attribute);
        }
        if let Ok(attribute) = MessageAttributeValue::builder()
            .data_type("Binary")
            .binary_value(Blob::new(vec![1, 2]))
            .build()
        {
            builder = builder.message_attributes("b", attribute);
        }
        builder.build()
    }

    #[test]
    fn builds_the_lambda_sqs_event() {
        let event = build_event(
            &[message("m1", "hello")],
            "arn:aws:sqs:us-east-1:000000000000:q",
        );
        assert_eq!(
            event,
            json!({"Records": [{
                "messageId": "m1",
                "receiptHandle": "rh-m1",
                "body": "hello",
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1700000000000",
                    "SenderId": "AIDA",
                    "ApproximateFirstReceiveTimestamp": "1700000000001"
                },
                "messageAttributes": {
                    "s": {"stringValue": "v", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
                    "b": {"binaryValue": "AQI=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}
                },
                "md5OfBody": "md5",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
                "awsRegion": "us-east-1"
            }]})
        );
        let typed: Result<aws_lambda_events::sqs::SqsEvent, _> = serde_json::from_value(event);
        assert!(typed.is_ok(), "{typed:?}");
    }

    #[test]
    fn reads_batch_item_failures() {
        let ids = ["a", "b", "c"];
        let set =
            |items: &[&str]| Some(items.iter().map(|s| s.to_string()).collect::<HashSet<_>>());
        assert_eq!(
            failed_items(br#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#, &ids),
            set(&["b"])
        );
        assert_eq!(failed_items(br#"{"batchItemFailures":[]}"#, &ids), set(&[]));
        assert_eq!(
            failed_items(br#"{"batchItemFailures":null}"#, &ids),
            set(&[])
        );
        assert_eq!(failed_items(b"{}", &ids), set(&[]));
        assert_eq!(failed_items(b"null", &ids), set(&[]));
        // Whole-batch failures.
        assert_eq!(
            failed_items(br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#, &ids),
            None
        );
        assert_eq!(
            failed_items(br#"{"batchItemFailures":[{"itemIdentifier":null}]}"#, &ids),
            None
        );
        assert_eq!(
            failed_items(br#"{"batchItemFailures":[{"id":"a"}]}"#, &ids),
            None
        );
        assert_eq!(
            failed_items(br#"{"batchItemFailures":[{"itemIdentifier":"zz"}]}"#, &ids),
            None
        );
        assert_eq!(failed_items(br#"{"batchItemFailures":"a"}"#, &ids), None);
        assert_eq!(failed_items(b"not json", &ids), None);
        assert_eq!(failed_items(b"\"ok\"", &ids), None);
    }

    #[test]
    fn names_queues() {
        let queue = Queue {
            logical_id: "Jobs".into(),
            visibility_timeout: None,
            redrive: None,
            fifo: false,
            content_based_deduplication: false,
        };
        assert_eq!(queue_name("p", &queue), "p-Jobs");
        let fifo = Queue {
            fifo: true,
            ..queue
        };
        assert_eq!(queue_name("p", &fifo), "p-Jobs.fifo");
    }
}
