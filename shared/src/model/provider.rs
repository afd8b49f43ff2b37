//! Providers: whom agreements are with, automatic (an API we sync with) or manual.

use serde::{Deserialize, Serialize};

use crate::error::ServiceResult;
use crate::model::{validate, Id, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Automatic,
    Manual,
}

/// How a customer's acceptance of the Microsoft Customer Agreement is confirmed to Partner
/// Center for a provider that syncs agreements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationMethod {
    /// Microsoft's enhanced attestation: the customer accepts in Microsoft's own page (a link
    /// from an attestation the partner creates); the partner then creates the agreement.
    #[default]
    Enhanced,
    /// The partner attests the customer's acceptance itself (`POST /customers/{id}/agreements`),
    /// for tenants where Microsoft still accepts it.
    Legacy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    pub id: Id,
    pub name: String,
    pub kind: ProviderKind,
    /// The provider's system, e.g. `microsoft_partner_center`, or `other`.
    pub platform: String,
    /// Whether acceptance is pushed to and pulled from the provider.
    pub syncs_agreements: bool,
    /// For Partner Center: how acceptances of the MCA are confirmed (`enhanced` by default).
    #[serde(default)]
    pub attestation_method: AttestationMethod,
    /// Provider accounts linked to it, kept by the writes that link them; a bulk job's
    /// starting total (its final total is what it went through).
    #[serde(default)]
    pub provider_account_count: u64,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProvider {
    pub name: String,
    pub kind: ProviderKind,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub syncs_agreements: bool,
    #[serde(default)]
    pub attestation_method: AttestationMethod,
}

/// PATCH /providers/{id}: the fields sent change, the others stay.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderPatch {
    pub name: Option<String>,
    pub kind: Option<ProviderKind>,
    pub platform: Option<String>,
    pub syncs_agreements: Option<bool>,
    pub attestation_method: Option<AttestationMethod>,
}

impl Provider {
    /// The provider as it would be after the patch; the caller stores it under a version check.
    pub fn patched(&self, patch: ProviderPatch, now: Instant) -> ServiceResult<Provider> {
        let mut next = self.clone();
        if let Some(v) = patch.name {
            next.name = validate::text("name", &v, 200)?;
        }
        if let Some(v) = patch.kind {
            next.kind = v;
        }
        if let Some(v) = patch.platform {
            next.platform = validate::word("platform", &v, 64)?;
        }
        if let Some(v) = patch.syncs_agreements {
            next.syncs_agreements = v;
        }
        if let Some(v) = patch.attestation_method {
            next.attestation_method = v;
        }
        next.updated_at = now;
        next.version = self.version + 1;
        Ok(next)
    }

    pub fn create(input: NewProvider, now: Instant) -> ServiceResult<Provider> {
        let platform = match input.platform.as_deref() {
            Some(p) => validate::word("platform", p, 64)?,
            None => "other".to_string(),
        };
        Ok(Provider {
            id: Id::generate(),
            name: validate::text("name", &input.name, 200)?,
            kind: input.kind,
            platform,
            syncs_agreements: input.syncs_agreements,
            attestation_method: input.attestation_method,
            provider_account_count: 0,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}
