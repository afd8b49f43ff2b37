//! The emulated Lambda Runtime API (`/2018-06-01/runtime/...`), served for every function under
//! `/fn/<binary>/<instance>` so that one server knows which process is calling.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::lambda::{InvokeError, Pool, RuntimeCallError};
use crate::server::response;

/// Lambda refuses synchronous responses larger than this.
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// How long a poll from a stopped instance waits before it is refused.
const GONE_ANSWER_DELAY: Duration = Duration::from_secs(5);
/// Separates a streamed response's JSON prelude from its body.
const STREAM_PRELUDE_DELIMITER: &[u8] = &[0; 8];

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    response(status, "application/json", body.to_string())
}

fn accepted() -> Response<Full<Bytes>> {
    json_response(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

fn refused(error: &RuntimeCallError) -> Response<Full<Bytes>> {
    let (status, error_type) = match error {
        RuntimeCallError::InstanceGone => (StatusCode::GONE, "InstanceStopped"),
        RuntimeCallError::UnknownRequest(_) => (StatusCode::BAD_REQUEST, "InvalidRequestID"),
    };
    json_response(
        status,
        &json!({"errorType": error_type, "errorMessage": error.to_string()}),
    )
}

fn not_found() -> Response<Full<Bytes>> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"errorType": "NotFound", "errorMessage": "unknown Runtime API path"}),
    )
}

/// Reads a runtime's report of a failed invocation or init: `{errorType, errorMessage}`.
fn error_report(headers: &http::HeaderMap, body: &[u8]) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let error_type = field("errorType")
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Unhandled".to_string());
    let error_message =
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (error_type, error_message)
}

/// Turns a streamed response (JSON prelude, eight NULs, body) into the buffered payload 2.0
/// shape, so that the HTTP API maps both the same way.
fn buffered_from_stream(body: &[u8]) -> Bytes {
    let Some(split) = body
        .windows(STREAM_PRELUDE_DELIMITER.len())
        .position(|w| w == STREAM_PRELUDE_DELIMITER)
    else {
        return Bytes::copy_from_slice(body);
    };
    let mut prelude: Value = serde_json::from_slice(&body[..split]).unwrap_or_else(|_| json!({}));
    let content = &body[split + STREAM_PRELUDE_DELIMITER.len()..];
    if let Some(object) = prelude.as_object_mut() {
        use base64::Engine;
        object
            .entry("statusCode")
            .or_insert_with(|| Value::from(200));
        object.insert(
            "body".into(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(content)),
        );
        object.insert("isBase64Encoded".into(), Value::Bool(true));
    }
    Bytes::from(prelude.to_string())
}

/// Serves Runtime API calls for the given pools (by function name).
#[derive(Clone)]
pub struct RuntimeApi {
    pools: Arc<HashMap<String, Pool>>,
}

impl RuntimeApi {
    pub fn new(pools: Arc<HashMap<String, Pool>>) -> Self {
        Self { pools }
    }

