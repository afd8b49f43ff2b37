//! A fake Microsoft Partner Center for tests and `make local`: a real HTTP server on loopback with
//! the Entra ID token endpoint and the customer and customer-agreement endpoints the agreements
//! connector calls, in memory, with the documented JSON shapes, request recording and fault
//! injection.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use local_stack::fake_partner_center::{FakePartnerCenter, Fault};
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
//!
//! Error codes other than 600061 are the fake's own (`errorName` says what they mean).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::server::{self, ShutdownTrigger};

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
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The raw path, as sent (still percent-encoded).
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl RecordedRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this went to the token endpoint rather than the API.
    pub fn is_token_request(&self) -> bool {
        self.path.contains("/oauth2/")
    }
}

/// A wrong answer the fake gives instead of the right one.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with `Retry-After: retry_after_secs` and Partner Center's throttling body.
    TooManyRequests { retry_after_secs: u64 },
    /// 500 with a Partner Center error body.
    ServerError,
    /// 200 with a body that is not JSON.
    NotJson,
    /// 200 with JSON of the wrong shape for every endpoint.
    WrongShape,
    /// Any status and JSON body (e.g. a 400 with another error code).
    Status { status: u16, body: Value },
    /// Waits, then answers normally (for client timeouts).
    Delay(Duration),
}

#[derive(Debug)]
struct Injection {
    /// A raw request path, or `*` for every request.
    path: String,
    remaining: usize,
    fault: Fault,
}

#[derive(Debug)]
struct Customer {
    id: String,
    company_name: String,
    domain: String,
    direct_signed: bool,
    agreements: Vec<Value>,
}

#[derive(Debug)]
struct State {
    customers: Vec<Customer>,
    /// Access token → when it expires.
    tokens: HashMap<String, Instant>,
    token_lifetime: Duration,
    /// MS-ContinuationToken → offset of the page it leads to.
    continuations: HashMap<String, usize>,
    requests: Vec<RecordedRequest>,
    injections: Vec<Injection>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            customers: Vec::new(),
            tokens: HashMap::new(),
            token_lifetime: Duration::from_secs(3600),
            continuations: HashMap::new(),
            requests: Vec::new(),
            injections: Vec::new(),
        }
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
            async move { handle(state, request).await }
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

    /// Every token issued so far stops working now.
    pub fn expire_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    /// The `expires_in` of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.state).token_lifetime = lifetime;
    }

    /// A few demo customers: one with an attested MCA, one that signed directly, the rest with
    /// nothing yet.
    pub fn seed_demo(&self) {
        let demo = [
            (
                "0c4e5b9a-1d2f-4a3b-8c7d-6e5f4a3b2c1d",
                "Contoso Ltd",
                "contoso.onmicrosoft.com",
            ),
            (
                "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
                "Fabrikam Inc",
                "fabrikam.onmicrosoft.com",
            ),
            (
                "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
                "Northwind Traders",
                "northwindtraders.onmicrosoft.com",
            ),
            (
                "3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f",
                "Adventure Works",
                "adventureworks.onmicrosoft.com",
            ),
            (
                "4d5e6f7a-8b9c-4d0e-9f2a-3b4c5d6e7f8a",
                "Tailspin Toys",
                "tailspintoys.onmicrosoft.com",
            ),
        ];
        for (id, name, domain) in demo {
            self.add_customer(id, name, domain);
        }
        self.add_agreement(
            demo[0].0,
            &shared::connectors::ProviderAgreement {
                template_id: MCA_TEMPLATE_ID.into(),
                agreement_type: "MicrosoftCustomerAgreement".into(),
                date_agreed: "2024-06-14T00:00:00Z".into(),
                primary_contact: Some(shared::connectors::AgreementContact {
                    first_name: "Tania".into(),
                    last_name: "Carr".into(),
                    email: "tania.carr@contoso.example".into(),
                    phone_number: Some("+1 425 555 0100".into()),
                }),
            },
        );
        self.set_direct_signed(demo[1].0, true);
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

async fn read_body(mut body: Incoming) -> Option<Bytes> {
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > MAX_REQUEST_BYTES {
                return None;
            }
            buffer.extend_from_slice(&data);
        }
    }
    Some(buffer.freeze())
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    server::response(status, "application/json; charset=utf-8", body.to_string())
}

