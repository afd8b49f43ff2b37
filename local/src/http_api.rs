//! The local HTTP API: routes a request like API Gateway, applies the JWT authorizer, invokes
//! the route's function with a payload 2.0 event and maps its result back to HTTP.

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
use crate::jwt;
use crate::lambda::{InvokeError, Pool};
use crate::routes::Router;
use crate::server::response;

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
    jwt_secret: Arc<str>,
    local_port: u16,
}

fn message(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    response(
        status,
        "application/json",
        json!({ "message": text }).to_string(),
    )
}

fn unauthorized(detail: &str) -> Response<Full<Bytes>> {
    let body = json!({
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": detail,
        "code": "unauthorized",
    });
    response(
        StatusCode::UNAUTHORIZED,
        "application/problem+json",
        body.to_string(),
    )
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
        jwt_secret: &str,
        local_port: u16,
    ) -> Self {
        Self {
            router,
            pools,
            jwt_secret: Arc::from(jwt_secret),
            local_port,
        }
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

    /// Verifies the bearer token of a guarded route.
    fn authorize(&self, request: &Request<Incoming>) -> Result<Map<String, Value>, &'static str> {
        let token = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or("missing bearer token")?;
        jwt::verify(token, &self.jwt_secret, now_epoch_secs()).map_err(|e| e.detail())
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
        let Some(matched) = self.router.find(&method, &raw_path) else {
            return message(StatusCode::NOT_FOUND, "Not Found");
        };
        let claims = if matched.route.requires_jwt {
            match self.authorize(&request) {
                Ok(claims) => Some(claims),
                Err(detail) => return unauthorized(detail),
            }
        } else {
            None
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
        let event = build_event(&incoming, &matched, claims.as_ref());
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
