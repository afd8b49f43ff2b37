//! Automatic providers behind one trait: what the services need of a provider's API, whatever
//! the provider. Partner Center is one module; another provider (Crayon, StreamOne Ion) is another.

pub mod partner_center;

use serde::{Deserialize, Serialize};

use crate::model::{Contact, Day, Instant, Provider};

/// A customer as the provider knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderCustomer {
    /// The provider's id of the customer (Partner Center: the customer's tenant id).
    pub id: String,
    pub company_name: String,
    /// The customer's primary domain (e.g. contoso.onmicrosoft.com), when known.
    pub domain: Option<String>,
}

/// One page of customers and where the next begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerPage {
    pub customers: Vec<ProviderCustomer>,
    /// Opaque; None on the last page.
    pub continuation: Option<String>,
}

/// The person who accepted (or on whose behalf acceptance was attested).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementContact {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone_number: Option<String>,
}

/// An acceptance the provider holds for a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAgreement {
    /// The provider's template id (Partner Center: templateId).
    pub template_id: String,
    /// e.g. MicrosoftCustomerAgreement.
    pub agreement_type: String,
    /// The instant of acceptance, RFC 3339.
    pub date_agreed: String,
    pub primary_contact: Option<AgreementContact>,
}

/// Attesting a customer's acceptance to the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    pub customer_id: String,
    pub template_id: String,
    pub agreement_type: String,
    /// YYYY-MM-DD; sent as midnight UTC.
    pub date_agreed: String,
    pub primary_contact: AgreementContact,
}

/// Starting Microsoft's enhanced attestation: who accepts, for which company, in which
/// country and language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationStart {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// BCP 47.
    pub language: String,
    pub company_name: String,
    pub signatory: AgreementContact,
}

/// Where the provider says an attestation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteAttestationState {
    /// Waiting for the customer (or a status this client does not know: still waiting).
    Pending,
    /// The customer accepted; the agreement can be created.
    CustomerAccepted,
    /// The agreement was created already.
    AgreementCreated,
    /// The link expired unaccepted.
    LinkExpired,
}

/// An attestation as the provider answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAttestation {
    pub attestation_id: String,
    pub state: RemoteAttestationState,
    /// The provider's own word for the state, as sent (empty when it sent none).
    pub raw_status: String,
    /// Where the customer accepts: the provider's, or built from the configured template.
    pub link: String,
    /// When the link expires, if the provider said (else None).
    pub expires_at: Option<Instant>,
}

/// Creating the agreement of an accepted attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedAgreement {
    pub customer_id: String,
    pub template_id: String,
    pub attestation_id: String,
    pub accepted_on: Day,
    pub signer: AgreementContact,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying later (throttled, unavailable, timed out); `retry_after` in seconds if said.
    #[error("the provider is unavailable: {detail}")]
    Transient {
        detail: String,
        retry_after: Option<u64>,
    },
    /// The provider refused the request; retrying the same request will not help.
    #[error("the provider refused the request: {code}: {detail}")]
    Refused { code: String, detail: String },
    /// The provider answered something this client cannot read.
    #[error("the provider's answer could not be read: {0}")]
    Malformed(String),
    /// Credentials or configuration are wrong.
    #[error("the provider connection is misconfigured: {0}")]
    Configuration(String),
}

/// A provider's failure in the services' words: what the caller may read, the provider's own
/// error kept as the cause. Nothing was written when a provider call fails.
impl From<ConnectorError> for crate::error::ServiceError {
    fn from(e: ConnectorError) -> Self {
        let detail = match &e {
            ConnectorError::Refused { code, detail } => {
                format!("the provider refused the request ({code}): {detail}")
            }
            ConnectorError::Transient { .. } => {
                "the provider is unavailable; nothing was changed, retry later".into()
            }
            ConnectorError::Malformed(_) => {
                "the provider answered something unreadable; nothing was changed".into()
            }
            ConnectorError::Configuration(_) => {
                return crate::error::ServiceError::because(
                    "the provider connection is misconfigured",
                    e,
                )
            }
        };
        crate::error::ServiceError::ProviderFailed { detail, source: e }
    }
}

/// A customer's acceptance to confirm with the provider: which template, for which customer,
/// accepted when and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    /// The provider's id of the customer (Partner Center: the tenant id).
    pub customer_id: String,
    /// The provider's id of the template (Partner Center: templateId).
    pub template_id: String,
    pub accepted_on: Day,
    pub signer: AgreementContact,
}

