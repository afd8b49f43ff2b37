//! The API Gateway HTTP API (payload format 2.0) contract: building a function's event from an
//! HTTP request (here), and turning the function's result into the HTTP response (`response`).

mod response;

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{HeaderValue, CONTENT_TYPE, COOKIE, HOST, USER_AGENT};
use http::HeaderMap;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;

use crate::intrinsics::ACCOUNT_ID;
use crate::routes::RouteMatch;

pub use response::{map_response, GatewayResponse, ResponseError};

/// What the HTTP server knows about a request when it builds the event.
#[derive(Debug, Clone)]
pub struct IncomingRequest<'a> {
    pub method: &'a str,
    /// The path as received, still percent-encoded.
    pub raw_path: &'a str,
    /// The query string as received, without `?`.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: IpAddr,
    /// The local port the request arrived on (`x-forwarded-port`).
    pub local_port: u16,
    pub request_id: &'a str,
    pub trace_id: &'a str,
    pub now: OffsetDateTime,
}

fn header_string(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// Turns JWT claims into what API Gateway hands the function: every value a string, arrays as
/// `[a b c]`.
pub fn flatten_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    fn flat(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(flat).collect();
                format!("[{}]", items.join(" "))
            }
            // Numbers, booleans, null and objects keep their JSON spelling.
            other => other.to_string(),
        }
    }
    claims
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(flat(value))))
        .collect()
}

/// Whether API Gateway would pass a body of this content type as text rather than base64.
fn is_text_content_type(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return true;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.is_empty()
        || essence.starts_with("text/")
        || essence.ends_with("/json")
        || essence.ends_with("+json")
        || essence.ends_with("/xml")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
                | "application/yaml"
                | "application/x-yaml"
        )
}

fn parse_query(raw_query: &str) -> Map<String, Value> {
    let mut parameters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        parameters
            .entry(percent_decode_str(name).decode_utf8_lossy().into_owned())
            .or_default()
            .push(percent_decode_str(value).decode_utf8_lossy().into_owned());
    }
    parameters
        .into_iter()
        .map(|(name, values)| (name, Value::String(values.join(","))))
        .collect()
}

