//! One function per operation: each takes the caller and the store, applies the domain's rules
//! and answers with entities or a `ServiceError`. No HTTP, no Lambda types.

pub mod accounts;
pub mod agreements;
pub mod attestations;
pub mod billing_contracts;
pub mod exports;
pub mod jobs;
pub mod notices;
pub mod portal;
pub mod portal_auth;
pub mod portal_links;
pub mod provider_accounts;
pub mod providers;
pub mod provisioning;
pub mod templates;

use crate::error::ServiceError;
use crate::model::Id;

/// The paging a caller asked for.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The page as the store reads it.
    pub fn spec(&self) -> crate::store::PageSpec<'_> {
        crate::store::PageSpec {
            limit: self.limit,
            cursor: self.cursor.as_deref(),
        }
    }
}

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 500;

/// An id a caller sent; one that cannot be an id of ours names nothing, so it is a 404.
pub fn known_id(raw: &str, what: &str) -> Result<Id, ServiceError> {
    Id::parse(raw).ok_or_else(|| not_found(what, raw))
}

pub fn not_found(what: &str, id: impl std::fmt::Display) -> ServiceError {
    ServiceError::NotFound(format!("{what} {id} does not exist"))
}

/// An id used as a list filter: malformed is a 400, since nothing is being looked up by it.
pub fn filter_id(raw: Option<&str>, field: &str) -> Result<Option<Id>, ServiceError> {
    raw.map(|r| {
        Id::parse(r).ok_or_else(|| ServiceError::Validation(format!("`{field}` is not an id")))
    })
    .transpose()
}

/// Compares the caller's If-Match with the stored version.
pub fn check_version(expected: Option<u64>, stored: u64) -> Result<(), ServiceError> {
    match expected {
        Some(v) if v != stored => Err(ServiceError::PreconditionFailed(format!(
            "the record is at version {stored}, not {v}; read it again and retry"
        ))),
        _ => Ok(()),
    }
}

/// Read-modify-write attempts when the caller gave no If-Match and someone else wrote first.
pub const OPTIMISTIC_ATTEMPTS: usize = 4;

/// A change under optimistic locking: read the record, check the caller's If-Match, apply the
/// change, write it back under the read version. A lost race is retried (re-read, re-apply)
/// unless the caller pinned a version with If-Match, which then answers 412.
///
/// `write(current, next)` stores `next` if the stored version is still `current`'s and answers
/// `StoreError::ConditionFailed` (or a cancelled transaction) when it is not.
pub async fn change_versioned<T, L, LF, W, WF>(
    what: &str,
    if_match: Option<u64>,
    load: L,
    apply: impl Fn(&T) -> Result<T, ServiceError>,
    write: W,
) -> Result<T, ServiceError>
where
    T: crate::model::Versioned,
    L: Fn() -> LF,
    LF: std::future::Future<Output = Result<T, ServiceError>>,
    W: Fn(T, T) -> WF,
    WF: std::future::Future<Output = Result<T, crate::store::StoreError>>,
{
    use crate::store::StoreError;
    for _ in 0..OPTIMISTIC_ATTEMPTS {
        let current = load().await?;
        check_version(if_match, current.version())?;
        let next = apply(&current)?;
        match write(current, next).await {
            Ok(stored) => {
                tracing::info!(version = stored.version(), "{what} changed");
                return Ok(stored);
            }
            Err(StoreError::ConditionFailed | StoreError::Cancelled(_)) if if_match.is_none() => {
                continue
            }
            Err(StoreError::ConditionFailed | StoreError::Cancelled(_)) => {
                return Err(ServiceError::PreconditionFailed(format!(
                    "the {what} changed while this request was applied"
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::conflict(format!(
        "the {what} is being changed by others; retry"
    )))
}
