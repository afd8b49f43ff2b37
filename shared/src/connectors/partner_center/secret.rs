//! The application's client secret (and App+User refresh token): a value `Debug` never prints,
//! given inline or read from AWS Secrets Manager.

use std::fmt;

use serde_json::Value;

use crate::connectors::ConnectorError;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
