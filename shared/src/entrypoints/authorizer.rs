//! The portal routes' Lambda authorizer (HttpApi, payload 2.0, simple responses): the bearer
//! token of the `Authorization` header in, `{"isAuthorized": …, "context": {…}}` out. API
//! Gateway answers 403 `{"message":"Forbidden"}` itself for a refusal and caches the answer per
//! token for `PortalAuthorizerCacheSeconds`.
//!
//! The event is read as plain JSON, so no shape of it can fail the function: anything without a
//! usable token is a refusal.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};

use crate::config::{init_tracing, AppContext};
use crate::error::ServiceError;
use crate::model::LinkKey;
use crate::services::portal_auth::{self, bearer, CustomerIdp, Denied};
use crate::store::Store;

/// The token of an authorizer event: its identity source (the `Authorization` header).
pub fn token_of(event: &Value) -> Option<String> {
    let from_source = event
        .get("identitySource")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .and_then(Value::as_str);
    let from_header = event
        .get("headers")
        .and_then(Value::as_object)
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, v)| v.as_str())
        });
    from_source
        .or(from_header)
        .and_then(bearer)
        .map(str::to_string)
}

/// The authorizer's answer to one event.
pub async fn decide(
    store: &Store,
    key: &LinkKey,
    idp: Option<&CustomerIdp>,
    event: &Value,
) -> Value {
    let route = event.get("routeKey").and_then(Value::as_str).unwrap_or("");
    let outcome = match token_of(event) {
        None => Err(Denied::NoToken),
        Some(token) => portal_auth::authorize(store, key, idp, &token).await,
    };
    match outcome {
        Ok(context) => {
            tracing::info!(
                route,
                via = context.get("via").map(String::as_str),
                account_id = context.get("account_id").map(String::as_str),
                "portal caller admitted"
            );
            json!({ "isAuthorized": true, "context": context })
        }
        Err(why) => {
            tracing::info!(route, reason = %why, "portal caller refused");
            json!({ "isAuthorized": false, "context": {} })
        }
    }
}

/// The whole main of the portal authorizer.
pub async fn serve_portal_authorizer() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let ctx = AppContext::from_env().await?;
    let idp = CustomerIdp::from_env().map_err(ServiceError::internal)?;
    let (ctx, idp) = (&ctx, idp.as_ref());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Without the key no token can be checked: an error (API Gateway answers 500), not a
        // refusal that would tell the customer their link is bad.
        let key = ctx.link_key().await?;
        Ok::<_, lambda_runtime::Error>(decide(&ctx.store, key, idp, &event.payload).await)
    }))
    .await
}
