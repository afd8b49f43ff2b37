//! The Microsoft Partner Center connector: a REST client (reqwest over rustls) for the customer
//! and customer-agreement endpoints, with its Entra ID token, retries and error mapping, behind
//! [`ProviderConnector`].
//!
//! Calls made (all under `{base_url}/v1`):
//! - `GET /customers?size=N`, then the `links.next` of each page with its `MS-ContinuationToken`;
//! - `GET /customers/{id}/agreements?agreementType=*`;
//! - `GET /customers/{id}/directSignedMicrosoftCustomerAgreementStatus`;
//! - `POST /customers/{id}/agreements` (attestation; `600061` means "already attested").
//!
//! Authentication: an Entra ID token from `token_url`, by default the v1 endpoint
//! `https://login.microsoftonline.com/{tenant}/oauth2/token` with
//! `resource=https://api.partnercenter.microsoft.com` — the form Partner Center's own
//! authentication samples use; a `/v2.0/` token URL gets `scope=<resource>/.default` instead.
//! Partner Center documents the legacy agreement endpoints as **App+User** only: with just a
//! client secret the token is app-only (`client_credentials`), which lists customers but may be
//! refused on agreements; configure a refresh token of the secure application model and the client
//! redeems it instead (`grant_type=refresh_token`, same client id and secret).
//!
//! Every request carries `Authorization: Bearer`, `Accept: application/json`, `MS-RequestId`,
//! `MS-CorrelationId`, `MS-Contract-Version: v1` and `MS-PartnerCenter-Application`.
//! `MS-RequestId` is new for every logical call and *kept* across its retries: Partner Center uses
//! it for idempotency ("if there's a timeout, the retry call should include the same value"), which
//! matters for the attestation POST. `MS-CorrelationId` is one per client value; give a logical
//! operation (a sync run, a queue message) its own with [`PartnerCenterClient::with_correlation_id`].
//!
//! The modules: `agreements` (what Partner Center means for this product's agreements: which
//! providers confirm through it, the MCA's templateId, the agreement type it attests), `config` (what the client is told, from the environment), `secret` (the
//! client secret and where it comes from), `token` (the Entra ID token and its cache),
//! `transport` (one logical call with its headers and retries), `errors` (error codes and
//! error answers as [`ConnectorError`]), `paths` (customer-id segments, next-page links and
//! continuations) and `wire` (Partner Center's JSON shapes).

mod agreements;
mod config;
mod enhanced;
mod errors;
mod paths;
mod secret;
mod token;
mod transport;
mod wire;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Url};
use tokio::sync::{OnceCell, RwLock};
use uuid::Uuid;

use super::{
    Acceptance, AgreementContact, Attestation, AttestationStart, AttestedAgreement, ConnectorError,
    CustomerPage, ProviderAgreement, ProviderConnector, RemoteAttestation,
};
use crate::model::Day;
use config::checked_url;
use errors::{parse_json, AGREEMENT_ALREADY_EXISTS_NAME};
use paths::{Continuation, CUSTOMERS_PATH};
use token::TokenState;
use transport::Call;
use wire::{AgreementDto, AgreementRequest, Collection, CustomerDto, DirectSignedDto};

pub use agreements::{confirms_agreements, is_mca, CUSTOMER_AGREEMENT, MCA_TEMPLATE_ID, PLATFORM};
pub use config::{
    PartnerCenterConfig, TokenAudience, DEFAULT_BASE_URL, DEFAULT_TOKEN_URL_TEMPLATE,
    PARTNER_CENTER_RESOURCE,
};
pub use enhanced::{EnhancedSettings, ATTESTATION_ID_PLACEHOLDER, INVALID_ATTESTATION_START};
pub use errors::{
    AGREEMENT_ALREADY_EXISTS, INVALID_ATTESTATION, INVALID_CONTINUATION, INVALID_CUSTOMER_ID,
};
pub use secret::{client_secret, parse_secret_string, AppSecret, Secret, SecretSource};

/// A Partner Center client. Cheap to clone: clones share the HTTP connection pool and the token.
#[derive(Clone)]
pub struct PartnerCenterClient {
    inner: Arc<Inner>,
    correlation_id: Uuid,
}