    pub async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_string();
        let Some((pool, instance, route)) = self.locate(&path) else {
            return not_found();
        };
        let parts: Vec<&str> = route.split('/').collect();
        match (request.method(), parts.as_slice()) {
            (&Method::GET, ["invocation", "next"]) => match pool.next(instance).await {
                Ok(delivery) => {
                    let mut reply = response(StatusCode::OK, "application/json", delivery.payload);
                    let headers = reply.headers_mut();
                    for (name, value) in [
                        ("lambda-runtime-aws-request-id", delivery.request_id),
                        (
                            "lambda-runtime-deadline-ms",
                            delivery.deadline_ms.to_string(),
                        ),
                        ("lambda-runtime-invoked-function-arn", delivery.function_arn),
                        ("lambda-runtime-trace-id", delivery.trace_id),
                    ] {
                        if let Ok(value) = HeaderValue::from_str(&value) {
                            headers.insert(name, value);
                        }
                    }
                    reply
                }
                Err(error) => {
                    // A stopped instance is being killed; answering at once would only make its
                    // runtime panic on the missing request id before the kill lands.
                    tokio::time::sleep(GONE_ANSWER_DELAY).await;
                    refused(&error)
                }
            },
            (&Method::POST, ["invocation", request_id, "response"]) => {
                let request_id = (*request_id).to_string();
                let streaming = request
                    .headers()
                    .get("lambda-runtime-function-response-mode")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
                let mut too_large = false;
                let result = match Limited::new(request.into_body(), MAX_RESPONSE_BYTES)
                    .collect()
                    .await
                {
                    Ok(collected) => {
                        let error_type = collected
                            .trailers()
                            .and_then(|t| t.get("lambda-runtime-function-error-type"))
                            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                        let body = collected.to_bytes();
                        match error_type {
                            Some(error_type) => Err(InvokeError::Function {
                                error_type,
                                error_message: "the response stream failed".into(),
                            }),
                            None if streaming => Ok(buffered_from_stream(&body)),
                            None => Ok(body),
                        }
                    }
                    Err(error) => {
                        too_large = error.is::<http_body_util::LengthLimitError>();
                        Err(InvokeError::Function {
                            error_type: "Function.ResponseSizeTooLarge".into(),
                            error_message: format!(
                                "response exceeds {MAX_RESPONSE_BYTES} bytes or could not be read: {error}"
                            ),
                        })
                    }
                };
                match pool.complete(instance, &request_id, result) {
                    Ok(()) if too_large => json_response(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &json!({"errorType": "RequestEntityTooLarge", "errorMessage": "response too large"}),
                    ),
                    Ok(()) => accepted(),
                    Err(error) => refused(&error),
                }
            }
            (&Method::POST, ["invocation", request_id, "error"]) => {
                let request_id = (*request_id).to_string();
                let headers = request.headers().clone();
                let body = read_small_body(request).await;
                let (error_type, error_message) = error_report(&headers, &body);
                tracing::warn!(
                    function = pool.name(),
                    request_id,
                    error_type,
                    error_message,
                    "function returned an error"
                );
                match pool.complete(
                    instance,
                    &request_id,
                    Err(InvokeError::Function {
                        error_type,
                        error_message,
                    }),
                ) {
                    Ok(()) => accepted(),
                    Err(error) => refused(&error),
                }
            }
            (&Method::POST, ["init", "error"]) => {
                let headers = request.headers().clone();
                let body = read_small_body(request).await;
                let (error_type, error_message) = error_report(&headers, &body);
                pool.init_error(instance, format!("{error_type}: {error_message}"));
                accepted()
            }
            _ => not_found(),
        }
    }

    /// Splits `/fn/<name>/<instance>/2018-06-01/runtime/<route>`.
    fn locate<'p>(&self, path: &'p str) -> Option<(&Pool, u64, &'p str)> {
        let rest = path.strip_prefix("/fn/")?;
        let (name, rest) = rest.split_once('/')?;
        let (instance, rest) = rest.split_once('/')?;
        let route = rest.strip_prefix("2018-06-01/runtime/")?;
        let pool = self.pools.get(name)?;
        Some((pool, instance.parse().ok()?, route))
    }
}

async fn read_small_body(request: Request<Incoming>) -> Bytes {
    Limited::new(request.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_error_reports() {
        let headers = http::HeaderMap::new();
        assert_eq!(
            error_report(&headers, br#"{"errorType":"E","errorMessage":"boom"}"#),
            ("E".to_string(), "boom".to_string())
        );
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "lambda-runtime-function-error-type",
            HeaderValue::from_static("Runtime.X"),
        );
        assert_eq!(
            error_report(&headers, b"plain"),
            ("Runtime.X".to_string(), "plain".to_string())
        );
    }

    #[test]
    fn buffers_streamed_responses() {
        let mut body = br#"{"statusCode":201,"headers":{"a":"b"}}"#.to_vec();
        body.extend_from_slice(&[0; 8]);
        body.extend_from_slice(b"hello");
        let buffered: Value =
            serde_json::from_slice(&buffered_from_stream(&body)).unwrap_or_default();
        assert_eq!(
            buffered,
            json!({"statusCode": 201, "headers": {"a": "b"}, "body": "aGVsbG8=", "isBase64Encoded": true})
        );
    }
}
