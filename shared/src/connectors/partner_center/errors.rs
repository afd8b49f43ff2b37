//! Error codes, and Partner Center's (and the token endpoint's) error answers and unexpected
//! JSON turned into [`ConnectorError`]s that say what happened without echoing personal data.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::transport::retry_after;
use crate::connectors::ConnectorError;

/// The error code of "a partner confirmed agreement already exists for the customer".
pub const AGREEMENT_ALREADY_EXISTS: &str = "600061";
pub(super) const AGREEMENT_ALREADY_EXISTS_NAME: &str = "PartnerConfirmedAgreementAlreadyExists";

/// Codes of refusals this client makes itself, before anything is sent.
pub const INVALID_CUSTOMER_ID: &str = "invalid_customer_id";
pub const INVALID_CONTINUATION: &str = "invalid_continuation";
pub const INVALID_ATTESTATION: &str = "invalid_attestation";

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
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
pub(super) struct PcError {
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

    pub(super) fn detail(&self) -> String {
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

pub(super) fn parse_error(body: &[u8]) -> Option<PcError> {
    serde_json::from_slice::<PcError>(body).ok()
}

/// A final, non-retried error answer.
pub(super) fn refusal(
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
pub(super) fn token_refusal(status: StatusCode, body: &[u8]) -> ConnectorError {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