/// Builds the payload 2.0 event for a request that matched a route. `claims` are the verified
/// JWT claims of a guarded route, `None` for a public one.
pub fn build_event(
    request: &IncomingRequest<'_>,
    matched: &RouteMatch<'_>,
    claims: Option<&Map<String, Value>>,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in request.headers.keys() {
        let values = request.headers.get_all(name).iter().map(header_string);
        if name == COOKIE {
            // Payload 2.0 moves cookies out of the headers into their own list.
            for header in values {
                cookies.extend(
                    header
                        .split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string),
                );
            }
            continue;
        }
        let joined: Vec<String> = values.collect();
        headers.insert(name.as_str().to_string(), Value::String(joined.join(",")));
    }
    let domain_name = request
        .headers
        .get(HOST)
        .map(header_string)
        .unwrap_or_else(|| format!("127.0.0.1:{}", request.local_port));
    headers
        .entry("host")
        .or_insert_with(|| Value::String(domain_name.clone()));
    // API Gateway adds these; lambda_http builds the request URI from x-forwarded-proto.
    headers.insert(
        "x-forwarded-for".into(),
        Value::String(request.source_ip.to_string()),
    );
    headers.insert(
        "x-forwarded-port".into(),
        Value::String(request.local_port.to_string()),
    );
    headers.insert("x-forwarded-proto".into(), Value::String("http".into()));
    headers
        .entry("x-amzn-trace-id")
        .or_insert_with(|| Value::String(request.trace_id.to_string()));

    let domain_prefix = domain_name
        .split(':')
        .next()
        .unwrap_or_default()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    let user_agent = request
        .headers
        .get(USER_AGENT)
        .map(header_string)
        .unwrap_or_default();
    let route_key = matched.route.route_key();
    let time = request
        .now
        .format(format_description!(
            "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
        ))
        .unwrap_or_default();
    let time_epoch = i64::try_from(request.now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);

    let mut context = json!({
        "accountId": ACCOUNT_ID,
        "apiId": "local",
        "domainName": domain_name,
        "domainPrefix": domain_prefix,
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip.to_string(),
            "userAgent": user_agent,
        },
        "requestId": request.request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": time,
        "timeEpoch": time_epoch,
    });
    if let (Some(claims), Some(context)) = (claims, context.as_object_mut()) {
        context.insert(
            "authorizer".into(),
            json!({"jwt": {"claims": flatten_claims(claims), "scopes": null}}),
        );
    }

    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    let Some(object) = event.as_object_mut() else {
        return event;
    };
    if !cookies.is_empty() {
        object.insert("cookies".into(), json!(cookies));
    }
    let query = parse_query(request.raw_query);
    if !query.is_empty() {
        object.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !matched.path_parameters.is_empty() {
        object.insert("pathParameters".into(), json!(matched.path_parameters));
    }
    if !request.body.is_empty() {
        let content_type = request
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        match std::str::from_utf8(request.body) {
            Ok(text) if is_text_content_type(content_type) => {
                object.insert("body".into(), Value::String(text.to_string()));
            }
            _ => {
                object.insert("body".into(), Value::String(STANDARD.encode(request.body)));
                object.insert("isBase64Encoded".into(), Value::Bool(true));
            }
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Route, RouteGuard, Router};
    use std::net::Ipv4Addr;

    fn request_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:3000"));
        headers.insert(USER_AGENT, HeaderValue::from_static("curl/8"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("X-Multi", HeaderValue::from_static("b"));
        headers.insert(COOKIE, HeaderValue::from_static("s=1; t=2"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("authorization", HeaderValue::from_static("Bearer x"));
        headers
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_584_039_838).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn router() -> Router {
        Router::new(vec![
            Route::new(
                "POST",
                "/providers/{id}",
                "f",
                RouteGuard::Jwt(Default::default()),
            )
            .unwrap_or_else(|e| panic!("{e}")),
            Route::new("GET", "/open", "g", RouteGuard::Public).unwrap_or_else(|e| panic!("{e}")),
        ])
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn builds_a_payload_2_event() {
        let headers = request_headers();
        let request = IncomingRequest {
            method: "POST",
            raw_path: "/providers/a%20b",
            raw_query: "x=1&y=%C3%A9&x=2&flag",
            headers: &headers,
            body: br#"{"name":"n"}"#,
            source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            local_port: 3000,
            request_id: "req-1",
            trace_id: "Root=1-abc",
            now: now(),
        };
        let router = router();
        let matched = router
            .find("POST", "/providers/a%20b")
            .unwrap_or_else(|| panic!("no match"));
        let claims =
            json!({"sub": "u1", "exp": 1_900_000_000, "groups": ["a", "b"], "admin": true});
        let claims = claims.as_object().cloned().unwrap_or_default();
        let event = build_event(&request, &matched, Some(&claims));
        let expected = json!({
            "version": "2.0",
            "routeKey": "POST /providers/{id}",
            "rawPath": "/providers/a%20b",
            "rawQueryString": "x=1&y=%C3%A9&x=2&flag",
            "cookies": ["s=1", "t=2"],
            "headers": {
                "host": "127.0.0.1:3000",
                "user-agent": "curl/8",
                "x-multi": "a,b",
                "content-type": "application/json",
                "authorization": "Bearer x",
                "x-forwarded-for": "127.0.0.1",
                "x-forwarded-port": "3000",
                "x-forwarded-proto": "http",
                "x-amzn-trace-id": "Root=1-abc"
            },
            "queryStringParameters": {"x": "1,2", "y": "é", "flag": ""},
            "pathParameters": {"id": "a b"},
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "local",
                "authorizer": {"jwt": {"claims": {
                    "sub": "u1", "exp": "1900000000", "groups": "[a b]", "admin": "true"
                }, "scopes": null}},
                "domainName": "127.0.0.1:3000",
                "domainPrefix": "127",
                "http": {
                    "method": "POST",
                    "path": "/providers/a%20b",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "curl/8"
                },
                "requestId": "req-1",
                "routeKey": "POST /providers/{id}",
                "stage": "$default",
                "time": "12/Mar/2020:19:03:58 +0000",
                "timeEpoch": 1_584_039_838_000_i64
            },
            "body": "{\"name\":\"n\"}",
            "isBase64Encoded": false
        });
        assert_eq!(event, expected);
        // The event is what aws_lambda_events (and so lambda_http) expects.
        let typed: Result<aws_lambda_events::apigw::ApiGatewayV2httpRequest, _> =
            serde_json::from_value(event);
        assert!(typed.is_ok(), "{typed:?}");
    }

    #[test]
    fn public_routes_without_query_or_body_omit_those_fields() {
        let headers = HeaderMap::new();
        let request = IncomingRequest {
            method: "GET",
            raw_path: "/open",
            raw_query: "",
            headers: &headers,
            body: b"",
            source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            local_port: 4000,
            request_id: "r",
            trace_id: "t",
            now: now(),
        };
        let router = router();
        let matched = router
            .find("GET", "/open")
            .unwrap_or_else(|| panic!("no match"));
        let event = build_event(&request, &matched, None);
        for absent in [
            "cookies",
            "queryStringParameters",
            "pathParameters",
            "body",
            "stageVariables",
        ] {
            assert!(event.get(absent).is_none(), "{absent}");
        }
        assert!(event["requestContext"].get("authorizer").is_none());
        assert_eq!(event["requestContext"]["domainName"], "127.0.0.1:4000");
        assert_eq!(event["requestContext"]["http"]["userAgent"], "");
        assert_eq!(event["isBase64Encoded"], false);
    }

    #[test]
    fn binary_bodies_are_base64() {
        let router = router();
        let matched = router
            .find("GET", "/open")
            .unwrap_or_else(|| panic!("no match"));
        let mut headers = HeaderMap::new();
        let base = |headers: &HeaderMap, body: &'static [u8]| {
            let request = IncomingRequest {
                method: "GET",
                raw_path: "/open",
                raw_query: "",
                headers,
                body,
                source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                local_port: 1,
                request_id: "r",
                trace_id: "t",
                now: now(),
            };
            build_event(&request, &matched, None)
        };
        let event = base(&headers, &[0xff, 0x00]);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "/wA=");
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let event = base(&headers, b"abc");
        assert_eq!(event["body"], "YWJj");
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let event = base(&headers, b"abc");
        assert_eq!(event["body"], "abc");
        assert_eq!(event["isBase64Encoded"], false);
    }

    #[test]
    fn flattens_claims() {
        let claims = json!({
            "s": "x", "n": 5, "f": 1.5, "b": false, "a": ["r1", 2], "o": {"k": "v"}, "z": null
        });
        let flat = flatten_claims(claims.as_object().unwrap_or(&Map::new()));
        assert_eq!(
            Value::Object(flat),
            json!({"s": "x", "n": "5", "f": "1.5", "b": "false", "a": "[r1 2]", "o": "{\"k\":\"v\"}", "z": "null"})
        );
    }
}
