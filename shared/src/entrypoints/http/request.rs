//! Reading what a request carries: the caller, path and query parameters, a JSON body, If-Match.

use std::collections::HashMap;

use http::header::{CONTENT_TYPE, IF_MATCH};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::de::DeserializeOwned;

use crate::error::{ServiceError, ServiceResult};
use crate::model::Principal;
use crate::services::{PageRequest, DEFAULT_PAGE, MAX_PAGE};

/// Bodies of ordinary requests; imports have their own, larger bound.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// The caller, from what API Gateway's authorizer handed over: the JWT authorizer's verified
/// claims (staff routes), or the portal's Lambda authorizer's context (portal routes).
pub fn principal(request: &Request) -> ServiceResult<Principal> {
    let authorizer = request.request_context_ref().and_then(|ctx| match ctx {
        RequestContext::ApiGatewayV2(c) => c.authorizer.as_ref(),
        _ => None,
    });
    if let Some(jwt) = authorizer.and_then(|a| a.jwt.as_ref()) {
        return Principal::from_claims(Some(&jwt.claims));
    }
    let context: Option<HashMap<String, String>> =
        authorizer.filter(|a| !a.fields.is_empty()).map(|a| {
            a.fields
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        });
    Principal::from_claims(context.as_ref())
}

/// The portal page's address as the caller reached this API (API Gateway's domain, or a
/// custom domain), for the links this request makes.
pub fn portal_url(request: &Request) -> String {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let domain = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => c.domain_name.clone(),
        _ => None,
    }
    .or_else(|| header("host"))
    .unwrap_or_else(|| "localhost".into());
    let scheme = header("x-forwarded-proto").unwrap_or_else(|| "https".into());
    format!("{scheme}://{domain}/portal")
}

/// Staff only: the caller, or 401/403.
pub fn staff(request: &Request) -> ServiceResult<Principal> {
    let caller = principal(request)?;
    caller.require_staff()?;
    Ok(caller)
}

/// Where the request came from, as API Gateway saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

pub fn origin(request: &Request) -> Origin {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => Origin {
            source_ip: c.http.source_ip.clone(),
            user_agent: c.http.user_agent.clone(),
        },
        _ => Origin::default(),
    }
}

/// A path parameter of the route; API Gateway always fills them, so absence is a 404.
pub fn path(request: &Request, name: &str) -> ServiceResult<String> {
    request
        .path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
        .ok_or_else(|| ServiceError::NotFound(format!("no `{name}` in the path")))
}

/// The query parameters, refusing any the route does not know (a misspelt filter must not
/// silently widen a list).
pub fn query<'r>(request: &'r Request, allowed: &[&str]) -> ServiceResult<Query<'r>> {
    let params = request.query_string_parameters_ref();
    if let Some(params) = params {
        for (key, _) in params.iter() {
            if !allowed.contains(&key) && key != "limit" && key != "cursor" {
                return Err(ServiceError::Validation(format!(
                    "unknown query parameter `{key}`; this route takes {}",
                    allowed
                        .iter()
                        .chain(["limit", "cursor"].iter())
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if params.all(key).map(|v| v.len()).unwrap_or(0) > 1 {
                return Err(ServiceError::Validation(format!(
                    "query parameter `{key}` is given more than once"
                )));
            }
        }
    }
    Ok(Query { request })
}

pub struct Query<'r> {
    request: &'r Request,
}

impl Query<'_> {
    pub fn get(&self, name: &str) -> Option<String> {
        self.request
            .query_string_parameters_ref()
            .and_then(|p| p.first(name))
            .map(str::to_string)
    }

    pub fn page(&self) -> ServiceResult<PageRequest> {
        let limit = match self.get("limit") {
            None => DEFAULT_PAGE,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    return Err(ServiceError::Validation(format!(
                        "`limit` must be a whole number from 1 to {MAX_PAGE}"
                    )))
                }
            },
        };
        Ok(PageRequest {
            limit,
            cursor: self.get("cursor"),
        })
    }
}

