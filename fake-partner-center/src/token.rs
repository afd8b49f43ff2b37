//! The Entra ID token endpoint (v1 `resource=` and v2 `scope=`) and the bearer-token check of
//! every API request.

use std::time::Instant;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::json;

use crate::routes::{form_fields, json_response};
use crate::state::{lock, RecordedRequest, Shared};
use crate::{CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, RESOURCE, TENANT_ID};

pub(crate) fn oauth_error(
    status: StatusCode,
    error: &str,
    description: &str,
) -> Response<Full<Bytes>> {
    json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

pub(crate) fn token(
    state: &Shared,
    tenant: &str,
    version: u8,
    body: &[u8],
) -> Response<Full<Bytes>> {
    if tenant != TENANT_ID {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS90002: Tenant not found.",
        );
    }
    let form = form_fields(body);
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let refresh = match field("grant_type") {
        "client_credentials" => false,
        "refresh_token" if field("refresh_token") == REFRESH_TOKEN => true,
        "refresh_token" => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "AADSTS70000: The provided refresh token is invalid.",
            )
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "AADSTS70003: The grant type is not supported.",
            )
        }
    };
    let audience_ok = match version {
        1 => field("resource") == RESOURCE,
        _ => field("scope") == format!("{RESOURCE}/.default"),
    };
    if !audience_ok {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            if version == 1 {
                "invalid_resource"
            } else {
                "invalid_scope"
            },
            "AADSTS500011: The resource principal was not found in the tenant.",
        );
    }
    let access_token = format!("fake-at-{}", ulid::Ulid::new());
    let lifetime = {
        let mut state = lock(state);
        let lifetime = state.token_lifetime;
        state
            .tokens
            .insert(access_token.clone(), Instant::now() + lifetime);
        lifetime.as_secs()
    };
    let mut answer = json!({
        "token_type": "Bearer",
        "access_token": access_token,
    });
    if version == 1 {
        // The v1 endpoint sends its numbers as strings.
        answer["expires_in"] = json!(lifetime.to_string());
        answer["resource"] = json!(RESOURCE);
    } else {
        answer["expires_in"] = json!(lifetime);
        answer["scope"] = json!(format!("{RESOURCE}/.default"));
    }
    if refresh {
        answer["refresh_token"] = json!(REFRESH_TOKEN);
    }
    json_response(StatusCode::OK, &answer)
}

pub(crate) fn authorized(state: &Shared, request: &RecordedRequest) -> bool {
    let Some(token) = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let state = lock(state);
    state
        .tokens
        .get(token.trim())
        .is_some_and(|expires| Instant::now() < *expires)
}
