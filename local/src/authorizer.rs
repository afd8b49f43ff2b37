//! API Gateway HTTP API's Lambda authorizer (payload format 2.0, simple responses): identity
//! sources, the authorizer's event, its answer, and the cache of answers.
//!
//! What API Gateway does and the local stack does too: a request missing an identity source (or
//! with it empty) is a 401 `{"message":"Unauthorized"}` without an invocation; `isAuthorized:
//! false` is a 403 `{"message":"Forbidden"}`; a failed invocation or an answer that is not a simple
//! response is a 500 `{"message":"Internal Server Error"}`; allowed and denied answers are cached
//! by the identity sources' values for `ReauthorizeEvery` seconds (0: no cache), errors are not.
//!
//! Where it differs: the cache is per local stack and in memory (API Gateway's is per API and
//! may drop entries early); concurrent first requests with the same identity may each invoke the
//! authorizer; an allowed answer without `context` reaches the route as `{"lambda": {}}`; the
//! authorizer's timeout is the function's own (API Gateway stops waiting after 10 s).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{json, Map, Value};

use crate::intrinsics::{ACCOUNT_ID, REGION};

/// Cache entries beyond this many make a lookup sweep out the expired ones.
const CACHE_SWEEP_AT: usize = 10_000;

/// A Lambda authorizer as the local HTTP API runs it.
#[derive(Debug)]
pub struct LambdaAuthorizer {
    /// The authorizer's name in `Auth.Authorizers`.
    pub name: String,
    /// The binary of its function (the key of its pool).
    pub function: String,
    /// Lower-case header names: the identity sources.
    pub identity_headers: Vec<String>,
    /// How long an answer is kept; zero keeps none.
    pub ttl: Duration,
    cache: Mutex<HashMap<Vec<String>, (Instant, Decision)>>,
}

/// The authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `isAuthorized: true`, with the `context` the route's function gets.
    Allow { context: Value },
    /// `isAuthorized: false`.
    Deny,
}

/// What the API answers for a guarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Invoke the route with `requestContext.authorizer = {"lambda": context}`.
    Allowed { context: Value },
    /// 403.
    Forbidden,
    /// 500: the authorizer failed or answered something else than a simple response.
    Failed(String),
}

