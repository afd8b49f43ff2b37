//! EventBridge for the functions: a pass-through proxy in front of the endpoint (moto) that keeps
//! every event the functions published (`GET /_local/events`, oldest first), and the template's
//! event buses, created in moto.
//!
//! Every function gets `AWS_ENDPOINT_URL_EVENTBRIDGE` pointing at the proxy. It forwards each
//! request as it came and answers what the endpoint answered; from a `PutEvents` answered 2xx it
//! records each entry the answer gave an `EventId` (an entry the answer refused is not
//! published, as on AWS).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::server::{self, response, Shutdown};

/// The `X-Amz-Target` of PutEvents.
pub const PUT_EVENTS: &str = "AWSEvents.PutEvents";

/// One event a function published.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedEvent {
    pub id: String,
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub event_bus_name: String,
    /// The entry's `Detail`, parsed (a string when it is not JSON).
    pub detail: Value,
    /// RFC 3339, UTC.
    pub published_at: String,
}

/// The events published through a stack's proxy.
#[derive(Debug, Clone, Default)]
pub struct EventLog(Arc<Mutex<Vec<PublishedEvent>>>);

impl EventLog {
    pub fn record(&self, event: PublishedEvent) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event);
    }

    /// Every event, oldest first.
    pub fn entries(&self) -> Vec<PublishedEvent> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The published events of a PutEvents request (JSON 1.1) and its answer: the entries the answer
/// gave an `EventId`, in order.
pub fn parse_put_events(request: &[u8], answer: &[u8], at: OffsetDateTime) -> Vec<PublishedEvent> {
    let request: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
    let answer: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
    let empty = Vec::new();
    let entries = request["Entries"].as_array().unwrap_or(&empty);
    let results = answer["Entries"].as_array().unwrap_or(&empty);
    let published_at = at
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default();
    entries
        .iter()
        .zip(results)
        .filter_map(|(entry, result)| {
            let id = result["EventId"].as_str()?;
            let detail = text(&entry["Detail"]);
            Some(PublishedEvent {
                id: id.to_string(),
                source: text(&entry["Source"]),
                detail_type: text(&entry["DetailType"]),
                event_bus_name: text(&entry["EventBusName"]),
                detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
                published_at: published_at.clone(),
            })
        })
        .collect()
}

#[derive(Clone)]
struct Proxy {
    endpoint: Arc<str>,
    client: reqwest::Client,
    log: EventLog,
}

const PASSED_HEADERS: [&str; 4] = [
    "content-type",
    "x-amz-target",
    "authorization",
    "x-amz-date",
];

impl Proxy {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return response(StatusCode::BAD_REQUEST, "text/plain", "bad request");
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut forward = self
            .client
            .request(parts.method.clone(), format!("{}{path}", self.endpoint));
        for name in PASSED_HEADERS {
            if let Some(value) = parts.headers.get(name) {
                forward = forward.header(name, value);
            }
        }
        let answer = match forward.body(body.clone()).send().await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::error!(%error, "EventBridge proxy: the endpoint did not answer");
                return response(
                    StatusCode::BAD_GATEWAY,
                    "text/plain",
                    "endpoint unreachable",
                );
            }
        };
        let status = answer.status();
        let content_type = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/x-amz-json-1.1")
            .to_string();
        let Ok(answer_body) = answer.bytes().await else {
            return response(
                StatusCode::BAD_GATEWAY,
                "text/plain",
                "endpoint answer broke off",
            );
        };
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if target == PUT_EVENTS && status.is_success() {
            for event in parse_put_events(&body, &answer_body, OffsetDateTime::now_utc()) {
                tracing::info!(detail_type = %event.detail_type, id = %event.id, "event published (GET /_local/events lists them)");
                self.log.record(event);
            }
        }
        let mut reply = response(status, &content_type, answer_body);
        *reply.status_mut() = status;
        reply
    }
}

/// Starts the proxy on a loopback port in front of `endpoint`; answers its address and task.
pub async fn start_proxy(
    endpoint: &str,
    log: EventLog,
    shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(std::io::Error::other)?;
    let proxy = Proxy {
        endpoint: Arc::from(endpoint.trim_end_matches('/')),
        client,
        log,
    };
    let task = tokio::spawn(server::serve(listener, shutdown, move |request, _peer| {
        let proxy = proxy.clone();
        async move { proxy.handle(request).await }
    }));
    Ok((address, task))
}

/// Creates an event bus in the endpoint unless it exists (JSON 1.1, as the SDK speaks it).
pub async fn ensure_bus(endpoint: &str, name: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let answer = client
        .post(endpoint.trim_end_matches('/'))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "AWSEvents.CreateEventBus")
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=test/20260101/{}/events/aws4_request, SignedHeaders=host, Signature=0",
                crate::intrinsics::REGION
            ),
        )
        .body(serde_json::json!({ "Name": name }).to_string())
        .send()
        .await
        .map_err(|e| format!("CreateEventBus {name}: {e}"))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if status.is_success() || body.contains("ResourceAlreadyExists") {
        Ok(())
    } else {
        Err(format!("CreateEventBus {name}: {status} {body}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_the_entries_the_answer_accepted() {
        let request = serde_json::json!({"Entries": [
            {"Source": "agreements", "DetailType": "Agreement Created", "Detail": "{\"a\":1}", "EventBusName": "b"},
            {"Source": "agreements", "DetailType": "Agreement Accepted", "Detail": "{}", "EventBusName": "b"}
        ]});
        let answer = serde_json::json!({"FailedEntryCount": 1, "Entries": [
            {"EventId": "e1"}, {"ErrorCode": "InternalFailure", "ErrorMessage": "x"}
        ]});
        let events = parse_put_events(
            request.to_string().as_bytes(),
            answer.to_string().as_bytes(),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, "e1");
        assert_eq!(events[0].detail_type, "Agreement Created");
        assert_eq!(events[0].detail["a"], 1);
    }
}
