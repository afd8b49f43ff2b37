//! A test function for the local stack: answers HTTP events with the event itself (and what
//! lambda_http makes of it), and reports SQS messages whose body equals `ECHO_FAIL_BODY` as batch
//! item failures. Paths `/sleep/<ms>`, `/crash` and `/fail` exercise timeouts, crashes and errors.

use std::time::Duration;

use lambda_http::{RequestExt, RequestPayloadExt};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if payload.get("Records").is_some() {
        return sqs(payload);
    }
    let raw_path = payload
        .get("rawPath")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(ms) = raw_path.strip_prefix("/public/sleep/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
    }
    if raw_path == "/public/crash" {
        std::process::exit(3);
    }
    if raw_path == "/public/fail" {
        return Err("asked to fail".into());
    }

    // What a lambda_http function would see of this event.
    let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload.clone())?;
    let request: lambda_http::Request = request.into();
    let claims = match request.request_context() {
        lambda_http::request::RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .and_then(|a| a.jwt)
            .map(|jwt| json!(jwt.claims)),
        #[allow(unreachable_patterns)]
        _ => None,
    };
    let body: Option<Value> = request.payload().unwrap_or(None);
    let seen = json!({
        "method": request.method().as_str(),
        "uri": request.uri().to_string(),
        "path_parameters": request.path_parameters().iter().collect::<std::collections::BTreeMap<_, _>>(),
        "query": request.query_string_parameters().iter().collect::<std::collections::BTreeMap<_, _>>(),
        "claims": claims,
        "json_body": body,
    });
    let environment: serde_json::Map<String, Value> = std::env::vars()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let answer = json!({
        "event": payload,
        "seen": seen,
        "env": environment,
        "request_id": context.request_id,
        "deadline_ms": context.deadline,
        "invoked_function_arn": context.invoked_function_arn,
        "pid": std::process::id(),
    });
    Ok(json!({
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-echo": "1"},
        "cookies": ["echo=1; Path=/", "second=2"],
        "body": answer.to_string(),
    }))
}

fn sqs(payload: Value) -> Result<Value, Error> {
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(payload.clone())?;
    let fail_body = std::env::var("ECHO_FAIL_BODY").ok();
    let record_dir = std::env::var("ECHO_RECORD_DIR")
        .ok()
        .filter(|d| !d.is_empty());
    let mut failures = Vec::new();
    for (record, raw) in event.records.iter().zip(
        payload
            .get("Records")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    ) {
        let id = record.message_id.clone().unwrap_or_default();
        if let Some(dir) = &record_dir {
            let count = record
                .attributes
                .get("ApproximateReceiveCount")
                .cloned()
                .unwrap_or_default();
            std::fs::write(format!("{dir}/{id}-{count}.json"), raw.to_string())?;
        }
        if record.body.is_some() && record.body == fail_body {
            failures.push(json!({"itemIdentifier": id}));
        }
    }
    Ok(json!({"batchItemFailures": failures}))
}