fn pc_error(status: StatusCode, code: u64, name: &str, description: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        &json!({
            "code": code,
            "message": description,
            "description": description,
            "errorName": name,
            "isRetryable": false,
            "parameters": {},
            "errorMessageExtended": format!("InternalErrorCode={code}"),
        }),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

fn header_value(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

async fn handle(state: Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;
    let path = parts.uri.path().to_string();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        at: Instant::now(),
    };
    let fault = {
        let mut state = lock(&state);
        state.requests.push(recorded.clone());
        take_fault(&mut state, &path)
    };
    let mut response = match fault {
        Some(Fault::Delay(wait)) => {
            tokio::time::sleep(wait).await;
            route(&state, &recorded, body)
        }
        Some(fault) => faulted(fault),
        None => route(&state, &recorded, body),
    };
    // Partner Center echoes the request's ids.
    for name in ["ms-requestid", "ms-correlationid"] {
        if let Some(value) = recorded.header(name).and_then(header_value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn take_fault(state: &mut State, path: &str) -> Option<Fault> {
    let index = state
        .injections
        .iter()
        .position(|i| i.remaining > 0 && (i.path == path || i.path == "*"))?;
    let injection = &mut state.injections[index];
    injection.remaining -= 1;
    let fault = injection.fault.clone();
    if injection.remaining == 0 {
        state.injections.remove(index);
    }
    Some(fault)
}

fn faulted(fault: Fault) -> Response<Full<Bytes>> {
    match fault {
        Fault::TooManyRequests { retry_after_secs } => {
            let mut response = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({
                    "statusCode": 429,
                    "message": format!("Rate limit is exceeded. Try again in {retry_after_secs} seconds."),
                }),
            );
            if let Some(value) = header_value(&retry_after_secs.to_string()) {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, value);
            }
            response
        }
        Fault::ServerError => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({
                "code": 500,
                "description": "An internal error occurred (injected by the fake).",
                "errorName": "InternalServerError",
                "isRetryable": true,
            }),
        ),
        Fault::NotJson => server::response(
            StatusCode::OK,
            "text/html",
            "<html><body>Service temporarily unavailable</body></html>",
        ),
        Fault::WrongShape => json_response(
            StatusCode::OK,
            &json!({
                "items": "not a list",
                "isSigned": "maybe",
                "templateId": 42,
                "type": ["not", "a", "string"],
                "dateAgreed": false,
            }),
        ),
        Fault::Status { status, body } => json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &body,
        ),
        // Handled by the caller.
        Fault::Delay(_) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({})),
    }
}

fn route(state: &Shared, request: &RecordedRequest, body: Option<Bytes>) -> Response<Full<Bytes>> {
    let Some(body) = body else {
        return pc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            413,
            "RequestTooLarge",
            "The request body is too large.",
        );
    };
    let segments: Vec<String> = request
        .path
        .trim_start_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method.as_str();

    if let [tenant, "oauth2", rest @ ..] = segments.as_slice() {
        let version = match rest {
            ["token"] => Some(1),
            ["v2.0", "token"] => Some(2),
            _ => None,
        };
        if let (Some(version), "POST") = (version, method) {
            return token(state, tenant, version, &body);
        }
        return oauth_error(StatusCode::NOT_FOUND, "invalid_request", "no such endpoint");
    }

    if !authorized(state, request) {
        let mut response = server::response(StatusCode::UNAUTHORIZED, "text/plain", "");
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return response;
    }

    match (method, segments.as_slice()) {
        ("GET", ["v1", "customers"]) => list_customers(state, request),
        ("GET", ["v1", "customers", id, "agreements"]) => list_agreements(state, request, id),
        ("POST", ["v1", "customers", id, "agreements"]) => create_agreement(state, id, &body),
        ("GET", ["v1", "customers", id, "directSignedMicrosoftCustomerAgreementStatus"]) => {
            let state = lock(state);
            match state.customers.iter().find(|c| c.id == *id) {
                Some(customer) => json_response(
                    StatusCode::OK,
                    &json!({ "isSigned": customer.direct_signed }),
                ),
                None => customer_not_found(),
            }
        }
        _ => pc_error(
            StatusCode::NOT_FOUND,
            404,
            "ResourceNotFound",
            "The requested resource was not found.",
        ),
    }
}

fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn token(state: &Shared, tenant: &str, version: u8, body: &[u8]) -> Response<Full<Bytes>> {
    if tenant != TENANT_ID {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS90002: Tenant not found.",
        );
    }
    let form = form_fields(body);
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let refresh = match field("grant_type") {
        "client_credentials" => false,
        "refresh_token" if field("refresh_token") == REFRESH_TOKEN => true,
        "refresh_token" => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "AADSTS70000: The provided refresh token is invalid.",
            )
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "AADSTS70003: The grant type is not supported.",
            )
        }
    };
    let audience_ok = match version {
        1 => field("resource") == RESOURCE,
        _ => field("scope") == format!("{RESOURCE}/.default"),
    };
    if !audience_ok {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            if version == 1 {
                "invalid_resource"
            } else {
                "invalid_scope"
            },
            "AADSTS500011: The resource principal was not found in the tenant.",
        );
    }
    let access_token = format!("fake-at-{}", ulid::Ulid::new());
    let lifetime = {
        let mut state = lock(state);
        let lifetime = state.token_lifetime;
        state
            .tokens
            .insert(access_token.clone(), Instant::now() + lifetime);
        lifetime.as_secs()
    };
    let mut answer = json!({
        "token_type": "Bearer",
        "access_token": access_token,
    });
    if version == 1 {
        // The v1 endpoint sends its numbers as strings.
        answer["expires_in"] = json!(lifetime.to_string());
        answer["resource"] = json!(RESOURCE);
    } else {
        answer["expires_in"] = json!(lifetime);
        answer["scope"] = json!(format!("{RESOURCE}/.default"));
    }
    if refresh {
        answer["refresh_token"] = json!(REFRESH_TOKEN);
    }
    json_response(StatusCode::OK, &answer)
}

fn authorized(state: &Shared, request: &RecordedRequest) -> bool {
    let Some(token) = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let state = lock(state);
    state
        .tokens
        .get(token.trim())
        .is_some_and(|expires| Instant::now() < *expires)
}

fn query_pairs(query: Option<&str>) -> HashMap<String, String> {
    query.map(|q| form_fields(q.as_bytes())).unwrap_or_default()
}

fn customer_not_found() -> Response<Full<Bytes>> {
    pc_error(
        StatusCode::NOT_FOUND,
        404,
        "CustomerNotFound",
        "The customer was not found.",
    )
}

fn list_customers(state: &Shared, request: &RecordedRequest) -> Response<Full<Bytes>> {
    let query = query_pairs(request.query.as_deref());
    let Some(size) = query
        .get("size")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|s| (1..=1000).contains(s))
    else {
        return pc_error(
            StatusCode::BAD_REQUEST,
            400,
            "InvalidInput",
            "size is required: a number from 1 to 1000.",
        );
    };
    let mut state = lock(state);
    let offset = if query
        .get("seekOperation")
        .is_some_and(|s| s.eq_ignore_ascii_case("next"))
    {
        let token = request.header("ms-continuationtoken").unwrap_or_default();
        match state.continuations.get(token) {
            Some(offset) => *offset,
            None => {
                return pc_error(
                    StatusCode::BAD_REQUEST,
                    400,
                    "InvalidContinuationToken",
                    "The continuation token is invalid or expired.",
                )
            }
        }
    } else {
        0
    };
    let end = (offset + size).min(state.customers.len());
    let items: Vec<Value> = state
        .customers
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "commerceId": format!("commerce-{}", c.id),
                "companyProfile": {
                    "tenantId": c.id,
                    "domain": c.domain,
                    "companyName": c.company_name,
                    "attributes": { "objectType": "CustomerCompanyProfile" },
                },
                "relationshipToPartner": "reseller",
                "attributes": { "objectType": "Customer" },
            })
        })
        .collect();
    let mut links = json!({
        "self": { "uri": format!("/customers?size={size}"), "method": "GET", "headers": [] },
    });
    if end < state.customers.len() {
        let token = format!("{},{}", ulid::Ulid::new(), end);
        state.continuations.insert(token.clone(), end);
        // Partner Center's links are relative to the version root (no /v1).
        links["next"] = json!({
            "uri": format!("/customers?size={size}&seekOperation=Next"),
            "method": "GET",
            "headers": [{ "key": "MS-ContinuationToken", "value": token }],
        });
    }
    json_response(
        StatusCode::OK,
        &json!({
            "totalCount": items.len(),
            "items": items,
            "links": links,
            "attributes": { "objectType": "Collection" },
        }),
    )
}

