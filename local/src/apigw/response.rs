//! A function's result as API Gateway's HTTP API (payload format 2.0) turns it into the HTTP
//! response: status, headers, cookies and a text or base64 body.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

/// Why a function's result is not a response API Gateway could send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("function result is not JSON: {0}")]
    NotJson(String),
    #[error("statusCode {0} is not an HTTP status")]
    BadStatus(String),
    #[error("header {0:?} is not a valid HTTP header")]
    BadHeader(String),
    #[error("body is marked isBase64Encoded but is not base64")]
    BadBase64,
}

/// The HTTP response for a function's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

fn header_value_string(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn append_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), ResponseError> {
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ResponseError::BadHeader(name.to_string()))?;
    let header_value =
        HeaderValue::from_str(value).map_err(|_| ResponseError::BadHeader(name.to_string()))?;
    headers.append(header_name, header_value);
    Ok(())
}

/// Maps a function's result the way API Gateway does for payload 2.0: an object with
/// `statusCode` is a full response; anything else is a 200 with the result as JSON body.
pub fn map_response(payload: &[u8]) -> Result<GatewayResponse, ResponseError> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| ResponseError::NotJson(e.to_string()))?;
    let Some(object) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(GatewayResponse {
            status: StatusCode::OK,
            headers,
            body: Bytes::copy_from_slice(payload),
        });
    };

    let status_value = object.get("statusCode").cloned().unwrap_or(Value::Null);
    let status = match &status_value {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .and_then(|code| StatusCode::from_u16(code).ok())
    .ok_or_else(|| ResponseError::BadStatus(status_value.to_string()))?;

    let mut headers = HeaderMap::new();
    if let Some(map) = object.get("headers").and_then(Value::as_object) {
        for (name, value) in map {
            if let Some(value) = header_value_string(value) {
                append_header(&mut headers, name, &value)?;
            }
        }
    }
    if let Some(map) = object.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in map {
            for value in values.as_array().into_iter().flatten() {
                if let Some(value) = header_value_string(value) {
                    append_header(&mut headers, name, &value)?;
                }
            }
        }
    }
    for cookie in object
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        append_header(&mut headers, SET_COOKIE.as_str(), cookie)?;
    }

    let body = match object.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(text)) => {
            if object.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
                Bytes::from(
                    STANDARD
                        .decode(text)
                        .map_err(|_| ResponseError::BadBase64)?,
                )
            } else {
                Bytes::from(text.clone())
            }
        }
        Some(other) => Bytes::from(other.to_string()),
    };
    Ok(GatewayResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_full_responses() {
        let payload = json!({
            "statusCode": 201,
            "headers": {"content-type": "application/json", "x-n": 1},
            "multiValueHeaders": {"x-m": ["a", "b"]},
            "cookies": ["a=1", "b=2; Path=/"],
            "body": "{\"ok\":true}",
            "isBase64Encoded": false
        });
        let response = map_response(payload.to_string().as_bytes());
        let response = response.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status, StatusCode::CREATED);
        assert_eq!(response.headers["content-type"], "application/json");
        assert_eq!(response.headers["x-n"], "1");
        assert_eq!(response.headers.get_all("x-m").iter().count(), 2);
        assert_eq!(response.headers.get_all(SET_COOKIE).iter().count(), 2);
        assert_eq!(response.body, Bytes::from_static(b"{\"ok\":true}"));

        let binary = json!({"statusCode": "200", "body": "/wA=", "isBase64Encoded": true});
        let response =
            map_response(binary.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.body, Bytes::from_static(&[0xff, 0x00]));
        let empty = map_response(br#"{"statusCode":204}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(empty.status, StatusCode::NO_CONTENT);
        assert!(empty.body.is_empty());
    }

    #[test]
    fn other_results_are_a_json_200() {
        for payload in [&br#"{"hello":"world"}"#[..], b"[1,2]", b"\"text\"", b"null"] {
            let response = map_response(payload).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(response.status, StatusCode::OK);
            assert_eq!(response.headers[CONTENT_TYPE], "application/json");
            assert_eq!(response.body, Bytes::copy_from_slice(payload));
        }
    }

    #[test]
    fn refuses_broken_responses() {
        assert!(matches!(
            map_response(b"not json"),
            Err(ResponseError::NotJson(_))
        ));
        assert!(matches!(
            map_response(br#"{"statusCode":99999}"#),
            Err(ResponseError::BadStatus(_))
        ));
        assert!(matches!(
            map_response(br#"{"statusCode":"abc"}"#),
            Err(ResponseError::BadStatus(_))
        ));
        assert!(matches!(
            map_response(br#"{"statusCode":200,"headers":{"bad name":"x"}}"#),
            Err(ResponseError::BadHeader(_))
        ));
        assert!(matches!(
            map_response(br#"{"statusCode":200,"headers":{"x":"a\nb"}}"#),
            Err(ResponseError::BadHeader(_))
        ));
        assert_eq!(
            map_response(br#"{"statusCode":200,"body":"***","isBase64Encoded":true}"#),
            Err(ResponseError::BadBase64)
        );
    }
}
