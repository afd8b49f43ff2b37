//! A fault-injecting HTTP/1.1 reverse proxy on loopback, between the SDK clients of the code
//! under test and the local endpoint (moto), for DynamoDB and SQS (both JSON protocols, named by
//! `X-Amz-Target`).
//!
//! Each request of an operation the proxy may touch draws, with the configured rate, one fault:
//! - `ServerError`: a 500 `InternalServerError`, not forwarded;
//! - `Throttle`: a 400 `ProvisionedThroughputExceededException` (DynamoDB) or
//!   `ThrottlingException` (SQS), not forwarded;
//! - `LostAnswer`: forwarded, so the endpoint applies it, and then answered with a 500;
//! - `Delay`: held for a time drawn from the configured range, then forwarded.
//!
//! The draws come from one seeded generator, so a run's sequence of decisions is reproducible
//! (which request meets which decision follows the order requests arrive in). The rate, the
//! kinds, the delays and the operations can be changed while requests flow. The test's own
//! checks read the endpoint directly, not through the proxy.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_sdk_dynamodb::config::{Credentials, Region};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shared::queue::BulkQueue;
use shared::AppContext;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::{endpoint, SIGNING_KEY};

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// 500 InternalServerError; the request never reaches the endpoint.
    ServerError,
    /// 400 throttling; the request never reaches the endpoint.
    Throttle,
    /// The endpoint applies the request; the client gets a 500.
    LostAnswer,
    /// The request is held, then forwarded.
    Delay,
}

impl Fault {
    pub const ALL: [Fault; 4] = [
        Fault::ServerError,
        Fault::Throttle,
        Fault::LostAnswer,
        Fault::Delay,
    ];
}

/// Which service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    DynamoDb,
    Sqs,
    /// No target, or one of another service: always forwarded untouched.
    Other,
}

/// One operation: its service and name (`PutItem`, `SendMessage`, …).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub service: Service,
    pub name: String,
}

impl Operation {
    pub fn of(target: Option<&str>) -> Operation {
        let dynamodb = target
            .and_then(|t| t.strip_prefix("DynamoDB_"))
            .and_then(|rest| rest.split_once('.'))
            .map(|(_, op)| op);
        if let Some(name) = dynamodb {
            return Operation {
                service: Service::DynamoDb,
                name: name.to_string(),
            };
        }
        if let Some(name) = target.and_then(|t| t.strip_prefix("AmazonSQS.")) {
            return Operation {
                service: Service::Sqs,
                name: name.to_string(),
            };
        }
        Operation {
            service: Service::Other,
            name: target.unwrap_or("(no X-Amz-Target)").to_string(),
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let service = match self.service {
            Service::DynamoDb => "dynamodb",
            Service::Sqs => "sqs",
            Service::Other => "other",
        };
        write!(f, "{service}:{}", self.name)
    }
}

/// What the proxy injects, changeable at runtime.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    /// The share of eligible requests that meet a fault, 0.0–1.0.
    pub rate: f64,
    /// The kinds a fault is drawn from, uniformly.
    pub kinds: Vec<Fault>,
    /// A delay's range.
    pub delay: (Duration, Duration),
    /// The operations faults are restricted to (by name, e.g. `UpdateItem`, `SendMessage`);
    /// empty: every DynamoDB and SQS operation.
    pub only: BTreeSet<String>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            rate: 0.0,
            kinds: Fault::ALL.to_vec(),
            delay: (Duration::from_millis(200), Duration::from_millis(800)),
            only: BTreeSet::new(),
        }
    }
}

impl FaultConfig {
    fn eligible(&self, op: &Operation) -> bool {
        op.service != Service::Other && (self.only.is_empty() || self.only.contains(&op.name))
    }
}

/// SplitMix64: small, seedable, and the same sequence on every platform.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// What the proxy has seen: requests per operation, faults per kind and operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub requests: BTreeMap<Operation, u64>,
    pub faults: BTreeMap<(Fault, Operation), u64>,
}

