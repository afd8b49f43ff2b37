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

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::Rng as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{OnceCell, RwLock};
use uuid::Uuid;

use super::{
    AgreementContact, Attestation, ConnectorError, CustomerPage, ProviderAgreement,
    ProviderConnector, ProviderCustomer,
};

/// Partner Center's public-cloud REST root.
pub const DEFAULT_BASE_URL: &str = "https://api.partnercenter.microsoft.com";
/// The Entra ID resource (v1 token endpoint) of the Partner Center API.
pub const PARTNER_CENTER_RESOURCE: &str = "https://api.partnercenter.microsoft.com";
/// Where the tenant's token comes from; `{tenant}` is replaced by the partner tenant id.
pub const DEFAULT_TOKEN_URL_TEMPLATE: &str =
    "https://login.microsoftonline.com/{tenant}/oauth2/token";
/// The error code of "a partner confirmed agreement already exists for the customer".
pub const AGREEMENT_ALREADY_EXISTS: &str = "600061";
const AGREEMENT_ALREADY_EXISTS_NAME: &str = "PartnerConfirmedAgreementAlreadyExists";

/// Codes of refusals this client makes itself, before anything is sent.
pub const INVALID_CUSTOMER_ID: &str = "invalid_customer_id";
pub const INVALID_CONTINUATION: &str = "invalid_continuation";
pub const INVALID_ATTESTATION: &str = "invalid_attestation";

/// The most of a response body this client reads.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The path every customers page (and so every continuation) must have.
const CUSTOMERS_PATH: &str = "/v1/customers";

/// A secret value: never printed by `Debug`/`Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What the application authenticates with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSecret {
    pub client_secret: Secret,
    /// A refresh token of the secure application model (App+User); `None` for app-only tokens.
    pub refresh_token: Option<Secret>,
}

/// Where [`AppSecret`] comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Given directly (local runs, tests).
    Inline(AppSecret),
    /// An AWS Secrets Manager secret (ARN or name) whose string is the client secret itself or a
    /// JSON object `{"client_secret": "...", "refresh_token": "..."?}`.
    SecretsManager { secret_id: String },
}

/// How the token request names the Partner Center API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAudience {
    /// `resource=...` (Entra ID v1 endpoint, `/oauth2/token`).
    Resource(String),
    /// `scope=...` (Entra ID v2 endpoint, `/oauth2/v2.0/token`), e.g. `<resource>/.default`.
    Scope(String),
}

/// Everything the client needs; [`PartnerCenterConfig::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct PartnerCenterConfig {
    /// REST root, without `/v1`. Default [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// The token endpoint. Default [`DEFAULT_TOKEN_URL_TEMPLATE`] for `tenant_id`.
    pub token_url: String,
    pub audience: TokenAudience,
    /// The partner's tenant id.
    pub tenant_id: String,
    /// The Entra ID application (client) id.
    pub client_id: String,
    pub secret: SecretSource,
    /// Per attempt (connect, send, read the answer). Default 20 s.
    pub timeout: Duration,
    /// Attempts per call, the first included, for throttling, server errors and connection
    /// failures. Default 4.
    pub max_attempts: u32,
    /// First backoff when the answer gives no `Retry-After`; doubles per attempt, with jitter.
    /// Default 500 ms.
    pub backoff_base: Duration,
    /// The longest single wait, whatever `Retry-After` says. Default 30 s.
    pub max_retry_wait: Duration,
    /// `size` of a customers page. Default 100.
    pub page_size: u32,
    /// `MS-PartnerCenter-Application`. Default `agreements`.
    pub application_name: String,
}