impl fmt::Debug for PartnerCenterClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerCenterClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("tenant_id", &self.inner.config.tenant_id)
            .field("client_id", &self.inner.config.client_id)
            .field("correlation_id", &self.correlation_id)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: PartnerCenterConfig,
    /// Made on the first call, so a function that never calls Partner Center does not set up
    /// TLS at start.
    http: std::sync::OnceLock<reqwest::Client>,
    /// Without a trailing slash.
    base_url: Url,
    token_url: Url,
    secret: OnceCell<AppSecret>,
    tokens: RwLock<TokenState>,
}

impl PartnerCenterClient {
    /// A client for `config`; nothing is fetched until the first call.
    pub fn new(config: PartnerCenterConfig) -> Result<Self, ConnectorError> {
        if config.tenant_id.trim().is_empty() || config.client_id.trim().is_empty() {
            return Err(ConnectorError::Configuration(
                "the Partner Center tenant id and client id are required".into(),
            ));
        }
        if config.max_attempts == 0 {
            return Err(ConnectorError::Configuration(
                "max_attempts must be at least 1".into(),
            ));
        }
        if config.page_size == 0 {
            return Err(ConnectorError::Configuration(
                "page_size must be at least 1".into(),
            ));
        }
        let base_url = checked_url("base_url", config.base_url.trim_end_matches('/'))?;
        let token_url = checked_url("token_url", &config.token_url)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http: std::sync::OnceLock::new(),
                base_url,
                token_url,
                secret: OnceCell::new(),
                tokens: RwLock::new(TokenState::default()),
            }),
            correlation_id: Uuid::new_v4(),
        })
    }

    /// [`PartnerCenterConfig::from_env`] then [`Self::new`].
    pub fn from_env() -> Result<Self, ConnectorError> {
        Self::new(PartnerCenterConfig::from_env()?)
    }

    /// The HTTP client, made on first use.
    fn http(&self) -> Result<&reqwest::Client, ConnectorError> {
        if let Some(http) = self.inner.http.get() {
            return Ok(http);
        }
        let timeout = self.inner.config.timeout;
        let http = crate::tls::http_client()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirect would resend the bearer token somewhere this client was not told of.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "agreements-partner-center/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|error| {
                ConnectorError::Configuration(format!("cannot build the HTTP client: {error}"))
            })?;
        Ok(self.inner.http.get_or_init(|| http))
    }

    /// The same client (connection pool, token) sending `correlation_id` as `MS-CorrelationId`:
    /// one per logical operation, so Partner Center's traces group its calls.
    pub fn with_correlation_id(&self, correlation_id: Uuid) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            correlation_id,
        }
    }

    /// The `MS-CorrelationId` this value sends.
    pub fn correlation_id(&self) -> Uuid {
        self.correlation_id
    }

    pub fn config(&self) -> &PartnerCenterConfig {
        &self.inner.config
    }

    async fn read_agreements(
        &self,
        customer_id: &str,
    ) -> Result<Vec<ProviderAgreement>, ConnectorError> {
        let mut url = self.customer_url(customer_id, &["agreements"])?;
        url.query_pairs_mut().append_pair("agreementType", "*");
        let body = self.execute(Call::get("customer agreements", url)).await?;
        let page: Collection<AgreementDto> = parse_json("customer agreements", &body)?;
        page.items
            .into_iter()
            .map(|item| item.into_agreement(None))
            .collect()
    }
}

impl ProviderConnector for PartnerCenterClient {
    fn serves(&self, provider: &crate::model::Provider) -> bool {
        provider.platform == PLATFORM
    }

