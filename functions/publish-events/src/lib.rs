//! Publishes every agreement change to the stack's EventBridge bus, from the table's DynamoDB
//! stream: a change is published only once its write happened (a failed conditional write makes
//! no stream record), and none is lost when this function dies (the stream keeps the record
//! until a batch reports it done). Delivery is at least once: `detail.idempotency_id`
//! (`<agreement id>:<version>`) is the same on every delivery of one change.
//!
//! A batch is handled in stream order and stops at the first record that fails (its entry
//! refused by PutEvents, or an image that cannot be read); that record's sequence number is
//! the batch item failure, so Lambda retries from it (bisecting, a bounded number of times, then
//! handing it to the on-failure destination).

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use serde_dynamo::AttributeValue;
use shared::model::events::{change_of, AgreementEventDetail, EVENT_SOURCE};
use shared::model::Agreement;

/// PutEvents takes at most 10 entries.
const MAX_ENTRIES: usize = 10;

/// The agreement in one image of a record; `None` when the image is absent or another type's.
fn agreement_of(image: &serde_dynamo::Item) -> Result<Option<Agreement>, String> {
    match image.get("type") {
        Some(AttributeValue::S(t)) if t == "agreement" => serde_dynamo::from_item(image.clone())
            .map(Some)
            .map_err(|e| format!("the agreement image cannot be read: {e}")),
        _ => Ok(None),
    }
}

/// The entry a record publishes, if any; an error for a record that cannot be read.
pub fn entry_of(record: &EventRecord, bus: &str) -> Result<Option<PutEventsRequestEntry>, String> {
    let old = agreement_of(&record.change.old_image)?;
    let new = agreement_of(&record.change.new_image)?;
    let Some(change) = change_of(old.as_ref(), new.as_ref()) else {
        return Ok(None);
    };
    let Some(agreement) = new.as_ref() else {
        return Ok(None);
    };
    let detail = AgreementEventDetail::new(change, agreement, &record.event_id);
    let detail = serde_json::to_string(&detail).map_err(|e| format!("detail: {e}"))?;
    Ok(Some(
        PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(EVENT_SOURCE)
            .detail_type(change.detail_type())
            .detail(detail)
            .build(),
    ))
}

/// Publishes the batch in order; the index of the first record not published, if any.
async fn publish(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    records: &[EventRecord],
) -> Option<usize> {
    let mut pending: Vec<(usize, PutEventsRequestEntry)> = Vec::new();
    let mut stop = None;
    for (i, record) in records.iter().enumerate() {
        match entry_of(record, bus) {
            Ok(Some(entry)) => pending.push((i, entry)),
            Ok(None) => {}
            Err(reason) => {
                tracing::error!(event_id = %record.event_id, %reason, "stream record cannot be published; it will be retried and then go to the on-failure destination");
                stop = Some(i);
                break;
            }
        }
    }
    for chunk in pending.chunks(MAX_ENTRIES) {
        let entries: Vec<PutEventsRequestEntry> = chunk.iter().map(|(_, e)| e.clone()).collect();
        match client.put_events().set_entries(Some(entries)).send().await {
            Err(e) => {
                tracing::warn!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e), "PutEvents failed; the batch is retried from its first unpublished record");
                return Some(chunk[0].0);
            }
            Ok(answer) => {
                let failed = answer
                    .entries()
                    .iter()
                    .position(|r| r.error_code().is_some() || r.event_id().is_none());
                let refused = (answer.failed_entry_count() > 0)
                    .then(|| failed.unwrap_or(0))
                    .or(failed);
                if let Some(k) = refused {
                    let result = answer.entries().get(k);
                    tracing::warn!(
                        event_id = %records[chunk[k].0].event_id,
                        code = result.and_then(|r| r.error_code()).unwrap_or("none"),
                        message = result.and_then(|r| r.error_message()).unwrap_or(""),
                        "PutEvents refused an entry; the batch is retried from it"
                    );
                    return Some(chunk[k].0);
                }
            }
        }
    }
    stop
}

/// Handles one batch: the batch item failure names the first record not published, if any.
pub async fn handle(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    event: Event,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    if let Some(i) = publish(client, bus, &event.records).await {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = event.records[i].change.sequence_number.clone();
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(old: serde_json::Value, new: serde_json::Value) -> EventRecord {
        serde_json::from_value(serde_json::json!({
            "awsRegion": "eu-west-1", "eventID": "e-1", "eventName": "MODIFY",
            "eventSource": "aws:dynamodb", "eventVersion": "1.1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1700000000.0,
                "Keys": {"PK": {"S": "AGREEMENT#a"}, "SK": {"S": "#META"}},
                "OldImage": old, "NewImage": new,
                "SequenceNumber": "100", "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        }))
        .expect("a stream record")
    }

    #[test]
    fn the_sample_event_is_an_acceptance() {
        let raw = include_str!("../../../events/publish-events.json");
        let event: Event = serde_json::from_str(raw).expect("the sample is a DynamoDB event");
        let entry = entry_of(&event.records[0], "bus")
            .expect("readable")
            .expect("an event");
        assert_eq!(entry.detail_type(), Some("Agreement Accepted"));
        assert_eq!(entry.source(), Some("agreements"));
        assert_eq!(entry.event_bus_name(), Some("bus"));
        let detail: serde_json::Value =
            serde_json::from_str(entry.detail().unwrap_or_default()).expect("JSON detail");
        assert_eq!(detail["idempotency_id"], "01HK153X00MPS2PSETHHE63CWC:2");
        assert_eq!(detail["agreement"]["status"], "accepted");
    }

    #[test]
    fn other_items_publish_nothing() {
        let r = record(
            serde_json::json!({}),
            serde_json::json!({"type": {"S": "history"}, "PK": {"S": "x"}}),
        );
        assert!(entry_of(&r, "bus").expect("readable").is_none());
    }

    #[test]
    fn an_unreadable_agreement_image_is_an_error_not_a_panic() {
        let r = record(
            serde_json::json!({}),
            serde_json::json!({"type": {"S": "agreement"}, "status": {"N": "7"}}),
        );
        assert!(entry_of(&r, "bus").is_err());
    }
}