impl PartnerCenterConfig {
    /// A configuration with the public-cloud defaults.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        secret: SecretSource,
    ) -> Self {
        let tenant_id = tenant_id.into();
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            token_url: DEFAULT_TOKEN_URL_TEMPLATE.replace("{tenant}", &tenant_id),
            audience: TokenAudience::Resource(PARTNER_CENTER_RESOURCE.to_string()),
            tenant_id,
            client_id: client_id.into(),
            secret,
            timeout: Duration::from_secs(20),
            max_attempts: 4,
            backoff_base: Duration::from_millis(500),
            max_retry_wait: Duration::from_secs(30),
            page_size: 100,
            application_name: "agreements".to_string(),
        }
    }

    /// Reads the configuration from the process environment; see [`Self::from_lookup`].
    pub fn from_env() -> Result<Self, ConnectorError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (an environment):
    ///
    /// | variable | |
    /// |---|---|
    /// | `PARTNER_CENTER_TENANT_ID` | required |
    /// | `PARTNER_CENTER_CLIENT_ID` | required |
    /// | `PARTNER_CENTER_CLIENT_SECRET` | the secret itself (local runs), or |
    /// | `PARTNER_CENTER_CLIENT_SECRET_ARN` | a Secrets Manager secret holding it (AWS); exactly one of the two |
    /// | `PARTNER_CENTER_REFRESH_TOKEN` | optional, App+User refresh token (with the inline secret) |
    /// | `PARTNER_CENTER_BASE_URL` | default `https://api.partnercenter.microsoft.com` |
    /// | `PARTNER_CENTER_TOKEN_URL` | default `https://login.microsoftonline.com/{tenant}/oauth2/token` |
    /// | `PARTNER_CENTER_TOKEN_RESOURCE` / `PARTNER_CENTER_TOKEN_SCOPE` | at most one; default the Partner Center resource (v1 URL) or `<resource>/.default` (a `/v2.0/` URL) |
    /// | `PARTNER_CENTER_TIMEOUT_SECS`, `PARTNER_CENTER_MAX_ATTEMPTS`, `PARTNER_CENTER_PAGE_SIZE` | optional numbers |
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConnectorError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &str| {
            get(name).ok_or_else(|| ConnectorError::Configuration(format!("{name} is not set")))
        };
        let tenant_id = required("PARTNER_CENTER_TENANT_ID")?;
        let client_id = required("PARTNER_CENTER_CLIENT_ID")?;
        let refresh_token = get("PARTNER_CENTER_REFRESH_TOKEN").map(Secret::new);
        let secret = match (
            get("PARTNER_CENTER_CLIENT_SECRET"),
            get("PARTNER_CENTER_CLIENT_SECRET_ARN"),
        ) {
            (Some(secret), None) => SecretSource::Inline(AppSecret {
                client_secret: Secret::new(secret),
                refresh_token,
            }),
            (None, Some(secret_id)) => {
                if refresh_token.is_some() {
                    return Err(ConnectorError::Configuration(
                        "PARTNER_CENTER_REFRESH_TOKEN goes in the Secrets Manager secret \
                         (refresh_token) when PARTNER_CENTER_CLIENT_SECRET_ARN is set"
                            .into(),
                    ));
                }
                SecretSource::SecretsManager { secret_id }
            }
            (Some(_), Some(_)) => return Err(ConnectorError::Configuration(
                "set one of PARTNER_CENTER_CLIENT_SECRET and PARTNER_CENTER_CLIENT_SECRET_ARN, \
                     not both"
                    .into(),
            )),
            (None, None) => {
                return Err(ConnectorError::Configuration(
                    "PARTNER_CENTER_CLIENT_SECRET or PARTNER_CENTER_CLIENT_SECRET_ARN is not set"
                        .into(),
                ))
            }
        };
        let mut config = Self::new(tenant_id, client_id, secret);
        if let Some(base_url) = get("PARTNER_CENTER_BASE_URL") {
            config.base_url = base_url;
        }
        if let Some(token_url) = get("PARTNER_CENTER_TOKEN_URL") {
            config.token_url = token_url.replace("{tenant}", &config.tenant_id);
        }
        config.audience = match (
            get("PARTNER_CENTER_TOKEN_RESOURCE"),
            get("PARTNER_CENTER_TOKEN_SCOPE"),
        ) {
            (Some(_), Some(_)) => return Err(ConnectorError::Configuration(
                "set one of PARTNER_CENTER_TOKEN_RESOURCE and PARTNER_CENTER_TOKEN_SCOPE, not both"
                    .into(),
            )),
            (Some(resource), None) => TokenAudience::Resource(resource),
            (None, Some(scope)) => TokenAudience::Scope(scope),
            (None, None) if config.token_url.contains("/v2.0/") => {
                TokenAudience::Scope(format!("{PARTNER_CENTER_RESOURCE}/.default"))
            }
            (None, None) => TokenAudience::Resource(PARTNER_CENTER_RESOURCE.to_string()),
        };
        let number = |name: &str| -> Result<Option<u64>, ConnectorError> {
            get(name)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        ConnectorError::Configuration(format!("{name} is not a number: {v}"))
                    })
                })
                .transpose()
        };
        if let Some(secs) = number("PARTNER_CENTER_TIMEOUT_SECS")? {
            config.timeout = Duration::from_secs(secs);
        }
        if let Some(attempts) = number("PARTNER_CENTER_MAX_ATTEMPTS")? {
            config.max_attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
        }
        if let Some(size) = number("PARTNER_CENTER_PAGE_SIZE")? {
            config.page_size = u32::try_from(size).unwrap_or(u32::MAX);
        }
        Ok(config)
    }
}

/// The client secret (and refresh token, if any) from where the configuration says. In AWS this is
/// one `GetSecretValue` call; its string is either the raw secret or
/// `{"client_secret": "...", "refresh_token": "..."?}`.
pub async fn client_secret(source: &SecretSource) -> Result<AppSecret, ConnectorError> {
    match source {
        SecretSource::Inline(secret) => Ok(secret.clone()),
        SecretSource::SecretsManager { secret_id } => {
            use aws_sdk_secretsmanager::error::{ProvideErrorMetadata as _, SdkError};
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let client = aws_sdk_secretsmanager::Client::new(&sdk);
            let output = client
                .get_secret_value()
                .secret_id(secret_id)
                .send()
                .await
                .map_err(|error| match &error {
                    SdkError::ServiceError(service) => {
                        let code = service.err().code().unwrap_or("unknown").to_string();
                        if service.err().is_internal_service_error() || code.contains("Throttling")
                        {
                            ConnectorError::Transient {
                                detail: format!("Secrets Manager: {code}"),
                                retry_after: None,
                            }
                        } else {
                            ConnectorError::Configuration(format!(
                                "cannot read the Partner Center secret {secret_id}: {code}"
                            ))
                        }
                    }
                    SdkError::ConstructionFailure(_) => ConnectorError::Configuration(format!(
                        "cannot ask Secrets Manager for {secret_id}"
                    )),
                    _ => ConnectorError::Transient {
                        detail: format!("Secrets Manager did not answer: {error}"),
                        retry_after: None,
                    },
                })?;
            let Some(text) = output.secret_string() else {
                return Err(ConnectorError::Configuration(format!(
                    "the Partner Center secret {secret_id} has no string value"
                )));
            };
            parse_secret_string(text)
        }
    }
}

/// A Secrets Manager secret string: the raw client secret, or a JSON object with `client_secret`
/// (or `clientSecret`) and optionally `refresh_token` (or `refreshToken`).
pub fn parse_secret_string(text: &str) -> Result<AppSecret, ConnectorError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ConnectorError::Configuration(
            "the Partner Center secret is empty".into(),
        ));
    }
    if !text.starts_with('{') {
        return Ok(AppSecret {
            client_secret: Secret::new(text),
            refresh_token: None,
        });
    }
    let value: Value = serde_json::from_str(text).map_err(|_| {
        ConnectorError::Configuration("the Partner Center secret is not a JSON object".into())
    })?;
    let field = |names: &[&str]| {
        names.iter().find_map(|name| {
            value
                .get(*name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
        })
    };
    let client_secret = field(&["client_secret", "clientSecret"]).ok_or_else(|| {
        ConnectorError::Configuration("the Partner Center secret has no client_secret".into())
    })?;
    Ok(AppSecret {
        client_secret,
        refresh_token: field(&["refresh_token", "refreshToken"]),
    })
}

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
    http: reqwest::Client,
    /// Without a trailing slash.
    base_url: Url,
    token_url: Url,
    secret: OnceCell<AppSecret>,
    tokens: RwLock<TokenState>,
}

