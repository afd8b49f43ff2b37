//! The local HTTP API: routes a request like API Gateway, applies the JWT or Lambda authorizer,
//! invokes the route's function with a payload 2.0 event and maps its result back to HTTP. It
//! also answers the local stack's own paths under `/_local/` (no template route): the outbox of
//! sent e-mails and the local customer identity provider's JWKS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use http::header::{AUTHORIZATION, CONTENT_LENGTH};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};

use crate::apigw::{build_event, map_response, IncomingRequest};
use crate::authorizer::{self, LambdaAuthorizer, Outcome};
use crate::customer_idp;
use crate::eventbridge::EventLog;
use crate::jwt;
use crate::lambda::{InvokeError, Pool};
use crate::routes::{RouteGuard, Router};
use crate::server::response;
use crate::ses::Outbox;

/// The outbox of e-mails sent through the stack's SES proxy, newest first.
pub const OUTBOX_PATH: &str = "/_local/outbox";

/// The events the functions published through the stack's EventBridge proxy, oldest first.
pub const EVENTS_PATH: &str = "/_local/events";

/// Lambda authorizers by (API logical id, authorizer name).
pub type Authorizers = HashMap<(String, String), Arc<LambdaAuthorizer>>;

/// API Gateway refuses request bodies larger than this.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// An oversized body is still read (and dropped) up to this size, so that the client, which is
/// still sending, gets the 413 instead of a reset connection.
const DRAIN_LIMIT_BYTES: usize = 64 * 1024 * 1024;

enum BodyRead {
    Complete(Bytes),
    TooLarge,
    Failed(hyper::Error),
}

async fn read_body(mut body: Incoming) -> BodyRead {
    let mut buffer = BytesMut::new();
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => return BodyRead::Failed(error),
        };
        if let Ok(data) = frame.into_data() {
            received = received.saturating_add(data.len());
            if received <= MAX_REQUEST_BYTES {
                buffer.extend_from_slice(&data);
            } else if received > DRAIN_LIMIT_BYTES {
                return BodyRead::TooLarge;
            }
        }
    }
    if received > MAX_REQUEST_BYTES {
        BodyRead::TooLarge
    } else {
        BodyRead::Complete(buffer.freeze())
    }
}

/// State shared by every request of the HTTP API.
#[derive(Clone)]
pub struct HttpApi {
    router: Arc<Router>,
    pools: Arc<HashMap<String, Pool>>,
    authorizers: Arc<Authorizers>,
    jwt_secret: Arc<str>,
    local_port: u16,
    outbox: Outbox,
    events: EventLog,
}

fn message(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    response(
        status,
        "application/json",
        json!({ "message": text }).to_string(),
    )
}

/// API Gateway's own 401, for a request an authorizer refuses before any function runs.
fn unauthorized() -> Response<Full<Bytes>> {
    message(StatusCode::UNAUTHORIZED, "Unauthorized")
}

