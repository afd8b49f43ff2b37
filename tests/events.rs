//! Agreement events on EventBridge, through the local stack: every change made through the API
//! is published once from the table's stream by `publish-events` (seen at `GET /_local/events`),
//! with its detail-type, source and the agreement; a write that did not happen (a refused
//! create) publishes nothing.

use integration_tests::api::{customer_token, id, Api};
use integration_tests::events::{kinds, settled_events};
use integration_tests::unique;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn customer(api: &Api, name: &str) -> (String, String) {
    let account = id(&api
        .create(
            "/accounts",
            json!({"name": name, "email_domain": format!("{}.example", unique("d"))}),
        )
        .await);
    let contact = id(&api
        .create(
            &format!("/accounts/{account}/contacts"),
            json!({"first_name": "Pat", "last_name": name,
                   "email": format!("{}@customer.example", unique("signer"))}),
        )
        .await);
    (account, contact)
}

/// The published events of these agreements, by agreement id, in publishing order.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_is_published_once_and_a_refused_write_not_at_all() {
    let api = Api::start().await;
    let b = api.basics().await;
    let template = id(&b.template);
    let (acc_a, contact_a) = customer(&api, "Accepting").await;
    let (acc_b, contact_b) = customer(&api, "Declining").await;
    let a = id(&api
        .create(
            "/agreements",
            json!({"template_id": template, "account_id": acc_a}),
        )
        .await);
    let d = id(&api
        .create(
            "/agreements",
            json!({"template_id": template, "account_id": acc_b}),
        )
        .await);
    // A second open agreement for the same account and template is refused: its conditional
    // write fails, so the stream has no record of it and nothing is published.
    let refused = api
        .post(
            "/agreements",
            json!({"template_id": template, "account_id": acc_a}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);

    let accepted = api
        .call(
            reqwest::Method::POST,
            &format!("/portal/agreements/{a}/confirm"),
            Some(&customer_token(&acc_a, &contact_a)),
            None,
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    let declined = api
        .call(
            reqwest::Method::POST,
            &format!("/portal/agreements/{d}/decline"),
            Some(&customer_token(&acc_b, &contact_b)),
            Some(json!({"reason": "We use another provider"})),
        )
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{:?}", declined.body);
    let off = api
        .post(&format!("/agreements/{d}/deactivate"), json!({}))
        .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);

    let events = settled_events(&api, &[&a, &d], 5).await;
    let of_a = events.get(&a).cloned().unwrap_or_default();
    let of_d = events.get(&d).cloned().unwrap_or_default();
    assert_eq!(
        kinds(&of_a),
        ["Agreement Created", "Agreement Accepted"],
        "{of_a:#?}"
    );
    assert_eq!(
        kinds(&of_d),
        [
            "Agreement Created",
            "Agreement Declined",
            "Agreement Deactivated"
        ],
        "{of_d:#?}"
    );
    let mut ids = Vec::new();
    for (event, (status, change)) in of_a.iter().chain(&of_d).zip([
        ("pending", "created"),
        ("accepted", "accepted"),
        ("pending", "created"),
        ("pending", "declined"),
        ("inactive", "deactivated"),
    ]) {
        assert_eq!(event["source"], "agreements");
        assert_eq!(event["event_bus_name"], "local");
        assert_eq!(event["detail"]["change"], change);
        let agreement = &event["detail"]["agreement"];
        assert_eq!(agreement["status"], status, "{event:#}");
        assert_eq!(agreement["template_id"], template.as_str());
        assert_eq!(
            event["detail"]["idempotency_id"],
            format!(
                "{}:{}",
                agreement["id"].as_str().unwrap_or_default(),
                agreement["version"]
            )
        );
        assert!(event["detail"]["stream_event_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
        ids.push(
            event["detail"]["idempotency_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "one event per change: {ids:?}");
    // The API's agreement is the one the last event carries.
    let now = api.get(&format!("/agreements/{d}")).await;
    assert_eq!(
        of_d[2]["detail"]["agreement"]["version"],
        now.body["version"]
    );
    assert!(now.body["declined_on"].is_string());
}

/// The sample stream batch (one acceptance) plus a creation, for agreement `id`.
fn stream_batch(id: &str) -> aws_lambda_events::event::dynamodb::Event {
    let raw = std::fs::read_to_string(
        integration_tests::workspace_root().join("events/publish-events.json"),
    )
    .expect("the sample event");
    let mut event: Value = serde_json::from_str(&raw).expect("JSON");
    let mut acceptance = event["Records"][0].clone();
    for image in ["OldImage", "NewImage"] {
        acceptance["dynamodb"][image]["id"] = json!({ "S": id });
    }
    acceptance["dynamodb"]["SequenceNumber"] = json!("200");
    let mut creation = acceptance.clone();
    creation["eventName"] = json!("INSERT");
    creation["eventID"] = json!("creation-1");
    creation["dynamodb"]["NewImage"] = creation["dynamodb"]["OldImage"].take();
    if let Some(record) = creation["dynamodb"].as_object_mut() {
        record.remove("OldImage");
    }
    creation["dynamodb"]["SequenceNumber"] = json!("100");
    event["Records"] = json!([creation, acceptance]);
    serde_json::from_value(event).expect("a DynamoDB event")
}

/// The idempotency ids of the events the rule delivered to the queue so far.
async fn delivered(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..5 {
        let page = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        for m in page.messages() {
            let event: Value = serde_json::from_str(m.body().unwrap_or("{}")).expect("an event");
            assert_eq!(event["source"], "agreements");
            ids.push(
                event["detail"]["idempotency_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
    ids.sort();
    ids
}

/// A batch whose publish fails is reported from its first record and loses nothing when Lambda
/// delivers it again; a batch delivered twice publishes its changes twice with the same
/// idempotency ids (at least once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_is_reported_and_a_redelivery_loses_nothing() {
    let sdk = integration_tests::sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let bus = unique("bus");
    let agreement = ulid::Ulid::new().to_string();
    let batch = stream_batch(&agreement);

    // The bus does not exist yet: PutEvents fails, and the batch reports its first record.
    let answer = publish_events::handle(&events, &bus, batch.clone()).await;
    let failed: Vec<_> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect();
    assert_eq!(failed, ["100"], "retry from the first record");

    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("CreateEventBus");
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("events"))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .unwrap_or_default();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .unwrap_or_default();
    let rule = unique("rule");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(json!({"source": ["agreements"]}).to_string())
        .send()
        .await
        .expect("PutRule");
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(queue_arn)
                .build()
                .expect("a target"),
        )
        .send()
        .await
        .expect("PutTargets");

    // Lambda delivers the batch again from the reported record: both changes are published.
    let answer = publish_events::handle(&events, &bus, batch.clone()).await;
    assert!(
        answer.batch_item_failures.is_empty(),
        "{:?}",
        answer.batch_item_failures
    );
    let first = delivered(&sqs, &queue_url).await;
    assert_eq!(
        first,
        [format!("{agreement}:1"), format!("{agreement}:2")],
        "the creation and the acceptance, once each"
    );
    // A redelivery of a published batch publishes again, under the same idempotency ids.
    let answer = publish_events::handle(&events, &bus, batch).await;
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(delivered(&sqs, &queue_url).await, first);
}