impl FaultCounts {
    /// Faults of one kind, over every operation.
    pub fn of_kind(&self, kind: Fault) -> u64 {
        self.faults
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// Faults of every kind on the operation named `name`.
    pub fn on(&self, name: &str) -> u64 {
        self.faults
            .iter()
            .filter(|((_, op), _)| op.name == name)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }

    /// Requests of the operation named `name`, faulted or not.
    pub fn requests_of(&self, name: &str) -> u64 {
        self.requests
            .iter()
            .filter(|(op, _)| op.name == name)
            .map(|(_, n)| n)
            .sum()
    }
}

impl std::fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let requests: u64 = self.requests.values().sum();
        write!(f, "{requests} requests, {} faults", self.total_faults())?;
        for kind in Fault::ALL {
            let on: Vec<String> = self
                .faults
                .iter()
                .filter(|((k, _), _)| *k == kind)
                .map(|((_, op), n)| format!("{op} {n}"))
                .collect();
            if !on.is_empty() {
                write!(f, "; {kind:?}: {}", on.join(", "))?;
            }
        }
        Ok(())
    }
}

struct Decider {
    config: FaultConfig,
    rng: Rng,
    /// Faults the next requests of an operation meet whatever the rate: (operation, fault,
    /// how many more).
    scripted: Vec<(String, Fault, u32)>,
}

struct State {
    upstream: String,
    client: reqwest::Client,
    decider: Mutex<Decider>,
    counts: Mutex<FaultCounts>,
}

/// A poisoned lock still holds consistent data here: every update is one statement.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What to do with one request.
#[derive(Debug, Clone, Copy)]
enum Decision {
    Forward,
    Inject(Fault, Duration),
}

impl State {
    fn decide(&self, op: &Operation) -> Decision {
        let decision = {
            let mut d = lock(&self.decider);
            let Decider {
                config,
                rng,
                scripted,
            } = &mut *d;
            let next = scripted
                .iter_mut()
                .find(|(name, _, left)| *name == op.name && *left > 0);
            if let Some((_, kind, left)) = next {
                *left -= 1;
                Decision::Inject(*kind, config.delay.0)
            } else if !config.eligible(op) || config.kinds.is_empty() || rng.unit() >= config.rate {
                Decision::Forward
            } else {
                let kind = config.kinds[rng.below(config.kinds.len())];
                let (min, max) = config.delay;
                let spread = max.saturating_sub(min);
                let delay = min + spread.mul_f64(rng.unit());
                Decision::Inject(kind, delay)
            }
        };
        let mut counts = lock(&self.counts);
        *counts.requests.entry(op.clone()).or_default() += 1;
        if let Decision::Inject(kind, _) = decision {
            *counts.faults.entry((kind, op.clone())).or_default() += 1;
        }
        decision
    }
}

/// A running proxy; dropping it stops accepting connections.
pub struct FaultProxy {
    url: String,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) in front of the local endpoint, injecting nothing
    /// until told to; `seed` fixes the sequence of decisions.
    pub async fn start(seed: u64) -> FaultProxy {
        Self::start_in_front_of(&endpoint(), seed).await
    }

    pub async fn start_in_front_of(upstream: &str, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fault proxy: listen on 127.0.0.1");
        let addr: SocketAddr = listener.local_addr().expect("fault proxy: local address");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("fault proxy: HTTP client");
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            client,
            decider: Mutex::new(Decider {
                config: FaultConfig::default(),
                rng: Rng(seed),
                scripted: Vec::new(),
            }),
            counts: Mutex::new(FaultCounts::default()),
        });
        let accept = tokio::spawn(accept_loop(listener, state.clone()));
        FaultProxy {
            url: format!("http://{addr}"),
            state,
            accept,
        }
    }

    /// `http://127.0.0.1:<port>`, the endpoint for clients that go through the proxy.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Changes the configuration; requests already decided are not affected.
    pub fn configure(&self, change: impl FnOnce(&mut FaultConfig)) {
        change(&mut lock(&self.state.decider).config);
    }

    pub fn config(&self) -> FaultConfig {
        lock(&self.state.decider).config.clone()
    }

    pub fn set_rate(&self, rate: f64) {
        self.configure(|c| c.rate = rate.clamp(0.0, 1.0));
    }

    pub fn set_kinds(&self, kinds: &[Fault]) {
        self.configure(|c| c.kinds = kinds.to_vec());
    }

    pub fn set_delay(&self, min: Duration, max: Duration) {
        self.configure(|c| c.delay = (min, max.max(min)));
    }

    /// Restricts faults to the named operations; an empty list lifts the restriction.
    pub fn only(&self, operations: &[&str]) {
        self.configure(|c| c.only = operations.iter().map(|o| o.to_string()).collect());
    }

    /// The next `times` requests of `operation` meet `fault`, whatever the rate and the
    /// restriction (a delay lasts the shortest of the configured range).
    pub fn fault_next(&self, operation: &str, fault: Fault, times: u32) {
        lock(&self.state.decider)
            .scripted
            .push((operation.to_string(), fault, times));
    }

    /// What the proxy has seen so far.
    pub fn counts(&self) -> FaultCounts {
        lock(&self.state.counts).clone()
    }

    /// An SDK configuration whose clients go through the proxy, with the retry and timeout
    /// policy the functions use (build the clients with `shared::config::dynamodb_client` and
    /// `sqs_client`, as the functions do, for their retry partition without a quota).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(&self.url);
        shared::config::tune_sdk(loader).load().await
    }

    /// An SDK configuration through the proxy whose clients never retry, to see each answer
    /// the proxy gives.
    pub async fn sdk_config_without_retries(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(&self.url)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }

    /// A context on `table` and the bulk queue `queue_url` whose DynamoDB and SQS requests
    /// all go through the proxy, with the functions' clients and policy: the worker's view of
    /// the world.
    pub async fn context(&self, table: &str, queue_url: &str) -> AppContext {
        let sdk = self.sdk_config().await;
        let mut ctx = AppContext::with_client(
            shared::config::dynamodb_client(&sdk),
            table.to_string(),
            SIGNING_KEY,
        )
        .expect("valid context");
        ctx.bulk_queue = Some(BulkQueue::new(shared::config::sqs_client(&sdk), queue_url));
        ctx
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                eprintln!("fault proxy: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, request).await) }
            });
            // A client that gives up on a request (a timeout, a killed worker) closes its
            // connection; that is part of the game.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Headers of one hop, which a proxy must not pass on; the lengths are set again from the
