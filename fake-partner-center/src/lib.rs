//! A fake Microsoft Partner Center for tests and `make local`: a real HTTP server on loopback with
//! the Entra ID token endpoint and the customer and customer-agreement endpoints the agreements
//! connector calls, in memory, with the documented JSON shapes, request recording and fault
//! injection.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fake_partner_center::{FakePartnerCenter, Fault};
//! let fake = FakePartnerCenter::start().await?;
//! fake.add_customer("0c4e...", "Contoso", "contoso.onmicrosoft.com");
//! fake.inject("/v1/customers", 1, Fault::TooManyRequests { retry_after_secs: 1 });
//! println!("{} {}", fake.base_url(), fake.token_url());
//! # Ok(())
//! # }
//! ```
//!
//! What it checks as Partner Center / Entra ID would:
//! - `POST /{tenant}/oauth2/token` (`resource=`) and `/{tenant}/oauth2/v2.0/token` (`scope=`),
//!   form-encoded: the tenant, client id and secret, `client_credentials` or `refresh_token` grants;
//!   opaque tokens that expire after [`FakePartnerCenter::set_token_lifetime`] (default an hour);
//! - every `/v1/...` request needs a live bearer token (401 otherwise);
//! - `GET /v1/customers?size=N` pages with `links.next` and an `MS-ContinuationToken` header (an
//!   unknown token is a 400); `GET|POST /v1/customers/{id}/agreements` (`agreementType` defaults
//!   to MicrosoftCloudAgreement, `*` for all; a second acceptance with the same first name, last
//!   name, email and phone is error 600061); `GET .../directSignedMicrosoftCustomerAgreementStatus`;
//!   an unknown customer is a 404 with a Partner Center error body.
//! - Microsoft's enhanced attestation (`attestations`): `POST /v1/attestations/enhanced`,
//!   `GET /v1/attestations/enhanced/{id}` (LinkGenerated → CustomerAccepted after
//!   [`FakePartnerCenter::set_acceptance_lag`] → AgreementCreated; LinkExpired), an agreement
//!   created with `attestationId` only once accepted, and the unauthenticated test controls
//!   `POST /_fake/attestations/{id}/accept` and `…/expire`.
//!
//! Error codes other than 600061 are the fake's own (`errorName` says what they mean).
//!
//! The modules: `state` (what the fake holds and the faults it can inject), `attestations` (the
//! enhanced attestation), `routes` (recording,
//! faults and dispatch), `token` (the Entra ID token endpoint), `customers` (the customer and
//! agreement endpoints) and `seed` (the demo customers). Its HTTP loop is the local stack's.

mod attestations;
mod customers;
mod routes;
mod seed;
mod state;
mod token;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use local_stack::server::{self, ShutdownTrigger};
use state::{lock, Customer, Injection, Shared, State};

pub use attestations::{ATTESTATION_EXPIRED, ATTESTATION_NOT_ACCEPTED, ATTESTATION_NOT_FOUND};
pub use state::{Fault, RecordedRequest};

/// The partner tenant the fake's token endpoint serves.
pub const TENANT_ID: &str = "8f0a1c2e-4b3d-4e5f-9a6b-7c8d9e0f1a2b";
/// The application (client) id it accepts.
pub const CLIENT_ID: &str = "4d9c7a3e-2f1b-4c6d-8e9f-0a1b2c3d4e5f";
/// The client secret it accepts.
pub const CLIENT_SECRET: &str = "fake-partner-center-client-secret";
/// The App+User refresh token it accepts (`grant_type=refresh_token`).
pub const REFRESH_TOKEN: &str = "fake-partner-center-refresh-token";
/// The resource (v1) a token must be asked for; the v2 scope is this + `/.default`.
pub const RESOURCE: &str = "https://api.partnercenter.microsoft.com";
/// The Microsoft Customer Agreement's template id.
pub const MCA_TEMPLATE_ID: &str = "117a77b0-9360-443b-8795-c6dedc750cf9";
/// The port `fake-partner-center` listens on by default.
pub const DEFAULT_PORT: u16 = 4010;

/// The partner user the fake attributes attestations to (`userId`).
const USER_ID: &str = "3d6f2c09-eb40-48ca-a4b3-d24c9c007531";

/// A running fake. Dropping it stops the server.
#[derive(Debug)]
pub struct FakePartnerCenter {
    state: Shared,
    local_addr: SocketAddr,
    base_url: String,
    trigger: ShutdownTrigger,
    server: Option<JoinHandle<()>>,
}

