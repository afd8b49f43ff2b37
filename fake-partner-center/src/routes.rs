//! One request: recorded, answered with a queued fault if any, else routed to the token
//! endpoint or, with a live bearer token, to the API; plus the answer and form helpers.

use std::collections::HashMap;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use crate::customers::{create_agreement, direct_signed_status, list_agreements, list_customers};
use crate::state::{lock, Fault, RecordedRequest, Shared, State};
use crate::token::{authorized, oauth_error, token};
use local_stack::server;

const MAX_REQUEST_BYTES: usize = 1024 * 1024;

async fn read_body(mut body: Incoming) -> Option<Bytes> {
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > MAX_REQUEST_BYTES {
                return None;
            }
            buffer.extend_from_slice(&data);
        }
    }
    Some(buffer.freeze())
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    server::response(status, "application/json; charset=utf-8", body.to_string())
}

pub(crate) fn pc_error(
    status: StatusCode,
    code: u64,
    name: &str,
    description: &str,
) -> Response<Full<Bytes>> {
    json_response(
        status,
        &json!({
            "code": code,
            "message": description,
            "description": description,
            "errorName": name,
            "isRetryable": false,
            "parameters": {},
            "errorMessageExtended": format!("InternalErrorCode={code}"),
        }),
    )
}

fn header_value(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

pub(crate) async fn handle(state: Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;
    let path = parts.uri.path().to_string();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        at: Instant::now(),
    };
    let fault = {
        let mut state = lock(&state);
        state.requests.push(recorded.clone());
        take_fault(&mut state, &path)
    };
    let mut response = match fault {
        Some(Fault::Delay(wait)) => {
            tokio::time::sleep(wait).await;
            route(&state, &recorded, body)
        }
        Some(fault) => faulted(fault),
        None => route(&state, &recorded, body),
    };
    // Partner Center echoes the request's ids.
    for name in ["ms-requestid", "ms-correlationid"] {
        if let Some(value) = recorded.header(name).and_then(header_value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn take_fault(state: &mut State, path: &str) -> Option<Fault> {
    let index = state
        .injections
        .iter()
        .position(|i| i.remaining > 0 && (i.path == path || i.path == "*"))?;
    let injection = &mut state.injections[index];
    injection.remaining -= 1;
    let fault = injection.fault.clone();
    if injection.remaining == 0 {
        state.injections.remove(index);
    }
    Some(fault)
}

fn faulted(fault: Fault) -> Response<Full<Bytes>> {
    match fault {
        Fault::TooManyRequests { retry_after_secs } => {
            let mut response = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({
                    "statusCode": 429,
                    "message": format!("Rate limit is exceeded. Try again in {retry_after_secs} seconds."),
                }),
            );
            if let Some(value) = header_value(&retry_after_secs.to_string()) {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, value);
            }
            response
        }
        Fault::ServerError => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({
                "code": 500,
                "description": "An internal error occurred (injected by the fake).",
                "errorName": "InternalServerError",
                "isRetryable": true,
            }),
        ),
        Fault::NotJson => server::response(
            StatusCode::OK,
            "text/html",
            "<html><body>Service temporarily unavailable</body></html>",
        ),
        Fault::WrongShape => json_response(
            StatusCode::OK,
            &json!({
                "items": "not a list",
                "isSigned": "maybe",
                "templateId": 42,
                "type": ["not", "a", "string"],
                "dateAgreed": false,
            }),
        ),
        Fault::Status { status, body } => json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &body,
        ),
        // Handled by the caller.
        Fault::Delay(_) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({})),
    }
}

fn route(state: &Shared, request: &RecordedRequest, body: Option<Bytes>) -> Response<Full<Bytes>> {
    let Some(body) = body else {
        return pc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            413,
            "RequestTooLarge",
            "The request body is too large.",
        );
    };
    let segments: Vec<String> = request
        .path
        .trim_start_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method.as_str();

    if let [tenant, "oauth2", rest @ ..] = segments.as_slice() {
        let version = match rest {
            ["token"] => Some(1),
            ["v2.0", "token"] => Some(2),
            _ => None,
        };
        if let (Some(version), "POST") = (version, method) {
            return token(state, tenant, version, &body);
        }
        return oauth_error(StatusCode::NOT_FOUND, "invalid_request", "no such endpoint");
    }

    // The test controls: no token, as a test (or a person trying the product) plays the customer.
    if let ("POST", ["_fake", "attestations", id, action]) = (method, segments.as_slice()) {
        return crate::attestations::control(state, id, action);
    }

    if !authorized(state, request) {
        let mut response = server::response(StatusCode::UNAUTHORIZED, "text/plain", "");
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return response;
    }

    match (method, segments.as_slice()) {
        ("GET", ["v1", "customers"]) => list_customers(state, request),
        ("GET", ["v1", "customers", id, "agreements"]) => list_agreements(state, request, id),
        ("POST", ["v1", "customers", id, "agreements"]) => create_agreement(state, id, &body),
        ("GET", ["v1", "customers", id, "directSignedMicrosoftCustomerAgreementStatus"]) => {
            direct_signed_status(state, id)
        }
        ("POST", ["v1", "attestations", "enhanced"]) => crate::attestations::create(state, &body),
        ("GET", ["v1", "attestations", "enhanced", id]) => crate::attestations::get(state, id),
        _ => pc_error(
            StatusCode::NOT_FOUND,
            404,
            "ResourceNotFound",
            "The requested resource was not found.",
        ),
    }
}

pub(crate) fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

pub(crate) fn query_pairs(query: Option<&str>) -> HashMap<String, String> {
    query.map(|q| form_fields(q.as_bytes())).unwrap_or_default()
}