    async fn customers(&self, continuation: Option<&str>) -> Result<CustomerPage, ConnectorError> {
        let (url, token) = match continuation {
            None => {
                let mut url = self.url_for(CUSTOMERS_PATH)?;
                url.query_pairs_mut()
                    .append_pair("size", &self.inner.config.page_size.to_string());
                (url, None)
            }
            Some(encoded) => {
                let continuation = Continuation::decode(encoded)?;
                (self.url_for(&continuation.uri)?, continuation.token)
            }
        };
        let body = self
            .execute(Call {
                continuation_token: token.as_deref(),
                ..Call::get("customers", url)
            })
            .await?;
        let page: Collection<CustomerDto> = parse_json("customers", &body)?;
        let customers = page
            .items
            .into_iter()
            .map(CustomerDto::into_customer)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match page.links.as_ref().and_then(|links| links.next.as_ref()) {
            // An empty page that still links onwards would loop forever: stop there.
            Some(next) if !customers.is_empty() => {
                let uri = next.uri.as_deref().ok_or_else(|| {
                    ConnectorError::Malformed("customers: the next page link has no uri".into())
                })?;
                let continuation = Continuation {
                    uri: self.next_page_path(uri)?,
                    token: next.continuation_token(),
                };
                Some(continuation.encode())
            }
            _ => None,
        };
        Ok(CustomerPage {
            customers,
            continuation: next,
        })
    }

    async fn customer_agreements(
        &self,
        customer_id: &str,
    ) -> Result<Vec<ProviderAgreement>, ConnectorError> {
        self.read_agreements(customer_id).await
    }

    async fn direct_acceptance(
        &self,
        customer_id: &str,
        template_id: &str,
    ) -> Result<Option<ProviderAgreement>, ConnectorError> {
        if !is_mca(template_id) || !self.direct_signed(customer_id).await? {
            return Ok(None);
        }
        Ok(Some(ProviderAgreement {
            template_id: MCA_TEMPLATE_ID.into(),
            agreement_type: format!("{CUSTOMER_AGREEMENT} (signed directly)"),
            date_agreed: format!("{}T00:00:00Z", Day::today()),
            primary_contact: None,
        }))
    }

    async fn confirm_acceptance(
        &self,
        acceptance: &Acceptance,
    ) -> Result<ProviderAgreement, ConnectorError> {
        self.attest(&Attestation {
            customer_id: acceptance.customer_id.clone(),
            template_id: acceptance.template_id.clone(),
            agreement_type: CUSTOMER_AGREEMENT.into(),
            date_agreed: acceptance.accepted_on.to_string(),
            primary_contact: acceptance.signer.clone(),
        })
        .await
    }

    async fn start_attestation(
        &self,
        start: &AttestationStart,
    ) -> Result<RemoteAttestation, ConnectorError> {
        PartnerCenterClient::start_attestation(self, start).await
    }

    async fn attestation_state(
        &self,
        attestation_id: &str,
    ) -> Result<RemoteAttestation, ConnectorError> {
        PartnerCenterClient::attestation_state(self, attestation_id).await
    }

    async fn create_attested_agreement(
        &self,
        agreement: &AttestedAgreement,
    ) -> Result<ProviderAgreement, ConnectorError> {
        PartnerCenterClient::create_attested_agreement(self, agreement).await
    }
}

impl PartnerCenterClient {
    /// Whether the customer signed the Microsoft Customer Agreement directly (admin center).
    pub async fn direct_signed(&self, customer_id: &str) -> Result<bool, ConnectorError> {
        let url = self.customer_url(
            customer_id,
            &["directSignedMicrosoftCustomerAgreementStatus"],
        )?;
        let body = self.execute(Call::get("direct-signed status", url)).await?;
        let status: DirectSignedDto = parse_json("direct-signed status", &body)?;
        status.is_signed.ok_or_else(|| {
            ConnectorError::Malformed("direct-signed status: no isSigned in the answer".into())
        })
    }

