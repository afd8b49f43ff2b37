//! What Partner Center means for this product's agreements: which providers confirm their
//! agreements through it, the Microsoft Customer Agreement's templateId, and the agreement type
//! an attestation records (docs/partner-center.md).

use crate::model::Provider;

/// A provider's `platform` for Microsoft Partner Center.
pub const PLATFORM: &str = "microsoft_partner_center";

/// The Microsoft Customer Agreement's templateId in Partner Center.
pub const MCA_TEMPLATE_ID: &str = "117a77b0-9360-443b-8795-c6dedc750cf9";

/// The agreement type Partner Center attests for the templates of this product.
pub const CUSTOMER_AGREEMENT: &str = "MicrosoftCustomerAgreement";

/// Whether agreements of this provider are confirmed in, and synced with, Partner Center: a
/// Direct CSP partner's Partner Center provider that syncs agreements.
pub fn confirms_agreements(provider: &Provider) -> bool {
    provider.platform == PLATFORM && provider.syncs_agreements
}

/// Whether a template is the Microsoft Customer Agreement (the one a customer can also sign
/// directly in the Microsoft admin center).
pub fn is_mca(template_id: &str) -> bool {
    template_id.eq_ignore_ascii_case(MCA_TEMPLATE_ID)
}
