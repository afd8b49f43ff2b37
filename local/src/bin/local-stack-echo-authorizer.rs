//! A test Lambda authorizer for the local stack (payload 2.0, simple responses): allows
//! `Bearer allow...`, denies other tokens, fails for `Bearer fail` and answers no simple response
//! for `Bearer garbage`. Its context tells the test which invocation answered and what it saw.

use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, _context) = event.into_parts();
    // The event is what aws_lambda_events reads as an authorizer's request.
    let request: aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request =
        serde_json::from_value(payload.clone())?;
    let token = request
        .identity_source
        .and_then(|sources| sources.first().cloned())
        .unwrap_or_default();
    match token.as_str() {
        "Bearer fail" => return Err("asked to fail".into()),
        "Bearer garbage" => return Ok(json!({"principalId": "nobody"})),
        _ => {}
    }
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    Ok(json!({
        "isAuthorized": token.starts_with("Bearer allow"),
        "context": {
            "invocation": format!("{}-{nonce}", std::process::id()),
            "type": payload["type"],
            "route_arn": payload["routeArn"],
            "route_key": payload["routeKey"],
            "identity_source": payload["identitySource"],
            "path_parameters": payload["pathParameters"],
            "request_id": payload["requestContext"]["requestId"],
        }
    }))
}
