//! The one error type at the service boundary; every variant has exactly one HTTP status.

use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    Conflict {
        detail: String,
        /// The record that stands in the way, when there is one (e.g. the open agreement).
        existing_id: Option<String>,
    },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A provider's API (e.g. Partner Center) failed or refused; nothing was written.
    #[error("{0}")]
    ProviderFailed(String),
    /// Something failed that the caller cannot fix; the text is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn conflict(detail: impl Into<String>) -> Self {
        ServiceError::Conflict {
            detail: detail.into(),
            existing_id: None,
        }
    }

    pub fn internal(source: impl std::fmt::Display) -> Self {
        ServiceError::Internal(source.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServiceError::Validation(_) => StatusCode::BAD_REQUEST,
            ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Conflict { .. } => StatusCode::CONFLICT,
            ServiceError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ServiceError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ServiceError::ProviderFailed(_) => StatusCode::BAD_GATEWAY,
            ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine word of the contract's problem documents.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Validation(_) => "validation_failed",
            ServiceError::Unauthorized(_) => "unauthorized",
            ServiceError::Forbidden(_) => "forbidden",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::Conflict { .. } => "conflict",
            ServiceError::PreconditionFailed(_) => "precondition_failed",
            ServiceError::PayloadTooLarge(_) => "payload_too_large",
            ServiceError::UnsupportedMediaType(_) => "unsupported_media_type",
            ServiceError::ProviderFailed(_) => "provider_failed",
            ServiceError::Internal(_) => "internal",
        }
    }

    /// What the caller may read: a 5xx says nothing of its cause.
    pub fn public_detail(&self) -> String {
        match self {
            ServiceError::Internal(_) => {
                "The request could not be completed; it is safe to retry.".to_string()
            }
            other => other.to_string(),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_detail_is_never_public() {
        let e = ServiceError::internal("DynamoDB said: ResourceNotFoundException arn:aws:...");
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.public_detail().contains("DynamoDB"));
    }
}