impl From<&Contact> for AgreementContact {
    fn from(contact: &Contact) -> Self {
        AgreementContact {
            first_name: contact.first_name.clone(),
            last_name: contact.last_name.clone(),
            email: contact.email.clone(),
            phone_number: contact.phone.clone(),
        }
    }
}

/// Whether agreements of this provider are confirmed with, and pulled from, the provider's API
/// (for Partner Center: a Direct CSP partner's provider that syncs agreements). A property of
/// the provider, answered whether or not this function holds the provider's credentials.
pub fn confirms_agreements(provider: &Provider) -> bool {
    partner_center::confirms_agreements(provider)
}

/// The platforms this function has a provider connection for, as its environment says:
/// Partner Center when `PARTNER_CENTER_CLIENT_ID` is set. Functions that only start syncs are
/// given the client id (not the secret) so that they can refuse a sync that cannot run.
pub fn configured_platforms() -> Vec<&'static str> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    if set("PARTNER_CENTER_CLIENT_ID") {
        vec![partner_center::PLATFORM]
    } else {
        Vec::new()
    }
}

/// What the services need of an automatic provider, in terms of no provider in particular.
#[allow(async_fn_in_trait)]
pub trait ProviderConnector: Send + Sync {
    /// Whether this connection reaches the provider's API (its platform's).
    fn serves(&self, provider: &Provider) -> bool;

    /// One page of the provider's customers; `continuation` from the previous page.
    async fn customers(&self, continuation: Option<&str>) -> Result<CustomerPage, ConnectorError>;

    /// The acceptances the provider holds for a customer (all agreement types).
    async fn customer_agreements(
        &self,
        customer_id: &str,
    ) -> Result<Vec<ProviderAgreement>, ConnectorError>;

    /// An acceptance of `template_id` the customer gave the provider directly, with no partner
    /// involved (Partner Center: the Microsoft Customer Agreement signed in the admin center),
    /// or None. The provider does not say who signed: `primary_contact` is None.
    async fn direct_acceptance(
        &self,
        customer_id: &str,
        template_id: &str,
    ) -> Result<Option<ProviderAgreement>, ConnectorError>;

    /// Confirms a customer's acceptance with the provider (Partner Center: the partner's
    /// attestation), answering the acceptance the provider records. One the provider already
    /// holds counts as done.
    async fn confirm_acceptance(
        &self,
        acceptance: &Acceptance,
    ) -> Result<ProviderAgreement, ConnectorError>;

    /// Starts Microsoft's enhanced attestation for a signatory: its id and the customer's link.
    async fn start_attestation(
        &self,
        start: &AttestationStart,
    ) -> Result<RemoteAttestation, ConnectorError>;

    /// Where an attestation stands now.
    async fn attestation_state(
        &self,
        attestation_id: &str,
    ) -> Result<RemoteAttestation, ConnectorError>;

    /// Creates the agreement of an accepted attestation; one that exists already counts as
    /// done (answered as the provider holds it).
    async fn create_attested_agreement(
        &self,
        agreement: &AttestedAgreement,
    ) -> Result<ProviderAgreement, ConnectorError>;
}

/// The connector of a function deployed without a provider's credentials: every call says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconfigured;

