//! A counting HTTP/1.1 reverse proxy: forwards every request to the endpoint unchanged and counts
//! the requests per operation (`X-Amz-Target`), with their errors and time spent.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::{Context, Result};

/// DynamoDB operations that write.
const WRITES: [&str; 5] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];
/// DynamoDB operations that read.
const READS: [&str; 5] = [
    "GetItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "TransactGetItems",
];

/// Which service a request was for, from its `X-Amz-Target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    DynamoDb,
    Sqs,
    /// No target, or one of another service.
    Other,
}

/// One operation: its service and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub service: Service,
    pub name: String,
}

impl Operation {
    fn of(target: Option<&str>) -> Operation {
        let split = |prefix: &str| {
            target
                .and_then(|t| t.strip_prefix(prefix))
                .and_then(|rest| rest.split_once('.'))
                .map(|(_, op)| op.to_string())
        };
        if let Some(name) = split("DynamoDB_") {
            Operation {
                service: Service::DynamoDb,
                name,
            }
        } else if let Some(name) = target.and_then(|t| t.strip_prefix("AmazonSQS.")) {
            Operation {
                service: Service::Sqs,
                name: name.to_string(),
            }
        } else {
            Operation {
                service: Service::Other,
                name: target.unwrap_or("(no X-Amz-Target)").to_string(),
            }
        }
    }

    pub fn is_dynamodb_write(&self) -> bool {
        self.service == Service::DynamoDb && WRITES.contains(&self.name.as_str())
    }

    pub fn is_dynamodb_read(&self) -> bool {
        self.service == Service::DynamoDb && READS.contains(&self.name.as_str())
    }
}

/// What was counted of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpStats {
    pub requests: u64,
    /// Answers with a 4xx/5xx status (conditional-check failures among them), or no answer.
    pub errors: u64,
    /// Sum of the requests' round trips through the proxy.
    pub time: Duration,
}

/// The counters at one moment; two snapshots subtract to what happened in between.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts(pub BTreeMap<Operation, OpStats>);

impl Counts {
    /// What happened since `earlier`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        let mut out = BTreeMap::new();
        for (op, now) in &self.0 {
            let before = earlier.0.get(op).copied().unwrap_or_default();
            let delta = OpStats {
                requests: now.requests.saturating_sub(before.requests),
                errors: now.errors.saturating_sub(before.errors),
                time: now.time.saturating_sub(before.time),
            };
            if delta.requests > 0 {
                out.insert(op.clone(), delta);
            }
        }
        Counts(out)
    }

    /// Adds what `other` counted.
    pub fn add(&mut self, other: &Counts) {
        for (op, more) in &other.0 {
            let total = self.0.entry(op.clone()).or_default();
            total.requests += more.requests;
            total.errors += more.errors;
            total.time += more.time;
        }
    }

    fn sum(&self, keep: impl Fn(&Operation) -> bool) -> u64 {
        self.0
            .iter()
            .filter(|(op, _)| keep(op))
            .map(|(_, s)| s.requests)
            .sum()
    }

    pub fn dynamodb_writes(&self) -> u64 {
        self.sum(Operation::is_dynamodb_write)
    }

    pub fn dynamodb_reads(&self) -> u64 {
        self.sum(Operation::is_dynamodb_read)
    }

    pub fn of_service(&self, service: Service) -> u64 {
        self.sum(|op| op.service == service)
    }

    #[cfg(test)]
    fn get(&self, service: Service, name: &str) -> OpStats {
        self.0
            .get(&Operation {
                service,
                name: name.to_string(),
            })
            .copied()
            .unwrap_or_default()
    }
}

struct State {
    upstream: String,
    client: reqwest::Client,
    counts: Mutex<Counts>,
}

impl State {
    fn record(&self, op: Operation, failed: bool, time: Duration) {
        // A poisoned lock still holds consistent counters: every update is one statement.
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stats = counts.0.entry(op).or_default();
        stats.requests += 1;
        stats.errors += u64::from(failed);
        stats.time += time;
    }
}

/// A running proxy; dropping it stops accepting connections.
pub struct Proxy {
    url: String,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("proxy: cannot listen on 127.0.0.1")?;
        let addr: SocketAddr = listener.local_addr().context("proxy: local address")?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .context("proxy: HTTP client")?;
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            client,
            counts: Mutex::new(Counts::default()),
        });
        let accept = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(Proxy {
            url: format!("http://{addr}"),
            state,
            accept,
        })
    }

    /// `http://127.0.0.1:<port>`: give this to clients as their endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn snapshot(&self) -> Counts {
        self.state
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Typically out of file descriptors: back off instead of spinning.
                eprintln!("proxy: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(forward(&state, request).await) }
            });
            // A client closing its connection mid-request is not the benchmark's concern.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Headers of one hop, which a proxy must not pass on; the lengths are set again by the client
/// and the server from the (whole) bodies.
fn strip_hop_headers(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::CONTENT_LENGTH,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        HeaderName::from_static("keep-alive"),
    ] {
        headers.remove(name);
    }
}

fn bad_gateway(message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

async fn forward(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let op = Operation::of(
        request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok()),
    );
    let (parts, body) = request.into_parts();
    let started = std::time::Instant::now();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            state.record(op, true, started.elapsed());
            return bad_gateway(format!("proxy: reading the request body: {error}"));
        }
    };
    let url = format!(
        "{}{}",
        state.upstream,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut headers = parts.headers;
    strip_hop_headers(&mut headers);
    let answer = state
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            state.record(op, true, started.elapsed());
            return bad_gateway(format!("proxy: forwarding: {error}"));
        }
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    strip_hop_headers(&mut headers);
    let body = match answer.bytes().await {
        Ok(body) => body,
        Err(error) => {
            state.record(op, true, started.elapsed());
            return bad_gateway(format!("proxy: reading the answer: {error}"));
        }
    };
    state.record(
        op,
        status.is_client_error() || status.is_server_error(),
        started.elapsed(),
    );
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_by_their_target() {
        let put = Operation::of(Some("DynamoDB_20120810.PutItem"));
        assert_eq!(put.service, Service::DynamoDb);
        assert_eq!(put.name, "PutItem");
        assert!(put.is_dynamodb_write() && !put.is_dynamodb_read());
        let query = Operation::of(Some("DynamoDB_20120810.Query"));
        assert!(query.is_dynamodb_read() && !query.is_dynamodb_write());
        let receive = Operation::of(Some("AmazonSQS.ReceiveMessage"));
        assert_eq!(receive.service, Service::Sqs);
        assert_eq!(receive.name, "ReceiveMessage");
        assert!(!receive.is_dynamodb_write());
        assert_eq!(Operation::of(None).service, Service::Other);
    }

    #[test]
    fn snapshots_subtract() {
        let op = Operation::of(Some("DynamoDB_20120810.UpdateItem"));
        let stats = |requests, errors| OpStats {
            requests,
            errors,
            time: Duration::from_millis(requests),
        };
        let before = Counts(BTreeMap::from([(op.clone(), stats(3, 1))]));
        let after = Counts(BTreeMap::from([(op.clone(), stats(10, 1))]));
        let delta = after.since(&before);
        assert_eq!(delta.get(Service::DynamoDb, "UpdateItem"), stats(7, 0));
        assert_eq!(delta.dynamodb_writes(), 7);
        assert_eq!(after.since(&after), Counts::default());
    }
}
