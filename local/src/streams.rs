//! The DynamoDB stream event sources of the template's functions, run as Lambda runs them: poll
//! the table's stream in moto (DescribeTable, DescribeStream, GetShardIterator, GetRecords, in
//! the JSON the SDK speaks), invoke the function with a `DynamodbEvent` (`{"Records": [...]}`,
//! each record as GetRecords gave it plus `eventSourceARN`), and honour its answer:
//!
//! - `batchItemFailures` (with `ReportBatchItemFailures`): the records before the first reported
//!   sequence number are done; the batch is retried from it;
//! - a function error or timeout: the whole batch is retried, split in halves first when
//!   `BisectBatchOnFunctionError` is on;
//! - after `MaximumRetryAttempts` retries the records are handed to the `OnFailure` destination
//!   (an SQS queue of the template) as Lambda describes them (shard, sequence numbers, reason),
//!   and the shard moves on. Records of one shard are delivered in order, one batch at a time.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::intrinsics::REGION;
use crate::lambda::{InvokeError, Pool};

/// Retries when the template gives no `MaximumRetryAttempts` (Lambda's default is to retry until
/// the record expires; locally a record must not hold its shard forever).
pub const DEFAULT_MAXIMUM_RETRY_ATTEMPTS: u32 = 3;
const IDLE: Duration = Duration::from_millis(200);

/// One DynamoDB event source mapping of a function.
#[derive(Debug, Clone)]
pub struct StreamMapping {
    pub function: Pool,
    pub table_name: String,
    pub batch_size: usize,
    pub report_batch_item_failures: bool,
    pub bisect_on_error: bool,
    pub maximum_retry_attempts: u32,
    /// The URL of the on-failure queue.
    pub on_failure_queue_url: Option<String>,
}

#[derive(Clone)]
struct Endpoint {
    url: String,
    client: reqwest::Client,
}

impl Endpoint {
    async fn call(&self, target: &str, body: Value) -> Result<Value, String> {
        let answer = self
            .client
            .post(&self.url)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target)
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        let status = answer.status();
        let text = answer.text().await.map_err(|e| format!("{target}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{target}: {status} {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{target}: {e}"))
    }
}

/// What one invocation made of a batch.
enum Outcome {
    Done,
    /// Done up to (not including) this index; retry from it.
    RetryFrom(usize),
    /// The function failed as a whole.
    Failed(String),
}