impl ProviderConnector for Unconfigured {
    fn serves(&self, _: &Provider) -> bool {
        false
    }
    async fn customers(&self, _: Option<&str>) -> Result<CustomerPage, ConnectorError> {
        Err(unconfigured())
    }
    async fn customer_agreements(&self, _: &str) -> Result<Vec<ProviderAgreement>, ConnectorError> {
        Err(unconfigured())
    }
    async fn direct_acceptance(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<ProviderAgreement>, ConnectorError> {
        Err(unconfigured())
    }
    async fn confirm_acceptance(
        &self,
        _: &Acceptance,
    ) -> Result<ProviderAgreement, ConnectorError> {
        Err(unconfigured())
    }
    async fn start_attestation(
        &self,
        _: &AttestationStart,
    ) -> Result<RemoteAttestation, ConnectorError> {
        Err(unconfigured())
    }
    async fn attestation_state(&self, _: &str) -> Result<RemoteAttestation, ConnectorError> {
        Err(unconfigured())
    }
    async fn create_attested_agreement(
        &self,
        _: &AttestedAgreement,
    ) -> Result<ProviderAgreement, ConnectorError> {
        Err(unconfigured())
    }
}

fn unconfigured() -> ConnectorError {
    ConnectorError::Configuration("no provider connection is configured for this function".into())
}

/// The connection a function holds: the configured provider, or none.
#[derive(Debug, Clone, Default)]
pub enum Connector {
    PartnerCenter(Box<partner_center::PartnerCenterClient>),
    #[default]
    Unconfigured,
}

impl Connector {
    /// Partner Center when `PARTNER_CENTER_CLIENT_ID` and a secret (`PARTNER_CENTER_CLIENT_SECRET`
    /// or `PARTNER_CENTER_CLIENT_SECRET_ARN`) are set (then its configuration must be complete),
    /// otherwise none. An inline secret (local stacks) wins over a secret's ARN.
    pub fn from_env() -> Result<Connector, ConnectorError> {
        let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let inline_secret = set("PARTNER_CENTER_CLIENT_SECRET").is_some();
        let secret = inline_secret || set("PARTNER_CENTER_CLIENT_SECRET_ARN").is_some();
        if set("PARTNER_CENTER_CLIENT_ID").is_none() || !secret {
            return Ok(Connector::Unconfigured);
        }
        let config = partner_center::PartnerCenterConfig::from_lookup(|name| {
            if name == "PARTNER_CENTER_CLIENT_SECRET_ARN" && inline_secret {
                return None;
            }
            set(name)
        })?;
        Ok(Connector::PartnerCenter(Box::new(
            partner_center::PartnerCenterClient::new(config)?,
        )))
    }
}

impl ProviderConnector for Connector {
    fn serves(&self, provider: &Provider) -> bool {
        match self {
            Connector::PartnerCenter(pc) => pc.serves(provider),
            Connector::Unconfigured => false,
        }
    }
    async fn customers(&self, continuation: Option<&str>) -> Result<CustomerPage, ConnectorError> {
        match self {
            Connector::PartnerCenter(pc) => pc.customers(continuation).await,
            Connector::Unconfigured => Unconfigured.customers(continuation).await,
        }
    }
    async fn customer_agreements(
        &self,
        customer_id: &str,
    ) -> Result<Vec<ProviderAgreement>, ConnectorError> {
        match self {
            Connector::PartnerCenter(pc) => pc.customer_agreements(customer_id).await,
            Connector::Unconfigured => Unconfigured.customer_agreements(customer_id).await,
        }
    }
    async fn direct_acceptance(
        &self,
        customer_id: &str,
        template_id: &str,
    ) -> Result<Option<ProviderAgreement>, ConnectorError> {
        match self {
            Connector::PartnerCenter(pc) => pc.direct_acceptance(customer_id, template_id).await,
            Connector::Unconfigured => {
                Unconfigured
                    .direct_acceptance(customer_id, template_id)
                    .await
            }
        }
    }
    async fn confirm_acceptance(
        &self,
        acceptance: &Acceptance,
    ) -> Result<ProviderAgreement, ConnectorError> {
        match self {
            Connector::PartnerCenter(pc) => pc.confirm_acceptance(acceptance).await,
            Connector::Unconfigured => Unconfigured.confirm_acceptance(acceptance).await,
        }
    }
    async fn start_attestation(
        &self,
        start: &AttestationStart,
    ) -> Result<RemoteAttestation, ConnectorError> {
        match self {
            Connector::PartnerCenter(pc) => pc.start_attestation(start).await,
            Connector::Unconfigured => Unconfigured.start_attestation(start).await,
        }
    }
    async fn attestation_state(
        &self,
        attestation_id: &str,
    ) -> Result<RemoteAttestation, ConnectorError> {
        match self {
            Connector::PartnerCenter(pc) => pc.attestation_state(attestation_id).await,
            Connector::Unconfigured => Unconfigured.attestation_state(attestation_id).await,
        }
    }
    async fn create_attested_agreement(
        &self,
        agreement: &AttestedAgreement,
    ) -> Result<ProviderAgreement, ConnectorError> {
        match self {
            Connector::PartnerCenter(pc) => pc.create_attested_agreement(agreement).await,
            Connector::Unconfigured => Unconfigured.create_attested_agreement(agreement).await,
        }
    }
}
