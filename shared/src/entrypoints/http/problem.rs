//! Errors as HTTP answers: each `ServiceError` variant has exactly one status and one `code`
//! word of the contract, and becomes a problem document (RFC 9457). A 5xx says nothing of its
//! cause to the caller; the log line carries the whole chain.

use http::header::CONTENT_TYPE;
use http::StatusCode;
use lambda_http::{Body, Response};

use crate::error::{Chain, ServiceError};

pub fn status_of(error: &ServiceError) -> StatusCode {
    match error {
        ServiceError::Validation(_) => StatusCode::BAD_REQUEST,
        ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Conflict { .. } | ServiceError::AttestationRequired(_) => {
            StatusCode::CONFLICT
        }
        ServiceError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        ServiceError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ServiceError::ProviderFailed { .. } | ServiceError::EmailFailed { .. } => {
            StatusCode::BAD_GATEWAY
        }
        ServiceError::Store(_) | ServiceError::Queue(_) | ServiceError::Internal { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The stable machine word of the contract's problem documents.
pub fn code_of(error: &ServiceError) -> &'static str {
    match error {
        ServiceError::Validation(_) => "validation_failed",
        ServiceError::Unauthorized(_) => "unauthorized",
        ServiceError::Forbidden(_) => "forbidden",
        ServiceError::NotFound(_) => "not_found",
        ServiceError::Conflict { .. } => "conflict",
        ServiceError::AttestationRequired(_) => "attestation_required",
        ServiceError::PreconditionFailed(_) => "precondition_failed",
        ServiceError::PayloadTooLarge(_) => "payload_too_large",
        ServiceError::UnsupportedMediaType(_) => "unsupported_media_type",
        ServiceError::ProviderFailed { .. } => "provider_failed",
        ServiceError::EmailFailed { .. } => "email_failed",
        ServiceError::Store(_) | ServiceError::Queue(_) | ServiceError::Internal { .. } => {
            "internal"
        }
    }
}

/// What the caller may read: a 5xx says nothing of its cause.
pub fn public_detail(error: &ServiceError) -> String {
    if status_of(error) == StatusCode::INTERNAL_SERVER_ERROR {
        "The request could not be completed; it is safe to retry.".to_string()
    } else {
        error.to_string()
    }
}

/// The problem document of RFC 9457, with the contract's stable `code`.
pub fn problem(error: &ServiceError) -> Response<Body> {
    let status = status_of(error);
    if status.is_server_error() {
        tracing::error!(error = %Chain(error), "request failed");
    } else {
        tracing::info!(status = status.as_u16(), detail = %error, "request refused");
    }
    let mut doc = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": public_detail(error),
        "code": code_of(error),
    });
    if let ServiceError::Conflict {
        existing_id: Some(id),
        ..
    } = error
    {
        doc["existing_id"] = serde_json::Value::String(id.clone());
    }
    let mut response = Response::new(Body::Text(doc.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/problem+json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_detail_is_never_public() {
        let e = ServiceError::because(
            "reading the table",
            std::io::Error::other("DynamoDB said: ResourceNotFoundException arn:aws:..."),
        );
        assert_eq!(status_of(&e), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(code_of(&e), "internal");
        assert!(!public_detail(&e).contains("DynamoDB"));
        let store = ServiceError::from(crate::store::StoreError::Corrupt("PK is a number".into()));
        assert!(!public_detail(&store).contains("PK"));
    }

    #[test]
    fn a_bad_cursor_is_the_callers() {
        let e = ServiceError::from(crate::store::StoreError::BadCursor);
        assert_eq!(status_of(&e), StatusCode::BAD_REQUEST);
        assert_eq!(code_of(&e), "validation_failed");
    }
}