#[derive(Default)]
struct TokenState {
    current: Option<CachedToken>,
    /// A refresh token handed back by the token endpoint (rotation), newer than the configured one.
    rotated_refresh_token: Option<Secret>,
    /// The last failed fetch: callers that waited for it get its error instead of trying again one
    /// after the other.
    last_failure: Option<(Instant, ConnectorError)>,
}

struct CachedToken {
    token: Secret,
    /// When to stop using it: a little before it expires.
    renew_at: Instant,
}

impl CachedToken {
    fn fresh(&self) -> bool {
        Instant::now() < self.renew_at
    }
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
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
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
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
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

    /// `{base}/v1/customers/{customer_id}/{rest...}`, the id checked and encoded as one segment.
    fn customer_url(&self, customer_id: &str, rest: &[&str]) -> Result<Url, ConnectorError> {
        check_customer_id(customer_id)?;
        let mut url = self.inner.base_url.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| {
                ConnectorError::Configuration("base_url cannot have a path".into())
            })?;
            segments.pop_if_empty();
            segments.extend(["v1", "customers", customer_id]);
            segments.extend(rest);
        }
        Ok(url)
    }

    /// `{base}{path_and_query}` for a path this client made or checked.
    fn url_for(&self, path_and_query: &str) -> Result<Url, ConnectorError> {
        let base = self.inner.base_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path_and_query}")).map_err(|error| {
            ConnectorError::Malformed(format!("cannot build a Partner Center URL: {error}"))
        })
    }

    async fn app_secret(&self) -> Result<&AppSecret, ConnectorError> {
        self.inner
            .secret
            .get_or_try_init(|| client_secret(&self.inner.config.secret))
            .await
    }

    /// A valid access token: the cached one, or a new one (one fetch at a time).
    async fn access_token(&self) -> Result<Secret, ConnectorError> {
        let waiting_since = Instant::now();
        {
            let state = self.inner.tokens.read().await;
            if let Some(cached) = state.current.as_ref().filter(|t| t.fresh()) {
                return Ok(cached.token.clone());
            }
        }
        let mut state = self.inner.tokens.write().await;
        if let Some(cached) = state.current.as_ref().filter(|t| t.fresh()) {
            return Ok(cached.token.clone());
        }
        if let Some((failed_at, error)) = &state.last_failure {
            if *failed_at >= waiting_since {
                return Err(error.clone());
            }
        }
        let fetched = match self.app_secret().await {
            Ok(secret) => {
                let refresh_token = state
                    .rotated_refresh_token
                    .clone()
                    .or_else(|| secret.refresh_token.clone());
                self.fetch_token(secret, refresh_token.as_ref()).await
            }
            Err(error) => Err(error),
        };
        let issued = match fetched {
            Ok(issued) => {
                state.last_failure = None;
                issued
            }
            Err(error) => {
                state.last_failure = Some((Instant::now(), error.clone()));
                return Err(error);
            }
        };
        if let Some(rotated) = issued.refresh_token {
            state.rotated_refresh_token = Some(rotated);
        }
        let token = issued.access_token.clone();
        state.current = Some(CachedToken {
            token: issued.access_token,
            renew_at: issued.renew_at,
        });
        Ok(token)
    }

    /// Forgets `rejected` if it is still the cached token (so concurrent 401s refresh once).
    async fn invalidate(&self, rejected: &Secret) {
        let mut state = self.inner.tokens.write().await;
        if state.current.as_ref().is_some_and(|t| &t.token == rejected) {
            state.current = None;
        }
    }

    async fn fetch_token(
        &self,
        secret: &AppSecret,
        refresh_token: Option<&Secret>,
    ) -> Result<IssuedToken, ConnectorError> {
        let config = &self.inner.config;
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", config.client_id.as_str()),
            ("client_secret", secret.client_secret.expose()),
        ];
        match refresh_token {
            Some(refresh_token) => {
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", refresh_token.expose()));
            }
            None => form.push(("grant_type", "client_credentials")),
        }
        match &config.audience {
            TokenAudience::Resource(resource) => form.push(("resource", resource)),
            TokenAudience::Scope(scope) => form.push(("scope", scope)),
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let sent = self
                .inner
                .http
                .post(self.inner.token_url.clone())
                .header(ACCEPT, "application/json")
                .form(&form)
                .send()
                .await;
            let (status, headers, body) = match sent {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match read_body(response).await {
                        Ok(body) => (status, headers, body),
                        Err(BodyError::TooLarge) => {
                            return Err(ConnectorError::Malformed(
                                "the token endpoint's answer is too large".into(),
                            ))
                        }
                        Err(BodyError::Read(error)) => {
                            let detail = format!("token endpoint: {}", describe(&error));
                            self.wait_or_give_up("token", attempt, None, detail, None)
                                .await?;
                            continue;
                        }
                    }
                }
                Err(error) => {
                    let detail = format!("token endpoint: {}", describe(&error));
                    self.wait_or_give_up("token", attempt, None, detail, None)
                        .await?;
                    continue;
                }
            };
            tracing::debug!(
                status = status.as_u16(),
                attempt,
                elapsed_ms = elapsed_ms(started),
                grant = if refresh_token.is_some() {
                    "refresh_token"
                } else {
                    "client_credentials"
                },
                "partner center token request"
            );
            if status.is_success() {
                return parse_token(&body, started);
            }
            if retryable_status(status) {
                let retry_after = retry_after(&headers);
                let detail = format!("token endpoint answered {status}");
                self.wait_or_give_up("token", attempt, retry_after, detail, Some(status))
                    .await?;
                continue;
            }
            return Err(token_refusal(status, &body));
        }
    }

    /// After a failed attempt: sleeps before the next one, or says why there is none.
    async fn wait_or_give_up(
        &self,
        operation: &str,
        attempt: u32,
        retry_after: Option<u64>,
        detail: String,
        status: Option<StatusCode>,
    ) -> Result<(), ConnectorError> {
        let config = &self.inner.config;
        if attempt >= config.max_attempts {
            tracing::warn!(
                operation,
                attempt,
                status = status.map(|s| s.as_u16()),
                correlation_id = %self.correlation_id,
                %detail,
                "partner center call failed; no attempts left"
            );
            return Err(ConnectorError::Transient {
                detail,
                retry_after,
            });
        }
        let wait = match retry_after {
            Some(secs) => Duration::from_secs(secs).min(config.max_retry_wait),
            None => backoff(config.backoff_base, config.max_retry_wait, attempt),
        };
        tracing::warn!(
            operation,
            attempt,
            status = status.map(|s| s.as_u16()),
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            correlation_id = %self.correlation_id,
            %detail,
            "partner center call failed; retrying"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// One logical call: token, headers, retries. Returns the body of a 2xx answer.
    async fn execute(&self, call: Call<'_>) -> Result<Vec<u8>, ConnectorError> {
        let request_id = Uuid::new_v4();
        let mut attempt: u32 = 0;
        let mut refreshed_after_401 = false;
        loop {
            attempt += 1;
            let token = self.access_token().await?;
            let headers = self.headers(&token, request_id, &call)?;
            let mut request = self
                .inner
                .http
                .request(call.method.clone(), call.url.clone())
                .headers(headers);
            if let Some(body) = call.body {
                request = request.body(body.to_vec());
            }
            let started = Instant::now();
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    read_body(response)
                        .await
                        .map(|body| (status, headers, body))
                }
                Err(error) => Err(BodyError::Read(error)),
            };
            let (status, headers, body) = match outcome {
                Ok(answer) => answer,
                Err(BodyError::TooLarge) => {
                    return Err(ConnectorError::Malformed(format!(
                        "{}: the answer is larger than {MAX_BODY_BYTES} bytes",
                        call.operation
                    )))
                }
                Err(BodyError::Read(error)) => {
                    let detail = format!("{}: {}", call.operation, describe(&error));
                    self.wait_or_give_up(call.operation, attempt, None, detail, None)
                        .await?;
                    continue;
                }
            };
            tracing::debug!(
                operation = call.operation,
                method = %call.method,
                path = call.url.path(),
                status = status.as_u16(),
                attempt,
                elapsed_ms = elapsed_ms(started),
                request_id = %request_id,
                correlation_id = %self.correlation_id,
                "partner center request"
            );
            if status.is_success() {
                return Ok(body);
            }
            if status == StatusCode::UNAUTHORIZED {
                self.invalidate(&token).await;
                if !refreshed_after_401 {
                    // A token Partner Center no longer takes (revoked, clock skew): one more try
                    // with a new one, not counted as an attempt.
                    refreshed_after_401 = true;
                    attempt -= 1;
                    continue;
                }
                return Err(ConnectorError::Configuration(format!(
                    "{}: Partner Center refused a fresh access token (401)",
                    call.operation
                )));
            }
            if retryable_status(status) {
                let retry_after = retry_after(&headers);
                let detail = match parse_error(&body) {
                    Some(error) => format!("{}: {status}: {}", call.operation, error.detail()),
                    None => format!("{}: {status}", call.operation),
                };
                self.wait_or_give_up(call.operation, attempt, retry_after, detail, Some(status))
                    .await?;
                continue;
            }
            return Err(refusal(call.operation, status, &headers, &body));
        }
    }

    fn headers(
        &self,
        token: &Secret,
        request_id: Uuid,
        call: &Call<'_>,
    ) -> Result<HeaderMap, ConnectorError> {
        let mut headers = HeaderMap::new();
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                ConnectorError::Malformed("the access token is not a header value".into())
            })?;
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            HeaderName::from_static("ms-requestid"),
            uuid_header(request_id),
        );
        headers.insert(
            HeaderName::from_static("ms-correlationid"),
            uuid_header(self.correlation_id),
        );
        headers.insert(
            HeaderName::from_static("ms-contract-version"),
            HeaderValue::from_static("v1"),
        );
        if let Ok(application) = HeaderValue::from_str(&self.inner.config.application_name) {
            headers.insert(
                HeaderName::from_static("ms-partnercenter-application"),
                application,
            );
        }
        if call.body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(token) = call.continuation_token {
            let value = HeaderValue::from_str(token).map_err(|_| ConnectorError::Refused {
                code: INVALID_CONTINUATION.into(),
                detail: "the continuation token is not a header value".into(),
            })?;
            headers.insert(HeaderName::from_static("ms-continuationtoken"), value);
        }
        Ok(headers)
    }

    /// Where `links.next.uri` points, as a path under the base URL; only the customers collection.
    fn next_page_path(&self, uri: &str) -> Result<String, ConnectorError> {
        let uri = uri.trim();
        let path_and_query = if let Ok(absolute) = Url::parse(uri) {
            let base = &self.inner.base_url;
            if absolute.origin() != base.origin() {
                return Err(ConnectorError::Malformed(
                    "the next page link points to another host".into(),
                ));
            }
            let prefix = base.path().trim_end_matches('/');
            let path = absolute.path();
            let path = path.strip_prefix(prefix).unwrap_or(path);
            match absolute.query() {
                Some(query) => format!("{path}?{query}"),
                None => path.to_string(),
            }
        } else if uri.starts_with("/v1/") {
            uri.to_string()
        } else if uri.starts_with('/') {
            // Partner Center's links are relative to the API version root ("/customers?...").
            format!("/v1{uri}")
        } else {
            format!("/v1/{uri}")
        };
        check_continuation_path(&path_and_query)?;
        Ok(path_and_query)
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

    async fn direct_signed(&self, customer_id: &str) -> Result<bool, ConnectorError> {
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

    async fn attest(&self, attestation: &Attestation) -> Result<ProviderAgreement, ConnectorError> {
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

struct Call<'a> {
    method: Method,
    operation: &'static str,
    url: Url,
    body: Option<&'a [u8]>,
    continuation_token: Option<&'a str>,
}

impl<'a> Call<'a> {
    fn new(method: Method, operation: &'static str, url: Url) -> Self {
        Self {
            method,
            operation,
            url,
            body: None,
            continuation_token: None,
        }
    }

    fn get(operation: &'static str, url: Url) -> Self {
        Self::new(Method::GET, operation, url)
    }
}

/// Partner Center customer ids are tenant GUIDs; anything that could leave its path segment is
/// refused before a request is made.
fn check_customer_id(customer_id: &str) -> Result<(), ConnectorError> {
    let valid = !customer_id.is_empty()
        && customer_id.len() <= 128
        && customer_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && customer_id.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(ConnectorError::Refused {
            code: INVALID_CUSTOMER_ID.into(),
            detail: "a customer id is letters, digits, '-' and '_' (a tenant GUID)".into(),
        })
    }
}

fn check_continuation_path(path_and_query: &str) -> Result<(), ConnectorError> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let suspicious =
        |s: &str| s.contains('#') || s.contains('\\') || s.chars().any(char::is_control);
    if path != CUSTOMERS_PATH || suspicious(query) {
        return Err(ConnectorError::Refused {
            code: INVALID_CONTINUATION.into(),
            detail: "the continuation does not lead to the next customers page".into(),
        });
    }
    Ok(())
}

