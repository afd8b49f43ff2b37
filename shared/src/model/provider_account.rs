//! Provider accounts: a customer account as known to a provider (for Partner Center, the
//! customer's tenant id). Unique per (provider, provider-specific id); an account may have several.

use serde::{Deserialize, Serialize};

use crate::error::ServiceResult;
use crate::model::{validate, Id, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderAccount {
    pub id: Id,
    pub provider_id: Id,
    /// The id in the provider's system, e.g. the customer's tenant id.
    pub provider_specific_id: String,
    pub name: String,
    pub account_id: Id,
    /// The import job that made it, so that a redelivered chunk of the job recognises its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_job_id: Option<Id>,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
}

/// One provider account to create, from a request body or a row of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProviderAccount {
    pub provider_id: String,
    pub provider_specific_id: String,
    pub name: String,
    #[serde(default)]
    pub account_id: Option<String>,
    /// Matches the account whose `email_domain` equals it, when `account_id` is not given.
    #[serde(default)]
    pub email_domain: Option<String>,
}

impl ProviderAccount {
    pub fn create(
        provider_id: Id,
        account_id: Id,
        input: &NewProviderAccount,
        now: Instant,
    ) -> ServiceResult<ProviderAccount> {
        Ok(ProviderAccount {
            id: Id::generate(),
            provider_id,
            provider_specific_id: specific_id(&input.provider_specific_id)?,
            name: validate::text("name", &input.name, 200)?,
            account_id,
            import_job_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}

/// The provider-specific id as it is keyed: trimmed, and lower-cased because providers' ids
/// (GUIDs, customer numbers) do not differ by case.
pub fn specific_id(raw: &str) -> ServiceResult<String> {
    let v = validate::text("provider_specific_id", raw, 200)?;
    if v.contains('#') {
        return Err(validate::invalid(
            "provider_specific_id",
            "must not contain `#`",
        ));
    }
    Ok(v.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_ids_are_normalised() {
        assert_eq!(
            specific_id(" 3F2504E0-4F89-11D3-9A0C-0305E82C3301 ")
                .ok()
                .as_deref(),
            Some("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
        );
        assert!(specific_id("").is_err());
        assert!(specific_id("a#b").is_err());
    }
}