    /// Attests an acceptance (`POST /customers/{id}/agreements`). An acceptance Partner Center
    /// already holds (600061) counts as success and is read back.
    pub async fn attest(
        &self,
        attestation: &Attestation,
    ) -> Result<ProviderAgreement, ConnectorError> {
        let url = self.customer_url(&attestation.customer_id, &["agreements"])?;
        let request = AgreementRequest::from_attestation(attestation)?;
        let requested = request.as_agreement();
        let body = serde_json::to_vec(&request).map_err(|error| {
            ConnectorError::Malformed(format!("cannot encode the attestation: {error}"))
        })?;
        let answer = self
            .execute(Call {
                body: Some(&body),
                ..Call::new(Method::POST, "attest", url)
            })
            .await;
        match answer {
            Ok(body) => {
                let created: AgreementDto = parse_json("attest", &body)?;
                let created = created.into_agreement(Some(&requested))?;
                if created.agreement_type != requested.agreement_type {
                    tracing::warn!(
                        requested = %requested.agreement_type,
                        created = %created.agreement_type,
                        correlation_id = %self.correlation_id,
                        "Partner Center recorded another agreement type than the one attested"
                    );
                }
                Ok(created)
            }
            Err(ConnectorError::Refused { code, detail })
                if code == AGREEMENT_ALREADY_EXISTS
                    || detail.contains(AGREEMENT_ALREADY_EXISTS_NAME) =>
            {
                // The same contact was attested before. Partner Center keeps that acceptance (its
                // dateAgreed may differ from this one): read it back so the caller records what
                // Partner Center holds; if that read fails, the attestation still stands.
                tracing::info!(
                    correlation_id = %self.correlation_id,
                    "the acceptance was already attested (600061); reading it back"
                );
                match self.read_agreements(&attestation.customer_id).await {
                    Ok(held) => Ok(pick_existing(held, &requested).unwrap_or(requested)),
                    Err(error) => {
                        tracing::warn!(
                            %error,
                            correlation_id = %self.correlation_id,
                            "cannot read back the existing acceptance; answering with the attested one"
                        );
                        Ok(requested)
                    }
                }
            }
            Err(error) => Err(error),
        }
    }
}

/// The existing acceptance matching the attested one: same contact, preferably the same template
/// and type.
fn pick_existing(
    held: Vec<ProviderAgreement>,
    requested: &ProviderAgreement,
) -> Option<ProviderAgreement> {
    let requested_contact = requested.primary_contact.as_ref()?;
    let mut same_contact: Vec<ProviderAgreement> = held
        .into_iter()
        .filter(|a| {
            a.primary_contact
                .as_ref()
                .is_some_and(|c| same_contact(c, requested_contact))
        })
        .collect();
    let exact = same_contact.iter().position(|a| {
        a.template_id.eq_ignore_ascii_case(&requested.template_id)
            && a.agreement_type == requested.agreement_type
    });
    match exact {
        Some(index) => Some(same_contact.swap_remove(index)),
        None => same_contact.into_iter().next(),
    }
}

fn same_contact(a: &AgreementContact, b: &AgreementContact) -> bool {
    let phone = |c: &AgreementContact| {
        c.phone_number
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
    };
    a.first_name.trim() == b.first_name.trim()
        && a.last_name.trim() == b.last_name.trim()
        && a.email.trim().eq_ignore_ascii_case(b.email.trim())
        && phone(a) == phone(b)
}

/// A client of an inline configuration whose base URL nothing listens on, for unit tests.
#[cfg(test)]
fn test_client() -> PartnerCenterClient {
    let mut config = PartnerCenterConfig::new(
        "tenant",
        "client",
        SecretSource::Inline(AppSecret {
            client_secret: Secret::new("s"),
            refresh_token: None,
        }),
    );
    config.base_url = "http://127.0.0.1:9".into();
    PartnerCenterClient::new(config).expect("valid config")
}

#[cfg(test)]
mod tests {
    use super::test_client as client;
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        let mut config = client().config().clone();
        config.base_url = "http://partner.example.com".into();
        assert!(matches!(
            PartnerCenterClient::new(config),
            Err(ConnectorError::Configuration(_))
        ));
    }

    #[test]
    fn futures_are_send() {
        // The trait does not ask for Send futures; a Lambda handler spawning them needs it.
        fn assert_send<T: Send>(_: &T) {}
        let client = client();
        let attestation = Attestation {
            customer_id: "c".into(),
            template_id: "t".into(),
            agreement_type: "MicrosoftCustomerAgreement".into(),
            date_agreed: "2024-01-01".into(),
            primary_contact: AgreementContact {
                first_name: "a".into(),
                last_name: "b".into(),
                email: "c".into(),
                phone_number: None,
            },
        };
        assert_send(&client.customers(None));
        assert_send(&client.customer_agreements("c"));
        assert_send(&client.direct_signed("c"));
        assert_send(&client.attest(&attestation));
    }
}
