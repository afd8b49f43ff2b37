//! The one error type at the service boundary: what went wrong, in the domain's words, with the
//! cause kept as the error's `source` so that a log line shows the whole chain. Which HTTP status
//! and problem `code` each variant answers is the HTTP entrypoint's business.

use std::error::Error as StdError;
use std::fmt;

use crate::connectors::ConnectorError;
use crate::queue::SendError;
use crate::store::StoreError;

/// Any error, as a cause.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

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
    /// The agreement must be accepted in Microsoft's own page (enhanced attestation), not
    /// confirmed here.
    #[error("{0}")]
    AttestationRequired(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A provider's API (e.g. Partner Center) failed or refused; nothing was written. `detail`
    /// is what the caller may read; the provider's own error is the source.
    #[error("{detail}")]
    ProviderFailed {
        detail: String,
        #[source]
        source: ConnectorError,
    },
    /// An e-mail was not sent (SES refused it, or the outcome is unknown); `detail` is what the
    /// caller may read, SES's own answer is the source.
    #[error("{detail}")]
    EmailFailed {
        detail: String,
        #[source]
        source: crate::email::SendError,
    },
    /// The table could not be read or written.
    #[error("the table could not be read or written")]
    Store(#[source] StoreError),
    /// The bulk queue refused a message.
    #[error("the bulk queue refused a message")]
    Queue(#[from] SendError),
    /// Something failed that the caller cannot fix; logged, never sent.
    #[error("{context}")]
    Internal {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl ServiceError {
    pub fn conflict(detail: impl Into<String>) -> Self {
        ServiceError::Conflict {
            detail: detail.into(),
            existing_id: None,
        }
    }

    /// An internal failure with no deeper cause (a broken invariant, a missing setting).
    pub fn internal(context: impl Into<String>) -> Self {
        ServiceError::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// An internal failure caused by `source`.
    pub fn because(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        ServiceError::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// Whether the caller's request is at fault (as opposed to this system or a dependency).
    pub fn is_callers(&self) -> bool {
        !matches!(
            self,
            ServiceError::ProviderFailed { .. }
                | ServiceError::EmailFailed { .. }
                | ServiceError::Store(_)
                | ServiceError::Queue(_)
                | ServiceError::Internal { .. }
        )
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Shows an error with every cause after it: `outer: cause: root cause`.
pub struct Chain<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_keeps_every_cause() {
        let root = std::io::Error::other("connection reset");
        let e = ServiceError::because("reading the agreement", root);
        assert_eq!(
            Chain(&e).to_string(),
            "reading the agreement: connection reset"
        );
        assert!(!e.is_callers());
        assert!(ServiceError::NotFound("x".into()).is_callers());
    }
}