fn checked_url(name: &str, value: &str) -> Result<Url, ConnectorError> {
    let url = Url::parse(value)
        .map_err(|error| ConnectorError::Configuration(format!("{name} is not a URL: {error}")))?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        // Secrets and bearer tokens go over TLS, except to a fake on this machine.
        "http" if loopback => Ok(url),
        _ => Err(ConnectorError::Configuration(format!(
            "{name} must be https (http only for localhost)"
        ))),
    }
}

fn uuid_header(id: Uuid) -> HeaderValue {
    let mut buffer = Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buffer))
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-0000-0000-000000000000"))
}

fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` in seconds (the delay form; an HTTP date is ignored, and backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
}

/// base · 2^(attempt−1), capped, with the upper half jittered.
fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let full = base.saturating_mul(1u32 << exponent).min(cap);
    let half = full / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let jitter = if jitter_ms == 0 {
        0
    } else {
        rand::thread_rng().gen_range(0..=jitter_ms)
    };
    half + Duration::from_millis(jitter)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What went wrong with a request, without its URL's query (continuations) or anything secret.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    let url = error
        .url()
        .map(|u| format!(" ({})", u.path()))
        .unwrap_or_default();
    format!("{kind}{url}")
}

enum BodyError {
    TooLarge,
    Read(reqwest::Error),
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn parse_json<T: serde::de::DeserializeOwned>(
    operation: &str,
    body: &[u8],
) -> Result<T, ConnectorError> {
    serde_json::from_slice(body).map_err(|error| {
        ConnectorError::Malformed(format!(
            "{operation}: the answer is not the expected JSON ({})",
            json_error_kind(&error)
        ))
    })
}

/// The kind of JSON error and where, not the offending text (which may be personal data).
fn json_error_kind(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "i/o",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "cut off",
    };
    format!("{kind} at line {} column {}", error.line(), error.column())
}

/// Partner Center's error body: `{code, description, message?, errorName?, isRetryable?, ...}`;
/// throttling answers `{statusCode, message}` instead.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PcError {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_name: Option<String>,
    #[serde(default)]
    is_retryable: Option<bool>,
}

impl PcError {
    fn code(&self) -> Option<String> {
        match self.code.as_ref()? {
            Value::String(code) if !code.trim().is_empty() => Some(code.trim().to_string()),
            Value::Number(code) => Some(code.to_string()),
            _ => None,
        }
    }

    fn detail(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if let Some(name) = self.error_name.as_deref().filter(|s| !s.is_empty()) {
            parts.push(name);
        }
        if let Some(text) = self
            .description
            .as_deref()
            .or(self.message.as_deref())
            .filter(|s| !s.is_empty())
        {
            parts.push(text);
        }
        let detail = parts.join(": ");
        truncate(&detail, 500)
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max_chars).collect();
        cut.push('…');
        cut
    }
}

fn parse_error(body: &[u8]) -> Option<PcError> {
    serde_json::from_slice::<PcError>(body).ok()
}

/// A final, non-retried error answer.
fn refusal(
    operation: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ConnectorError {
    let error = parse_error(body).unwrap_or_default();
    let detail = {
        let detail = error.detail();
        if detail.is_empty() {
            format!("{operation}: {status}")
        } else {
            format!("{operation}: {detail}")
        }
    };
    if !status.is_client_error() {
        return ConnectorError::Malformed(format!("{operation}: unexpected status {status}"));
    }
    if error.is_retryable == Some(true) {
        return ConnectorError::Transient {
            detail,
            retry_after: retry_after(headers),
        };
    }
    ConnectorError::Refused {
        code: error
            .code()
            .unwrap_or_else(|| format!("http_{}", status.as_u16())),
        detail,
    }
}

/// The token endpoint's OAuth error (`{error, error_description}`): credentials or configuration.
fn token_refusal(status: StatusCode, body: &[u8]) -> ConnectorError {
    #[derive(Deserialize)]
    struct OAuthError {
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        error_description: Option<String>,
    }
    let detail = match serde_json::from_slice::<OAuthError>(body) {
        Ok(OAuthError {
            error: Some(error),
            error_description,
        }) => {
            // The description's first line holds the AADSTS code and reason; the rest is trace ids.
            let description = error_description
                .as_deref()
                .and_then(|d| d.lines().next())
                .map(|d| format!(": {}", truncate(d, 300)))
                .unwrap_or_default();
            format!("{error}{description}")
        }
        _ => status.to_string(),
    };
    ConnectorError::Configuration(format!(
        "the token endpoint refused the credentials ({}): {detail}",
        status.as_u16()
    ))
}

struct IssuedToken {
    access_token: Secret,
    refresh_token: Option<Secret>,
    renew_at: Instant,
}

fn parse_token(body: &[u8], requested_at: Instant) -> Result<IssuedToken, ConnectorError> {
    #[derive(Deserialize)]
    struct TokenResponse {
        access_token: Option<String>,
        /// The v1 endpoint sends numbers as strings ("3599").
        #[serde(default)]
        expires_in: Option<Value>,
        #[serde(default)]
        refresh_token: Option<String>,
    }
    let response: TokenResponse = parse_json("token", body)?;
    let access_token = response
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ConnectorError::Malformed("token: no access_token in the answer".into()))?;
    let expires_in = match response.expires_in {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    // Entra ID tokens last an hour or more; assume the shortest usual life if it is not said.
    .unwrap_or(3600);
    let lifetime = Duration::from_secs(expires_in);
    // Renew a little early: a quarter of the life, at most a minute (counted from the request).
    let margin = (lifetime / 4).min(Duration::from_secs(60));
    Ok(IssuedToken {
        access_token: Secret::new(access_token),
        refresh_token: response
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        renew_at: requested_at + lifetime.saturating_sub(margin),
    })
}

/// The opaque continuation handed to callers: the next page's path and its continuation token,
/// as base64url JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Continuation {
    #[serde(rename = "u")]
    uri: String,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl Continuation {
    fn encode(&self) -> String {
        // Serialising two strings cannot fail; an empty continuation would only restart the list.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(encoded: &str) -> Result<Self, ConnectorError> {
        let invalid = || ConnectorError::Refused {
            code: INVALID_CONTINUATION.into(),
            detail: "the continuation is not one this client made".into(),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded.trim())
            .map_err(|_| invalid())?;
        let continuation: Continuation = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        check_continuation_path(&continuation.uri)?;
        Ok(continuation)
    }
}

#[derive(Debug, Deserialize)]
struct Collection<T> {
    items: Vec<T>,
    #[serde(default)]
    links: Option<Links>,
}

#[derive(Debug, Default, Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<Link>,
}

#[derive(Debug, Default, Deserialize)]
struct Link {
    #[serde(default)]
    uri: Option<String>,
    /// `[{"key": "MS-ContinuationToken", "value": "..."}]` (an object map is accepted too).
    #[serde(default)]
    headers: Option<Value>,
}

impl Link {
    fn continuation_token(&self) -> Option<String> {
        let is_token = |key: &str| key.eq_ignore_ascii_case("MS-ContinuationToken");
        match self.headers.as_ref()? {
            Value::Array(headers) => headers.iter().find_map(|header| {
                let key = header.get("key").or_else(|| header.get("name"))?.as_str()?;
                if is_token(key) {
                    header.get("value")?.as_str().map(str::to_string)
                } else {
                    None
                }
            }),
            Value::Object(map) => map
                .iter()
                .find(|(key, _)| is_token(key))
                .and_then(|(_, value)| value.as_str().map(str::to_string)),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomerDto {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    company_profile: Option<CompanyProfileDto>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompanyProfileDto {
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    company_name: Option<String>,
    #[serde(default)]
    domain: Option<String>,
}

impl CustomerDto {
    fn into_customer(self) -> Result<ProviderCustomer, ConnectorError> {
        let profile = self.company_profile.unwrap_or_default();
        let id = non_empty(self.id)
            .or_else(|| non_empty(profile.tenant_id))
            .ok_or_else(|| {
                ConnectorError::Malformed(
                    "customers: a customer has neither id nor tenantId".into(),
                )
            })?;
        Ok(ProviderCustomer {
            id,
            company_name: profile.company_name.unwrap_or_default(),
            domain: non_empty(profile.domain),
        })
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgreementDto {
    #[serde(default)]
    template_id: Option<String>,
    /// The Agreement resource's spelling.
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// The agreement metadata's spelling, seen in examples for agreements too.
    #[serde(default)]
    agreement_type: Option<String>,
    #[serde(default)]
    date_agreed: Option<String>,
    #[serde(default)]
    primary_contact: Option<ContactDto>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactDto {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
}

impl AgreementDto {
    /// `fallback` (what was sent) fills what a creation answer leaves out.
    fn into_agreement(
        self,
        fallback: Option<&ProviderAgreement>,
    ) -> Result<ProviderAgreement, ConnectorError> {
        let missing = |field: &str| {
            ConnectorError::Malformed(format!("agreements: an agreement has no {field}"))
        };
        let template_id = non_empty(self.template_id)
            .or_else(|| fallback.map(|f| f.template_id.clone()))
            .ok_or_else(|| missing("templateId"))?;
        let agreement_type = non_empty(self.kind)
            .or_else(|| non_empty(self.agreement_type))
            .or_else(|| fallback.map(|f| f.agreement_type.clone()))
            .ok_or_else(|| missing("type"))?;
        let date_agreed = non_empty(self.date_agreed)
            .or_else(|| fallback.map(|f| f.date_agreed.clone()))
            .ok_or_else(|| missing("dateAgreed"))?;
        let primary_contact = match self.primary_contact {
            Some(contact) => Some(AgreementContact {
                first_name: contact.first_name.unwrap_or_default(),
                last_name: contact.last_name.unwrap_or_default(),
                email: contact.email.unwrap_or_default(),
                phone_number: non_empty(contact.phone_number),
            }),
            None => fallback.and_then(|f| f.primary_contact.clone()),
        };
        Ok(ProviderAgreement {
            template_id,
            agreement_type,
            date_agreed,
            primary_contact,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectSignedDto {
    #[serde(default)]
    is_signed: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AgreementRequest {
    primary_contact: ContactRequest,
    template_id: String,
    date_agreed: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ContactRequest {
    first_name: String,
    last_name: String,
    email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
}

impl AgreementRequest {
    fn from_attestation(attestation: &Attestation) -> Result<Self, ConnectorError> {
        let invalid = |detail: &str| ConnectorError::Refused {
            code: INVALID_ATTESTATION.into(),
            detail: detail.to_string(),
        };
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(attestation.date_agreed.trim(), &format)
            .map_err(|_| invalid("date_agreed is not a YYYY-MM-DD date"))?;
        let contact = &attestation.primary_contact;
        for (value, field) in [
            (&attestation.template_id, "template_id"),
            (&attestation.agreement_type, "agreement_type"),
            (&contact.first_name, "first name"),
            (&contact.last_name, "last name"),
            (&contact.email, "email"),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(&format!("the {field} is empty")));
            }
        }
        Ok(Self {
            primary_contact: ContactRequest {
                first_name: contact.first_name.trim().to_string(),
                last_name: contact.last_name.trim().to_string(),
                email: contact.email.trim().to_string(),
                phone_number: non_empty(contact.phone_number.clone()),
            },
            template_id: attestation.template_id.trim().to_string(),
            date_agreed: format!(
                "{:04}-{:02}-{:02}T00:00:00Z",
                date.year(),
                u8::from(date.month()),
                date.day()
            ),
            kind: attestation.agreement_type.trim().to_string(),
        })
    }

    fn as_agreement(&self) -> ProviderAgreement {
        ProviderAgreement {
            template_id: self.template_id.clone(),
            agreement_type: self.kind.clone(),
            date_agreed: self.date_agreed.clone(),
            primary_contact: Some(AgreementContact {
                first_name: self.primary_contact.first_name.clone(),
                last_name: self.primary_contact.last_name.clone(),
                email: self.primary_contact.email.clone(),
                phone_number: self.primary_contact.phone_number.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> PartnerCenterClient {
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

    #[test]
    fn config_from_lookup_defaults_and_validation() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let config = PartnerCenterConfig::from_lookup(env(&[
            ("PARTNER_CENTER_TENANT_ID", "t-1"),
            ("PARTNER_CENTER_CLIENT_ID", "c-1"),
            ("PARTNER_CENTER_CLIENT_SECRET", "shh"),
        ]))
        .expect("complete");
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(
            config.token_url,
            "https://login.microsoftonline.com/t-1/oauth2/token"
        );
        assert_eq!(
            config.audience,
            TokenAudience::Resource(PARTNER_CENTER_RESOURCE.into())
        );
        assert_eq!(config.max_attempts, 4);
        assert_eq!(config.timeout, Duration::from_secs(20));
        assert!(
            !format!("{config:?}").contains("shh"),
            "secrets stay out of Debug"
        );

        let v2 = PartnerCenterConfig::from_lookup(env(&[
            ("PARTNER_CENTER_TENANT_ID", "t-1"),
            ("PARTNER_CENTER_CLIENT_ID", "c-1"),
            (
                "PARTNER_CENTER_CLIENT_SECRET_ARN",
                "arn:aws:secretsmanager:x",
            ),
            (
                "PARTNER_CENTER_TOKEN_URL",
                "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
            ),
        ]))
        .expect("complete");
        assert_eq!(
            v2.audience,
            TokenAudience::Scope("https://api.partnercenter.microsoft.com/.default".into())
        );
        assert_eq!(
            v2.secret,
            SecretSource::SecretsManager {
                secret_id: "arn:aws:secretsmanager:x".into()
            }
        );

        for incomplete in [
            env(&[("PARTNER_CENTER_TENANT_ID", "t")]),
            env(&[
                ("PARTNER_CENTER_TENANT_ID", "t"),
                ("PARTNER_CENTER_CLIENT_ID", "c"),
            ]),
            env(&[
                ("PARTNER_CENTER_TENANT_ID", "t"),
                ("PARTNER_CENTER_CLIENT_ID", "c"),
                ("PARTNER_CENTER_CLIENT_SECRET", "s"),
                ("PARTNER_CENTER_CLIENT_SECRET_ARN", "a"),
            ]),
            env(&[
                ("PARTNER_CENTER_TENANT_ID", "t"),
                ("PARTNER_CENTER_CLIENT_ID", "c"),
                ("PARTNER_CENTER_CLIENT_SECRET", "s"),
                ("PARTNER_CENTER_MAX_ATTEMPTS", "many"),
            ]),
        ] {
            assert!(matches!(
                PartnerCenterConfig::from_lookup(incomplete),
                Err(ConnectorError::Configuration(_))
            ));
        }
    }

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
    fn secret_string_raw_or_json() {
        let raw = parse_secret_string(" abc ").expect("raw");
        assert_eq!(raw.client_secret.expose(), "abc");
        assert_eq!(raw.refresh_token, None);
        let json =
            parse_secret_string(r#"{"client_secret":"abc","refresh_token":"r"}"#).expect("json");
        assert_eq!(json.client_secret.expose(), "abc");
        assert_eq!(json.refresh_token.as_ref().map(Secret::expose), Some("r"));
        assert!(parse_secret_string(r#"{"other":"x"}"#).is_err());
        assert!(parse_secret_string("{not json").is_err());
        assert!(parse_secret_string("  ").is_err());
    }

    #[test]
    fn customer_ids_stay_in_their_segment() {
        let client = client();
        let url = client
            .customer_url("1b2c-3d_4", &["agreements"])
            .expect("valid id");
        assert_eq!(url.path(), "/v1/customers/1b2c-3d_4/agreements");
        for bad in [
            "",
            "..",
            ".",
            "a/b",
            "../partners",
            "a%2Fb",
            "a?b",
            "a#b",
            "a b",
            "ä",
        ] {
            assert!(
                matches!(
                    client.customer_url(bad, &["agreements"]),
                    Err(ConnectorError::Refused { ref code, .. }) if code == INVALID_CUSTOMER_ID
                ),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn next_links_resolve_only_to_the_customers_collection() {
        let client = client();
        assert_eq!(
            client
                .next_page_path("/customers?size=3&seekOperation=Next")
                .expect("relative to v1"),
            "/v1/customers?size=3&seekOperation=Next"
        );
        assert_eq!(
            client
                .next_page_path("/v1/customers?size=3&seekOperation=Next")
                .expect("with v1"),
            "/v1/customers?size=3&seekOperation=Next"
        );
        assert_eq!(
            client.next_page_path("customers?size=3").expect("no slash"),
            "/v1/customers?size=3"
        );
        assert_eq!(
            client
                .next_page_path("http://127.0.0.1:9/v1/customers?size=3")
                .expect("same origin"),
            "/v1/customers?size=3"
        );
        for bad in [
            "https://evil.example/v1/customers",
            "/v1/customers/../partners",
            "/v1/invoices?size=3",
            "/v1/customers/x/agreements",
        ] {
            assert!(client.next_page_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn continuations_round_trip_and_reject_forgeries() {
        let continuation = Continuation {
            uri: "/v1/customers?size=3&seekOperation=Next".into(),
            token: Some("abc,def=".into()),
        };
        assert_eq!(
            Continuation::decode(&continuation.encode()).expect("round trip"),
            continuation
        );
        let forged = Continuation {
            uri: "/v1/customers/x/agreements".into(),
            token: None,
        };
        for bad in [
            "",
            "not base64!",
            &forged.encode(),
            &URL_SAFE_NO_PAD.encode("[1]"),
        ] {
            assert!(
                matches!(
                    Continuation::decode(bad),
                    Err(ConnectorError::Refused { ref code, .. }) if code == INVALID_CONTINUATION
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn link_headers_in_both_forms() {
        let array: Link = serde_json::from_value(serde_json::json!({
            "uri": "/customers?size=1",
            "headers": [{"key": "MS-ContinuationToken", "value": "tok"}]
        }))
        .expect("link");
        assert_eq!(array.continuation_token().as_deref(), Some("tok"));
        let object: Link = serde_json::from_value(serde_json::json!({
            "uri": "/customers?size=1",
            "headers": {"ms-continuationtoken": "tok2"}
        }))
        .expect("link");
        assert_eq!(object.continuation_token().as_deref(), Some("tok2"));
    }

    #[test]
    fn error_bodies_map_to_connector_errors() {
        let headers = HeaderMap::new();
        let duplicate = br#"{"code":600061,"message":"m","description":"A partner confirmed agreement already exists for the customer.","errorName":"PartnerConfirmedAgreementAlreadyExists","isRetryable":false,"parameters":{}}"#;
        match refusal("attest", StatusCode::BAD_REQUEST, &headers, duplicate) {
            ConnectorError::Refused { code, detail } => {
                assert_eq!(code, AGREEMENT_ALREADY_EXISTS);
                assert!(detail.contains("PartnerConfirmedAgreementAlreadyExists"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            refusal(
                "x",
                StatusCode::CONFLICT,
                &headers,
                br#"{"code":"2001","isRetryable":true}"#
            ),
            ConnectorError::Transient { .. }
        ));
        assert!(matches!(
            refusal("x", StatusCode::FORBIDDEN, &headers, b"<html>"),
            ConnectorError::Refused { ref code, .. } if code == "http_403"
        ));
    }

    #[test]
    fn agreements_accept_both_type_spellings() {
        let a: AgreementDto = serde_json::from_value(serde_json::json!({
            "templateId": "t", "agreementType": "MicrosoftCustomerAgreement",
            "dateAgreed": "2024-01-02T00:00:00Z", "unknown": {"x": 1}
        }))
        .expect("dto");
        assert_eq!(
            a.into_agreement(None).expect("complete").agreement_type,
            "MicrosoftCustomerAgreement"
        );
        let b: AgreementDto = serde_json::from_value(serde_json::json!({
            "templateId": "t", "type": "MicrosoftCloudAgreement", "dateAgreed": "2024-01-02",
            "primaryContact": {"firstName": "A", "lastName": "B", "email": "e@x"}
        }))
        .expect("dto");
        let b = b.into_agreement(None).expect("complete");
        assert_eq!(b.agreement_type, "MicrosoftCloudAgreement");
        assert_eq!(b.primary_contact.and_then(|c| c.phone_number), None);
        let c: AgreementDto =
            serde_json::from_value(serde_json::json!({"templateId": "t"})).expect("dto");
        assert!(matches!(
            c.into_agreement(None),
            Err(ConnectorError::Malformed(_))
        ));
    }

    #[test]
    fn tokens_expire_early_and_accept_string_lifetimes() {
        let now = Instant::now();
        let issued = parse_token(
            br#"{"token_type":"Bearer","expires_in":"3599","access_token":"a"}"#,
            now,
        )
        .expect("v1 answer");
        assert_eq!(issued.renew_at, now + Duration::from_secs(3599 - 60));
        let short = parse_token(br#"{"expires_in":4,"access_token":"a"}"#, now).expect("v2");
        assert_eq!(short.renew_at, now + Duration::from_secs(3));
        assert!(parse_token(br#"{"expires_in":4}"#, now).is_err());
        assert!(parse_token(b"<html>", now).is_err());
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

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        for attempt in 1..10 {
            let wait = backoff(base, cap, attempt);
            assert!(wait <= cap);
            let full = base.saturating_mul(1 << (attempt - 1)).min(cap);
            assert!(wait >= full / 2);
        }
    }

    #[test]
    fn attestation_request_shape() {
        let attestation = Attestation {
            customer_id: "c".into(),
            template_id: "117a77b0-9360-443b-8795-c6dedc750cf9".into(),
            agreement_type: "MicrosoftCustomerAgreement".into(),
            date_agreed: "2024-03-05".into(),
            primary_contact: AgreementContact {
                first_name: "Tania".into(),
                last_name: "Carr".into(),
                email: "someone@example.com".into(),
                phone_number: None,
            },
        };
        let request = AgreementRequest::from_attestation(&attestation).expect("valid");
        assert_eq!(
            serde_json::to_value(&request).expect("json"),
            serde_json::json!({
                "primaryContact": {"firstName": "Tania", "lastName": "Carr", "email": "someone@example.com"},
                "templateId": "117a77b0-9360-443b-8795-c6dedc750cf9",
                "dateAgreed": "2024-03-05T00:00:00Z",
                "type": "MicrosoftCustomerAgreement"
            })
        );
        for date in [
            "2024-3-5",
            "2024-02-30",
            "yesterday",
            "2024-03-05T00:00:00Z",
        ] {
            let bad = Attestation {
                date_agreed: date.into(),
                ..attestation.clone()
            };
            assert!(AgreementRequest::from_attestation(&bad).is_err(), "{date}");
        }
    }
}
