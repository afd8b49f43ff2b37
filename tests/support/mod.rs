//! What the behaviour tests share: the local endpoint, fresh tables, tokens, the local API.

pub mod api;
pub mod browser;
pub mod bulk;
pub mod events;
pub mod fake_partner_center;
pub mod faults;
pub mod fixtures;
pub mod openapi;

use std::sync::Arc;

use aws_sdk_dynamodb::config::{Credentials, Region};
use shared::AppContext;

/// The DynamoDB/SQS-compatible endpoint `make test` started (moto on loopback).
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5005".to_string())
}

/// The workspace root, where template.yaml, events/ and target/ are.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// The functions' own retry policy (`shared::config::tune_sdk`) on the local endpoint, with
/// timeouts that suit a loaded test machine: the tests' own set-up and checks must not fail
/// where moto is merely slow (workers under test build their clients with the functions' own).
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_config::timeout::TimeoutConfig;
    use std::time::Duration;
    shared::config::tune_sdk(aws_config::defaults(aws_config::BehaviorVersion::latest()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(90))
                .build(),
        )
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint())
        .load()
        .await
}

pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    shared::config::dynamodb_client(&sdk_config().await)
}

pub async fn sqs() -> aws_sdk_sqs::Client {
    shared::config::sqs_client(&sdk_config().await)
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

pub const SIGNING_KEY: &[u8] = b"test-cursor-signing-key-0123456789abcdef";

/// A context over a table of its own, created from the schema in code.
pub async fn fresh_context() -> Arc<AppContext> {
    let client = dynamodb().await;
    let table = unique("test");
    shared::store::schema::create_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("cannot create table {table} at {}: {e:?}", endpoint()));
    Arc::new(AppContext::with_client(client, table, SIGNING_KEY).expect("valid test context"))
}

/// Writes `items` straight to `table` with BatchWriteItem, four batches in flight, retrying
/// what DynamoDB leaves unprocessed: seeding thousands of records in seconds.
pub async fn put_items(
    table: &str,
    items: Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    use futures::StreamExt;
    let client = dynamodb().await;
    let batches: Vec<Vec<_>> = items.chunks(25).map(<[_]>::to_vec).collect();
    futures::stream::iter(batches)
        .map(|batch| {
            let client = client.clone();
            async move {
                let mut pending: Vec<WriteRequest> = batch
                    .into_iter()
                    .map(|item| {
                        WriteRequest::builder()
                            .put_request(
                                PutRequest::builder()
                                    .set_item(Some(item))
                                    .build()
                                    .expect("put request"),
                            )
                            .build()
                    })
                    .collect();
                for _ in 0..10 {
                    let out = client
                        .batch_write_item()
                        .request_items(table, pending)
                        .send()
                        .await
                        .expect("BatchWriteItem");
                    pending = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(table))
                        .unwrap_or_default();
                    if pending.is_empty() {
                        return;
                    }
                }
                panic!("BatchWriteItem left items unprocessed ten times");
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}