fn agreement_type(item: &Value) -> Option<&str> {
    item.get("type")
        .or_else(|| item.get("agreementType"))
        .and_then(Value::as_str)
}

fn list_agreements(state: &Shared, request: &RecordedRequest, id: &str) -> Response<Full<Bytes>> {
    let query = query_pairs(request.query.as_deref());
    // Without agreementType Partner Center answers only Microsoft Cloud Agreements.
    let wanted = query
        .get("agreementType")
        .cloned()
        .unwrap_or_else(|| "MicrosoftCloudAgreement".to_string());
    let state = lock(state);
    let Some(customer) = state.customers.iter().find(|c| c.id == id) else {
        return customer_not_found();
    };
    let items: Vec<&Value> = customer
        .agreements
        .iter()
        .filter(|item| wanted == "*" || agreement_type(item) == Some(wanted.as_str()))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "totalCount": items.len(),
            "items": items,
            "attributes": { "objectType": "Collection" },
        }),
    )
}

fn contact_key(item: &Value) -> Option<(String, String, String, String)> {
    let contact = item.get("primaryContact")?;
    let text = |name: &str| {
        contact
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    Some((
        text("firstName"),
        text("lastName"),
        text("email").to_lowercase(),
        text("phoneNumber"),
    ))
}

fn create_agreement(state: &Shared, id: &str, body: &[u8]) -> Response<Full<Bytes>> {
    let invalid = |what: &str| {
        pc_error(
            StatusCode::BAD_REQUEST,
            400,
            "InvalidInput",
            &format!("The agreement is invalid: {what}."),
        )
    };
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(body) else {
        return invalid("the body is not a JSON object");
    };
    let text = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let Some(template_id) = text(input.get("templateId")) else {
        return invalid("templateId is required");
    };
    let Some(kind) = text(input.get("type")) else {
        return invalid("type is required");
    };
    let Some(date_agreed) = text(input.get("dateAgreed")) else {
        return invalid("dateAgreed is required");
    };
    if time::OffsetDateTime::parse(&date_agreed, &time::format_description::well_known::Rfc3339)
        .is_err()
    {
        return invalid("dateAgreed is not a UTC date time");
    }
    let Some(contact) = input.get("primaryContact").and_then(Value::as_object) else {
        return invalid("primaryContact is required");
    };
    let mut primary = serde_json::Map::new();
    for name in ["firstName", "lastName", "email"] {
        match text(contact.get(name)) {
            Some(value) => {
                primary.insert(name.to_string(), json!(value));
            }
            None => return invalid(&format!("primaryContact.{name} is required")),
        }
    }
    if let Some(phone) = text(contact.get("phoneNumber")) {
        primary.insert("phoneNumber".to_string(), json!(phone));
    }
    let item = json!({
        "userId": USER_ID,
        "primaryContact": primary,
        "templateId": template_id,
        "dateAgreed": date_agreed,
        "type": kind,
        "agreementLink": "https://aka.ms/customeragreement",
    });
    let mut state = lock(state);
    let Some(customer) = state.customers.iter_mut().find(|c| c.id == id) else {
        return customer_not_found();
    };
    let key = contact_key(&item);
    if customer
        .agreements
        .iter()
        .any(|existing| contact_key(existing) == key)
    {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({
                "code": 600061,
                "message": "A partner confirmed agreement already exists for the customer.",
                "description": "A partner confirmed agreement already exists for the customer.",
                "errorName": "PartnerConfirmedAgreementAlreadyExists",
                "isRetryable": false,
                "parameters": {},
                "errorMessageExtended": "InternalErrorCode=600061",
            }),
        );
    }
    customer.agreements.push(item.clone());
    json_response(StatusCode::CREATED, &item)
}