fn internal_error() -> Response<Full<Bytes>> {
    message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// What guards a matched request once its identity is read.
enum Guarded {
    Public,
    Jwt(Map<String, Value>),
    Lambda(Arc<LambdaAuthorizer>, Vec<String>),
}

/// API Gateway-style request id: 16 base64 characters.
fn gateway_request_id() -> String {
    let bytes = ulid::Ulid::new().0.to_be_bytes();
    STANDARD.encode(&bytes[5..])
}

fn now_epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl HttpApi {
    pub fn new(
        router: Arc<Router>,
        pools: Arc<HashMap<String, Pool>>,
        authorizers: Arc<Authorizers>,
        jwt_secret: &str,
        local_port: u16,
        outbox: Outbox,
        events: EventLog,
    ) -> Self {
        Self {
            router,
            pools,
            authorizers,
            jwt_secret: Arc::from(jwt_secret),
            local_port,
            outbox,
            events,
        }
    }

    /// The local stack's own `GET /_local/...` answers.
    fn local_path(&self, method: &str, path: &str) -> Option<Response<Full<Bytes>>> {
        if method != "GET" {
            return None;
        }
        let body = match path {
            OUTBOX_PATH => serde_json::to_string(&self.outbox.entries()).ok()?,
            EVENTS_PATH => serde_json::to_string(&self.events.entries()).ok()?,
            customer_idp::JWKS_PATH => customer_idp::jwks().to_string(),
            _ => return None,
        };
        Some(response(StatusCode::OK, "application/json", body))
    }

    /// Answers one request and logs it.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let request_id = gateway_request_id();
        let mut reply = self.respond(request, peer, &request_id).await;
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            reply.headers_mut().insert("apigw-requestid", value);
        }
        tracing::info!(
            "{method} {path} {} {}ms",
            reply.status().as_u16(),
            started.elapsed().as_millis()
        );
        reply
    }

    /// Verifies the token of a route guarded by a JWT authorizer as API Gateway does: the
    /// identity source (`Authorization`) holds the token alone or after `Bearer `; then its
    /// signature and times, then `iss` and `aud` against the authorizer's configuration.
    fn authorize(
        &self,
        request: &Request<Incoming>,
        expected: &jwt::Expected,
    ) -> Result<Map<String, Value>, &'static str> {
        let token = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let v = v.trim();
                match v.split_once(' ') {
                    Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                    _ => v,
                }
            })
            .filter(|t| !t.is_empty())
            .ok_or("missing token")?;
        let claims =
            jwt::verify(token, &self.jwt_secret, now_epoch_secs()).map_err(|e| e.detail())?;
        jwt::check_claims(&claims, expected).map_err(|e| e.detail())?;
        Ok(claims)
    }

    async fn respond(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Response<Full<Bytes>> {
        let method = request.method().as_str().to_string();
        let raw_path = request.uri().path().to_string();
        let raw_query = request.uri().query().unwrap_or_default().to_string();
        if let Some(reply) = self.local_path(&method, &raw_path) {
            return reply;
        }
        let Some(matched) = self.router.find(&method, &raw_path) else {
            return message(StatusCode::NOT_FOUND, "Not Found");
        };
        let guarded = match &matched.route.guard {
            RouteGuard::Public => Guarded::Public,
            RouteGuard::Jwt(expected) => match self.authorize(&request, expected) {
                Ok(claims) => Guarded::Jwt(claims),
                Err(detail) => {
                    tracing::info!(detail, "the JWT authorizer refused the request");
                    return unauthorized();
                }
            },
            RouteGuard::Lambda { api, authorizer } => {
                let Some(lambda) = self.authorizers.get(&(api.clone(), authorizer.clone())) else {
                    tracing::error!(%api, %authorizer, "route has no Lambda authorizer");
                    return internal_error();
                };
                // A missing identity source is refused without invoking the authorizer.
                let Some(identity) = lambda.identity(request.headers()) else {
                    tracing::info!(authorizer = %lambda.name, "an identity source is missing");
                    return unauthorized();
                };
                Guarded::Lambda(lambda.clone(), identity)
            }
        };
        let declared_length = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_length.is_some_and(|n| n > DRAIN_LIMIT_BYTES as u64) {
            return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        }
        let (parts, body) = request.into_parts();
        let body = match read_body(body).await {
            BodyRead::Complete(body) => body,
            BodyRead::TooLarge => {
                return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
            }
            BodyRead::Failed(error) => {
                tracing::debug!(%error, "could not read request body");
                return message(StatusCode::BAD_REQUEST, "Bad Request");
            }
        };
        let trace_id = parts
            .headers
            .get("x-amzn-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(crate::ids::trace_id);
        let incoming = IncomingRequest {
            method: &method,
            raw_path: &raw_path,
            raw_query: &raw_query,
            headers: &parts.headers,
            body: &body,
            source_ip: peer.ip(),
            local_port: self.local_port,
            request_id,
            trace_id: &trace_id,
            now: time::OffsetDateTime::now_utc(),
        };
        let claims = match &guarded {
            Guarded::Jwt(claims) => Some(claims),
            _ => None,
        };
        let mut event = build_event(&incoming, &matched, claims);
        if let Guarded::Lambda(lambda, identity) = guarded {
            let authorizer_event = authorizer::build_event(&event, &method, &raw_path, &identity);
            let Some(pool) = self.pools.get(&lambda.function) else {
                tracing::error!(function = %lambda.function, "authorizer has no function pool");
                return internal_error();
            };
            let trace = trace_id.clone();
            let outcome = lambda
                .authorize(identity, authorizer_event, |payload| async move {
                    pool.invoke(payload, Some(trace))
                        .await
                        .map_err(|e| e.to_string())
                })
                .await;
            match outcome {
                Outcome::Allowed { context } => {
                    if let Some(request_context) = event
                        .get_mut("requestContext")
                        .and_then(Value::as_object_mut)
                    {
                        request_context.insert("authorizer".into(), json!({ "lambda": context }));
                    }
                }
                Outcome::Forbidden => return message(StatusCode::FORBIDDEN, "Forbidden"),
                Outcome::Failed(error) => {
                    tracing::error!(authorizer = %lambda.name, function = %lambda.function, %error, "the Lambda authorizer failed");
                    return internal_error();
                }
            }
        }
        let Some(pool) = self.pools.get(&matched.route.function) else {
            tracing::error!(function = %matched.route.function, "route has no function pool");
            return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        };
        match pool
            .invoke(Bytes::from(event.to_string()), Some(trace_id))
            .await
        {
            Ok(payload) => match map_response(&payload) {
                Ok(mapped) => {
                    let mut reply = Response::new(Full::new(mapped.body));
                    *reply.status_mut() = mapped.status;
                    *reply.headers_mut() = mapped.headers;
                    reply
                }
                Err(error) => {
                    tracing::error!(function = pool.name(), %error, "function returned a response API Gateway cannot send");
                    message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                }
            },
            Err(error @ InvokeError::MissingBinary(_)) => {
                message(StatusCode::BAD_GATEWAY, &error.to_string())
            }
            Err(InvokeError::ShuttingDown) => {
                message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            }
            Err(error) => {
                tracing::error!(function = pool.name(), %error, "invocation failed");
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}
