//! What the client is told: the Partner Center and token URLs, the application's identity, its
//! secret's source and the retry and paging settings, with defaults and read from the environment.

use std::time::Duration;

use reqwest::Url;

use super::secret::{AppSecret, Secret, SecretSource};
use crate::connectors::ConnectorError;

/// Partner Center's public-cloud REST root.
pub const DEFAULT_BASE_URL: &str = "https://api.partnercenter.microsoft.com";
/// The Entra ID resource (v1 token endpoint) of the Partner Center API.
pub const PARTNER_CENTER_RESOURCE: &str = "https://api.partnercenter.microsoft.com";
/// Where the tenant's token comes from; `{tenant}` is replaced by the partner tenant id.
pub const DEFAULT_TOKEN_URL_TEMPLATE: &str =
    "https://login.microsoftonline.com/{tenant}/oauth2/token";

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
    /// A logical call's attempts and waits together end within this (a wait that would pass
    /// it is not taken). Default 20 s: under the 29 s of the functions that call Partner Center.
    pub call_budget: Duration,
    /// `size` of a customers page. Default 100.
    pub page_size: u32,
    /// `MS-PartnerCenter-Application`. Default `agreements`.
    pub application_name: String,
    /// The enhanced attestation's undocumented parts, as settings.
    pub enhanced: super::enhanced::EnhancedSettings,
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
            call_budget: Duration::from_secs(20),
            page_size: 100,
            application_name: "agreements".to_string(),
            enhanced: super::enhanced::EnhancedSettings::default(),
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
        if let Some(secs) = number("PARTNER_CENTER_CALL_BUDGET_SECS")? {
            config.call_budget = Duration::from_secs(secs);
        }
        if let Some(size) = number("PARTNER_CENTER_PAGE_SIZE")? {
            config.page_size = u32::try_from(size).unwrap_or(u32::MAX);
        }
        config.enhanced = super::enhanced::EnhancedSettings::from_lookup(&get)?;
        Ok(config)
    }
}

/// `value` as the URL `name`: https, or plain http to this machine only.
pub(super) fn checked_url(name: &str, value: &str) -> Result<Url, ConnectorError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