/// The request's media type, lower-cased, without parameters.
pub fn content_type(request: &Request) -> Option<String> {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// The request's body bytes, bounded.
pub fn body_bytes(request: &Request, max: usize) -> ServiceResult<&[u8]> {
    let body: &[u8] = request.body().as_ref();
    if body.len() > max {
        return Err(ServiceError::PayloadTooLarge(format!(
            "the body is {} bytes; at most {max} are accepted",
            body.len()
        )));
    }
    Ok(body)
}

/// The JSON body as `T`; a body is required.
pub fn json<T: DeserializeOwned>(request: &Request) -> ServiceResult<T> {
    optional_json(request)?
        .ok_or_else(|| ServiceError::Validation("a JSON body is required".into()))
}

/// The JSON body as `T`, or None when the request has no body (routes that need no fields).
pub fn optional_json<T: DeserializeOwned>(request: &Request) -> ServiceResult<Option<T>> {
    let body = body_bytes(request, MAX_JSON_BODY)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match content_type(request) {
        Some(ct) if is_json(&ct) => {}
        Some(ct) => {
            return Err(ServiceError::UnsupportedMediaType(format!(
                "the body must be application/json, not {ct}"
            )))
        }
        None => {
            return Err(ServiceError::UnsupportedMediaType(
                "the body must be sent with Content-Type: application/json".into(),
            ))
        }
    }
    parse_json(body).map(Some)
}

/// Decodes JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ServiceResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = if inner.is_syntax() || inner.is_eof() {
            format!("the body is not valid JSON ({inner})")
        } else if path == "." {
            format!("the body does not have the expected shape: {inner}")
        } else {
            format!("`{path}`: {inner}")
        };
        ServiceError::Validation(what)
    })
}

/// If-Match: `3`, `"3"` or `W/"3"`; `*` matches any version.
pub fn if_match(request: &Request) -> ServiceResult<Option<u64>> {
    let Some(raw) = request.headers().get(IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse::<u64>()
        .map(Some)
        .map_err(|_| ServiceError::Validation("If-Match must be a version such as \"3\"".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    fn request(headers: &[(&str, &str)], body: &str) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/x");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder
            .body(Body::Text(body.to_string()))
            .expect("test request")
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Named {
        name: String,
    }

    #[test]
    fn json_bodies_need_a_json_content_type() {
        let ok = request(
            &[("content-type", "application/json; charset=utf-8")],
            r#"{"name":"a"}"#,
        );
        assert!(json::<Named>(&ok).is_ok());
        let text = request(&[("content-type", "text/plain")], r#"{"name":"a"}"#);
        assert!(matches!(
            json::<Named>(&text),
            Err(ServiceError::UnsupportedMediaType(_))
        ));
        let none = request(&[], r#"{"name":"a"}"#);
        assert!(matches!(
            json::<Named>(&none),
            Err(ServiceError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn malformed_and_mistyped_bodies_are_400_naming_the_field() {
        let ct = [("content-type", "application/json")];
        let broken = request(&ct, r#"{"name": "#);
        assert!(matches!(
            json::<Named>(&broken),
            Err(ServiceError::Validation(_))
        ));
        match json::<Named>(&request(&ct, r#"{"name": 5}"#)) {
            Err(ServiceError::Validation(d)) => assert!(d.contains("name"), "{d}"),
            other => panic!("expected a validation error, got {other:?}"),
        }
        assert!(matches!(
            json::<Named>(&request(&ct, r#"{"name":"a","extra":1}"#)),
            Err(ServiceError::Validation(_))
        ));
        assert!(matches!(
            json::<Named>(&request(&ct, "")),
            Err(ServiceError::Validation(_))
        ));
    }

    #[test]
    fn oversized_bodies_are_413() {
        let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(MAX_JSON_BODY));
        let r = request(&[("content-type", "application/json")], &big);
        assert!(matches!(
            json::<Named>(&r),
            Err(ServiceError::PayloadTooLarge(_))
        ));
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(
            if_match(&request(&[("if-match", "3")], "")).ok(),
            Some(Some(3))
        );
        assert_eq!(
            if_match(&request(&[("if-match", "\"3\"")], "")).ok(),
            Some(Some(3))
        );
        assert_eq!(
            if_match(&request(&[("if-match", "W/\"7\"")], "")).ok(),
            Some(Some(7))
        );
        assert_eq!(
            if_match(&request(&[("if-match", "*")], "")).ok(),
            Some(None)
        );
        assert_eq!(if_match(&request(&[], "")).ok(), Some(None));
        assert!(if_match(&request(&[("if-match", "abc")], "")).is_err());
    }
}