impl FakePartnerCenter {
    /// Starts on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts on `address` (`host:port`).
    pub async fn start_on(address: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let local_addr = listener.local_addr()?;
        let state: Shared = Arc::new(Mutex::new(State::default()));
        let (trigger, shutdown) = ShutdownTrigger::new();
        let handler_state = state.clone();
        let server = tokio::spawn(server::serve(listener, shutdown, move |request, _peer| {
            let state = handler_state.clone();
            async move { routes::handle(state, request).await }
        }));
        let host = if local_addr.ip().is_ipv6() {
            format!("[{}]", local_addr.ip())
        } else {
            local_addr.ip().to_string()
        };
        Ok(Self {
            state,
            local_addr,
            base_url: format!("http://{host}:{}", local_addr.port()),
            trigger,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:<port>`: the Partner Center REST root (without `/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The v1 token endpoint of [`TENANT_ID`] (`resource=`).
    pub fn token_url(&self) -> String {
        format!("{}/{TENANT_ID}/oauth2/token", self.base_url)
    }

    /// The v2 token endpoint of [`TENANT_ID`] (`scope=`).
    pub fn token_url_v2(&self) -> String {
        format!("{}/{TENANT_ID}/oauth2/v2.0/token", self.base_url)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Adds (or renames) a customer; the list keeps the order customers were added in.
    pub fn add_customer(&self, id: &str, company_name: &str, domain: &str) {
        let mut state = lock(&self.state);
        if let Some(customer) = state.customers.iter_mut().find(|c| c.id == id) {
            customer.company_name = company_name.to_string();
            customer.domain = domain.to_string();
            return;
        }
        state.customers.push(Customer {
            id: id.to_string(),
            company_name: company_name.to_string(),
            domain: domain.to_string(),
            direct_signed: false,
            agreements: Vec::new(),
        });
    }

    /// Stores an acceptance as Partner Center returns it (with `type`). False if no such customer.
    pub fn add_agreement(
        &self,
        customer_id: &str,
        agreement: &shared::connectors::ProviderAgreement,
    ) -> bool {
        let mut item = json!({
            "templateId": agreement.template_id,
            "dateAgreed": agreement.date_agreed,
            "type": agreement.agreement_type,
            "userId": USER_ID,
            "agreementLink": "https://aka.ms/customeragreement",
        });
        if let Some(contact) = &agreement.primary_contact {
            let mut primary = json!({
                "firstName": contact.first_name,
                "lastName": contact.last_name,
                "email": contact.email,
            });
            if let Some(phone) = &contact.phone_number {
                primary["phoneNumber"] = json!(phone);
            }
            item["primaryContact"] = primary;
        }
        self.add_agreement_json(customer_id, item)
    }

    /// Stores an agreement item verbatim (any spelling, any extra fields). False if no such
    /// customer.
    pub fn add_agreement_json(&self, customer_id: &str, item: Value) -> bool {
        let mut state = lock(&self.state);
        match state.customers.iter_mut().find(|c| c.id == customer_id) {
            Some(customer) => {
                customer.agreements.push(item);
                true
            }
            None => false,
        }
    }

    /// The agreement items held for a customer.
    pub fn agreements(&self, customer_id: &str) -> Vec<Value> {
        lock(&self.state)
            .customers
            .iter()
            .find(|c| c.id == customer_id)
            .map(|c| c.agreements.clone())
            .unwrap_or_default()
    }

    /// Whether the customer accepted the MCA in the admin center. False if no such customer.
    pub fn set_direct_signed(&self, customer_id: &str, signed: bool) -> bool {
        let mut state = lock(&self.state);
        match state.customers.iter_mut().find(|c| c.id == customer_id) {
            Some(customer) => {
                customer.direct_signed = signed;
                true
            }
            None => false,
        }
    }

    /// Every request to the API (`/v1/...` and anything else but the token endpoint), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| !r.is_token_request())
            .cloned()
            .collect()
    }

    /// Every request to the token endpoint, in order.
    pub fn token_requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| r.is_token_request())
            .cloned()
            .collect()
    }

    /// Forgets the recorded requests (token requests too).
    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }

    /// The next `times` requests to `path` (raw request path, e.g. `/v1/customers`, or `*` for
    /// any) get `fault` instead of their answer. Injections are used in the order queued.
    pub fn inject(&self, path: &str, times: usize, fault: Fault) {
        lock(&self.state).injections.push(Injection {
            path: path.to_string(),
            remaining: times,
            fault,
        });
    }

    /// Forgets the faults still queued.
    pub fn clear_faults(&self) {
        lock(&self.state).injections.clear();
    }

    /// Every token issued so far stops working now.
    pub fn expire_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    /// The `expires_in` of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.state).token_lifetime = lifetime;
    }

    /// The enhanced attestations created so far, oldest first, as `GET` answers them.
    pub fn attestations(&self) -> Vec<Value> {
        let state = lock(&self.state);
        state
            .attestations
            .iter()
            .map(|a| {
                let mut body = a.request.clone();
                body.insert("attestationId".into(), json!(a.id));
                Value::Object(body)
            })
            .collect()
    }

    /// The customer accepts in Microsoft's page (as `POST /_fake/attestations/{id}/accept`).
    /// False when there is no such attestation or its link expired.
    pub fn accept_attestation(&self, id: &str) -> bool {
        attestations::set_stage(&self.state, id, "accept")
    }

    /// The link expires (as `POST /_fake/attestations/{id}/expire`). False if no such one.
    pub fn expire_attestation(&self, id: &str) -> bool {
        attestations::set_stage(&self.state, id, "expire")
    }

    /// How long after the customer's acceptance the status shows it (default none).
    pub fn set_acceptance_lag(&self, lag: Duration) {
        lock(&self.state).acceptance_lag = lag;
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.trigger.trigger();
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }
}

impl Drop for FakePartnerCenter {
    fn drop(&mut self) {
        self.trigger.trigger();
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}