/// (whole) bodies.
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

/// The error answer the service would give, in its JSON protocol.
fn injected(op: &Operation, fault: Fault) -> Response<Full<Bytes>> {
    let (status, error_type) = match (fault, op.service) {
        (Fault::Throttle, Service::DynamoDb) => (
            StatusCode::BAD_REQUEST,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        ),
        (Fault::Throttle, _) => (
            StatusCode::BAD_REQUEST,
            "com.amazonaws.sqs#ThrottlingException",
        ),
        (_, Service::DynamoDb) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
        ),
        (_, _) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "com.amazonaws.sqs#InternalError",
        ),
    };
    let body = serde_json::json!({ "__type": error_type, "message": "injected" }).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    headers.insert(
        HeaderName::from_static("x-amzn-requestid"),
        HeaderValue::from_static("injected-fault"),
    );
    response
}

fn bad_gateway(message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let op = Operation::of(
        request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok()),
    );
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return bad_gateway(format!("fault proxy: reading the request: {error}")),
    };
    let decision = state.decide(&op);
    match decision {
        Decision::Inject(fault @ (Fault::ServerError | Fault::Throttle), _) => {
            return injected(&op, fault);
        }
        Decision::Inject(Fault::Delay, delay) => tokio::time::sleep(delay).await,
        Decision::Inject(Fault::LostAnswer, _) | Decision::Forward => {}
    }
    let url = format!(
        "{}{}",
        state.upstream,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut headers = parts.headers;
    strip_hop_headers(&mut headers);
    let answer = match state
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
    {
        Ok(answer) => answer,
        Err(error) => return bad_gateway(format!("fault proxy: forwarding: {error}")),
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    strip_hop_headers(&mut headers);
    let body = match answer.bytes().await {
        Ok(body) => body,
        Err(error) => return bad_gateway(format!("fault proxy: reading the answer: {error}")),
    };
    if let Decision::Inject(Fault::LostAnswer, _) = decision {
        // The endpoint has applied the request; its answer is lost on the way back.
        return injected(&op, Fault::LostAnswer);
    }
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
        assert_eq!(
            (put.service, put.name.as_str()),
            (Service::DynamoDb, "PutItem")
        );
        let send = Operation::of(Some("AmazonSQS.SendMessage"));
        assert_eq!(
            (send.service, send.name.as_str()),
            (Service::Sqs, "SendMessage")
        );
        assert_eq!(Operation::of(None).service, Service::Other);
    }

    #[test]
    fn the_same_seed_draws_the_same_sequence() {
        let draw = |seed| {
            let mut rng = Rng(seed);
            (0..100).map(|_| rng.unit()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert!(draw(7).iter().all(|u| (0.0..1.0).contains(u)));
    }
}