async fn invoke(mapping: &StreamMapping, batch: &[Value]) -> Option<Outcome> {
    let event = json!({ "Records": batch });
    match mapping
        .function
        .invoke(Bytes::from(event.to_string()), None)
        .await
    {
        Err(InvokeError::ShuttingDown) => None,
        Err(error) => Some(Outcome::Failed(error.to_string())),
        Ok(payload) => {
            if !mapping.report_batch_item_failures {
                return Some(Outcome::Done);
            }
            let answer: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
            let failures = answer["batchItemFailures"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if failures.is_empty() {
                return Some(Outcome::Done);
            }
            // The lowest reported sequence number; one not in the batch fails it whole (Lambda's rule).
            let positions: Option<Vec<usize>> = failures
                .iter()
                .map(|f| {
                    let id = f["itemIdentifier"].as_str()?;
                    batch
                        .iter()
                        .position(|r| r["dynamodb"]["SequenceNumber"].as_str() == Some(id))
                })
                .collect();
            Some(match positions.and_then(|p| p.into_iter().min()) {
                Some(k) => Outcome::RetryFrom(k),
                None => Outcome::Failed("batchItemFailures named no record of the batch".into()),
            })
        }
    }
}

async fn to_failure_destination(
    sqs: &aws_sdk_sqs::Client,
    mapping: &StreamMapping,
    stream_arn: &str,
    shard_id: &str,
    batch: &[Value],
    reason: &str,
) {
    let seq = |r: Option<&Value>| {
        r.and_then(|r| r["dynamodb"]["SequenceNumber"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    tracing::error!(function = %mapping.function.name(), records = batch.len(), %reason, "stream records given up after their retries");
    let Some(url) = &mapping.on_failure_queue_url else {
        return;
    };
    let body = json!({
        "requestContext": { "condition": "RetryAttemptsExhausted", "functionArn": mapping.function.name() },
        "responseContext": { "functionError": reason },
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": seq(batch.first()),
            "endSequenceNumber": seq(batch.last()),
            "batchSize": batch.len(),
            "streamArn": stream_arn,
        }
    });
    if let Err(error) = sqs
        .send_message()
        .queue_url(url)
        .message_body(body.to_string())
        .send()
        .await
    {
        tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), "on-failure destination unreachable");
    }
}

/// Delivers one GetRecords page; false when the stack is shutting down.
async fn deliver(
    sqs: &aws_sdk_sqs::Client,
    mapping: &StreamMapping,
    stream_arn: &str,
    shard_id: &str,
    records: Vec<Value>,
) -> bool {
    let mut work: VecDeque<(Vec<Value>, u32)> = VecDeque::from([(records, 0)]);
    while let Some((batch, retries)) = work.pop_front() {
        let Some(outcome) = invoke(mapping, &batch).await else {
            return false;
        };
        let (rest, reason) = match outcome {
            Outcome::Done => continue,
            Outcome::RetryFrom(k) => (
                batch[k..].to_vec(),
                "reported batch item failure".to_string(),
            ),
            Outcome::Failed(reason) => (batch, reason),
        };
        if retries >= mapping.maximum_retry_attempts {
            to_failure_destination(sqs, mapping, stream_arn, shard_id, &rest, &reason).await;
            continue;
        }
        tokio::time::sleep(IDLE).await;
        if mapping.bisect_on_error && rest.len() > 1 && !reason.starts_with("reported") {
            let mut first = rest;
            let second = first.split_off(first.len() / 2);
            work.push_front((second, retries + 1));
            work.push_front((first, retries + 1));
        } else {
            work.push_front((rest, retries + 1));
        }
    }
    true
}

async fn poll(mapping: StreamMapping, endpoint: Endpoint, sqs: aws_sdk_sqs::Client) {
    let stream_arn = loop {
        match endpoint
            .call(
                "DynamoDB_20120810.DescribeTable",
                json!({"TableName": mapping.table_name}),
            )
            .await
        {
            Ok(table) => match table["Table"]["LatestStreamArn"].as_str() {
                Some(arn) => break arn.to_string(),
                None => {
                    tracing::error!(table = %mapping.table_name, "the table has no stream; its event source does not run");
                    return;
                }
            },
            Err(error) => tracing::warn!(%error, "stream: table not readable yet"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    tracing::info!(function = %mapping.function.name(), stream = %stream_arn, "polling stream");
    let mut iterators: Vec<(String, Option<String>)> = Vec::new();
    loop {
        if let Ok(stream) = endpoint
            .call(
                "DynamoDBStreams_20120810.DescribeStream",
                json!({"StreamArn": stream_arn}),
            )
            .await
        {
            for shard in stream["StreamDescription"]["Shards"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let Some(id) = shard["ShardId"].as_str() else {
                    continue;
                };
                if iterators.iter().any(|(s, _)| s == id) {
                    continue;
                }
                let iterator = endpoint
                    .call(
                        "DynamoDBStreams_20120810.GetShardIterator",
                        json!({"StreamArn": stream_arn, "ShardId": id, "ShardIteratorType": "TRIM_HORIZON"}),
                    )
                    .await
                    .ok()
                    .and_then(|a| a["ShardIterator"].as_str().map(str::to_string));
                iterators.push((id.to_string(), iterator));
            }
        }
        let mut busy = false;
        for (shard_id, iterator) in iterators.iter_mut() {
            let Some(current) = iterator.clone() else {
                continue;
            };
            let page = match endpoint
                .call(
                    "DynamoDBStreams_20120810.GetRecords",
                    json!({"ShardIterator": current, "Limit": mapping.batch_size}),
                )
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "stream: GetRecords failed; trying again");
                    continue;
                }
            };
            let mut records: Vec<Value> = page["Records"].as_array().cloned().unwrap_or_default();
            for record in &mut records {
                record["eventSourceARN"] = Value::String(stream_arn.clone());
            }
            if !records.is_empty() {
                busy = true;
                if !deliver(&sqs, &mapping, &stream_arn, shard_id, records).await {
                    return;
                }
            }
            *iterator = page["NextShardIterator"].as_str().map(str::to_string);
        }
        if !busy {
            tokio::time::sleep(IDLE).await;
        }
    }
}

/// Starts the poller of one mapping against `endpoint`.
pub fn spawn(
    mapping: StreamMapping,
    endpoint: &str,
    sqs: aws_sdk_sqs::Client,
) -> Option<JoinHandle<()>> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .ok()?;
    let endpoint = Endpoint {
        url: endpoint.trim_end_matches('/').to_string(),
        client,
    };
    Some(tokio::spawn(poll(mapping, endpoint, sqs)))
}