impl LambdaAuthorizer {
    pub fn new(name: &str, function: &str, identity_headers: Vec<String>, ttl: Duration) -> Self {
        Self {
            name: name.to_string(),
            function: function.to_string(),
            identity_headers,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The identity sources' values, in `Identity.Headers` order; `None` when one is missing or
    /// empty (API Gateway's 401).
    pub fn identity(&self, headers: &HeaderMap) -> Option<Vec<String>> {
        self.identity_headers
            .iter()
            .map(|name| {
                let values: Vec<String> = headers
                    .get_all(name.as_str())
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                let joined = values.join(",");
                (!joined.trim().is_empty()).then_some(joined)
            })
            .collect()
    }

    fn cached(&self, identity: &[String]) -> Option<Decision> {
        if self.ttl.is_zero() || identity.is_empty() {
            return None;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if cache.len() > CACHE_SWEEP_AT {
            cache.retain(|_, (until, _)| *until > now);
        }
        match cache.get(identity) {
            Some((until, decision)) if *until > now => Some(decision.clone()),
            Some(_) => {
                cache.remove(identity);
                None
            }
            None => None,
        }
    }

    fn remember(&self, identity: Vec<String>, decision: &Decision) {
        // API Gateway caches only when the authorizer has identity sources.
        if self.ttl.is_zero() || identity.is_empty() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(identity, (Instant::now() + self.ttl, decision.clone()));
    }

    /// Decides a request whose identity sources are `identity`: from the cache, or by `invoke`
    /// (which sends the authorizer's event to its function) with `event`.
    pub async fn authorize<F, Fut>(&self, identity: Vec<String>, event: Value, invoke: F) -> Outcome
    where
        F: FnOnce(Bytes) -> Fut,
        Fut: Future<Output = Result<Bytes, String>>,
    {
        let decision = match self.cached(&identity) {
            Some(decision) => decision,
            None => {
                let answer = match invoke(Bytes::from(event.to_string())).await {
                    Ok(answer) => answer,
                    Err(error) => return Outcome::Failed(error),
                };
                let decision = match parse_simple_response(&answer) {
                    Ok(decision) => decision,
                    Err(error) => return Outcome::Failed(error),
                };
                self.remember(identity, &decision);
                decision
            }
        };
        match decision {
            Decision::Allow { context } => Outcome::Allowed { context },
            Decision::Deny => Outcome::Forbidden,
        }
    }
}

/// Reads a simple response: `{"isAuthorized": bool, "context": {...}?}`.
pub fn parse_simple_response(payload: &[u8]) -> Result<Decision, String> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the authorizer's answer is not JSON: {e}"))?;
    let authorized = value
        .get("isAuthorized")
        .and_then(Value::as_bool)
        .ok_or("the authorizer's answer has no boolean isAuthorized")?;
    if !authorized {
        return Ok(Decision::Deny);
    }
    let context = match value.get("context") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(context @ Value::Object(_)) => context.clone(),
        Some(_) => return Err("the authorizer's context is not an object".into()),
    };
    Ok(Decision::Allow { context })
}

/// The `routeArn` API Gateway gives the authorizer, for the local API (`local`, stage
/// `$default`).
pub fn route_arn(method: &str, raw_path: &str) -> String {
    format!("arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:local/$default/{method}{raw_path}")
}

/// The authorizer's payload 2.0 event (`ApiGatewayV2CustomAuthorizerV2Request`) for a request
/// whose route event is `route_event`.
pub fn build_event(
    route_event: &Value,
    method: &str,
    raw_path: &str,
    identity: &[String],
) -> Value {
    let mut event = json!({
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn(method, raw_path),
        "identitySource": identity,
    });
    if let (Some(event), Some(route)) = (event.as_object_mut(), route_event.as_object()) {
        for key in [
            "routeKey",
            "rawPath",
            "rawQueryString",
            "cookies",
            "headers",
            "queryStringParameters",
            "requestContext",
            "pathParameters",
            "stageVariables",
        ] {
            if let Some(value) = route.get(key) {
                event.insert(key.to_string(), value.clone());
            }
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn authorizer(ttl_secs: u64) -> LambdaAuthorizer {
        LambdaAuthorizer::new(
            "Portal",
            "portal-authorizer",
            vec!["authorization".into()],
            Duration::from_secs(ttl_secs),
        )
    }

    /// Answers `isAuthorized` for "Bearer ok" tokens, counting its invocations.
    async fn decide(authorizer: &LambdaAuthorizer, calls: &AtomicUsize, token: &str) -> Outcome {
        let token = token.to_string();
        authorizer
            .authorize(vec![token.clone()], json!({}), |_event| async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                let allowed = token == "Bearer ok";
                Ok(Bytes::from(
                    json!({"isAuthorized": allowed, "context": {"call": n}}).to_string(),
                ))
            })
            .await
    }

    #[tokio::test]
    async fn caches_allowed_and_denied_answers_by_identity() {
        let authorizer = authorizer(60);
        let calls = AtomicUsize::new(0);
        let first = decide(&authorizer, &calls, "Bearer ok").await;
        assert_eq!(
            first,
            Outcome::Allowed {
                context: json!({"call": 1})
            }
        );
        // The same identity: the cached answer, context and all.
        assert_eq!(decide(&authorizer, &calls, "Bearer ok").await, first);
        assert_eq!(
            decide(&authorizer, &calls, "Bearer no").await,
            Outcome::Forbidden
        );
        assert_eq!(
            decide(&authorizer, &calls, "Bearer no").await,
            Outcome::Forbidden
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_zero_ttl_invokes_every_time() {
        let authorizer = authorizer(0);
        let calls = AtomicUsize::new(0);
        for n in 1..=3 {
            assert_eq!(
                decide(&authorizer, &calls, "Bearer ok").await,
                Outcome::Allowed {
                    context: json!({"call": n})
                }
            );
        }
    }

    #[tokio::test]
    async fn expired_answers_and_errors_are_not_reused() {
        let short = LambdaAuthorizer::new(
            "A",
            "f",
            vec!["authorization".into()],
            Duration::from_millis(50),
        );
        let calls = AtomicUsize::new(0);
        decide(&short, &calls, "Bearer ok").await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        decide(&short, &calls, "Bearer ok").await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let failing = authorizer(60);
        for _ in 0..2 {
            let outcome = failing
                .authorize(vec!["t".into()], json!({}), |_| async {
                    Err("crashed".to_string())
                })
                .await;
            assert_eq!(outcome, Outcome::Failed("crashed".into()));
        }
        let outcome = failing
            .authorize(vec!["t".into()], json!({}), |_| async {
                Ok(Bytes::from_static(br#"{"isAuthorized": "yes"}"#))
            })
            .await;
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    }

    #[test]
    fn reads_simple_responses() {
        assert_eq!(
            parse_simple_response(br#"{"isAuthorized": true}"#),
            Ok(Decision::Allow { context: json!({}) })
        );
        assert_eq!(
            parse_simple_response(br#"{"isAuthorized": false, "context": {"a": 1}}"#),
            Ok(Decision::Deny)
        );
        for bad in [
            &b"nope"[..],
            br#"{"principalId": "x"}"#,
            br#"{"isAuthorized": true, "context": [1]}"#,
        ] {
            assert!(parse_simple_response(bad).is_err());
        }
    }

    #[test]
    fn identity_needs_every_header_non_empty() {
        let authorizer = LambdaAuthorizer::new(
            "A",
            "f",
            vec!["authorization".into(), "x-key".into()],
            Duration::ZERO,
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "Authorization",
            "Bearer t".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(authorizer.identity(&headers), None);
        headers.insert("x-key", "".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(authorizer.identity(&headers), None);
        headers.insert("x-key", "k".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(
            authorizer.identity(&headers),
            Some(vec!["Bearer t".to_string(), "k".to_string()])
        );
    }

    #[test]
    fn builds_the_payload_2_authorizer_event() {
        let route_event = json!({
            "version": "2.0",
            "routeKey": "GET /portal/agreements/{id}",
            "rawPath": "/portal/agreements/a1",
            "rawQueryString": "x=1",
            "cookies": ["c=1"],
            "headers": {"authorization": "Bearer t", "host": "127.0.0.1:3000"},
            "queryStringParameters": {"x": "1"},
            "pathParameters": {"id": "a1"},
            "requestContext": {
                "accountId": ACCOUNT_ID, "apiId": "local", "domainName": "127.0.0.1:3000",
                "domainPrefix": "127",
                "http": {"method": "GET", "path": "/portal/agreements/a1", "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "t"},
                "requestId": "r", "routeKey": "GET /portal/agreements/{id}", "stage": "$default",
                "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1
            },
            "body": "ignored",
            "isBase64Encoded": false
        });
        let event = build_event(
            &route_event,
            "GET",
            "/portal/agreements/a1",
            &["Bearer t".to_string()],
        );
        assert_eq!(event["type"], "REQUEST");
        assert_eq!(
            event["routeArn"],
            "arn:aws:execute-api:us-east-1:000000000000:local/$default/GET/portal/agreements/a1"
        );
        assert_eq!(event["identitySource"], json!(["Bearer t"]));
        assert_eq!(event["requestContext"], route_event["requestContext"]);
        assert_eq!(event["pathParameters"], json!({"id": "a1"}));
        assert!(event.get("body").is_none() && event.get("isBase64Encoded").is_none());
        let typed: Result<aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request, _> =
            serde_json::from_value(event);
        let typed = typed.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(typed.identity_source, Some(vec!["Bearer t".to_string()]));
    }
}
