//! Microsoft's enhanced customer attestation: create an attestation for the customer's
//! signatory (`POST /v1/attestations/enhanced`), read where it stands, and create the agreement
//! with its id once the customer accepted in Microsoft's page.
//!
//! Microsoft's public description of this API is incomplete (docs/partner-center.md, "Enhanced
//! attestation: what is documented and what is a setting"): the request's e-mail and phone field
//! names, the answer's fields, the status read, the status words, the link's form and lifetime
//! and the create-agreement field are settings ([`EnhancedSettings`]) whose defaults are the
//! best public evidence, never constants in the code.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value};

use super::errors::{parse_json, AGREEMENT_ALREADY_EXISTS, AGREEMENT_ALREADY_EXISTS_NAME};
use super::transport::Call;
use super::wire::AgreementDto;
use super::PartnerCenterClient;
use super::{pick_existing, CUSTOMER_AGREEMENT};
use crate::connectors::{
    AttestationStart, AttestedAgreement, ConnectorError, ProviderAgreement, RemoteAttestation,
    RemoteAttestationState,
};
use crate::model::Instant;

/// The placeholder of an attestation id in [`EnhancedSettings::status_path`] and
/// [`EnhancedSettings::link_template`].
pub const ATTESTATION_ID_PLACEHOLDER: &str = "{attestationId}";

/// Code of a refusal this client makes itself: the request lacks what Microsoft requires.
pub const INVALID_ATTESTATION_START: &str = "invalid_attestation_start";

/// What is not documented about the enhanced attestation, as settings with their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnhancedSettings {
    /// `PARTNER_CENTER_ATTESTATION_PATH`: where an attestation is created.
    pub create_path: String,
    /// `PARTNER_CENTER_ATTESTATION_STATUS_PATH`: where one is read (`{attestationId}` replaced).
    pub status_path: String,
    /// `PARTNER_CENTER_ATTESTATION_LINK`: the customer's page when the answer carries no URL.
    pub link_template: String,
    /// `PARTNER_CENTER_ATTESTATION_EMAIL_FIELD` / `…_PHONE_FIELD`: the signatory's e-mail and
    /// phone in the create request.
    pub email_field: String,
    pub phone_field: String,
    /// `PARTNER_CENTER_ATTESTATION_ID_FIELD`: the answer's field holding the attestation id.
    pub id_field: String,
    /// `PARTNER_CENTER_ATTESTATION_STATUS_FIELD`: the answer's field holding its status.
    pub status_field: String,
    /// `PARTNER_CENTER_AGREEMENT_ATTESTATION_FIELD`: the create-agreement body's field that
    /// carries the attestation id.
    pub agreement_field: String,
    /// `PARTNER_CENTER_ATTESTATION_ACCEPTED` / `…_CREATED` / `…_EXPIRED`: the status words
    /// (compared without case and punctuation) meaning accepted, agreement created, expired.
    /// Any other word means the customer has not accepted yet.
    pub accepted_words: Vec<String>,
    pub created_words: Vec<String>,
    pub expired_words: Vec<String>,
    /// `PARTNER_CENTER_ATTESTATION_LINK_MINUTES`: how long a link is taken to live when the
    /// answer does not say.
    pub link_lifetime: Duration,
    /// `PARTNER_CENTER_ATTESTATION_EXPIRY_FIELD`: if set, the create request carries the link
    /// lifetime in minutes in this field; empty (default) sends none.
    pub expiry_field: Option<String>,
}

impl Default for EnhancedSettings {
    fn default() -> Self {
        let words = |list: &str| list.split(',').map(normalise).collect();
        Self {
            create_path: "/v1/attestations/enhanced".into(),
            status_path: format!("/v1/attestations/enhanced/{ATTESTATION_ID_PLACEHOLDER}"),
            link_template: format!(
                "https://cdn.partner.microsoft.com/mca/?attestationid={ATTESTATION_ID_PLACEHOLDER}"
            ),
            email_field: "signatoryEmail".into(),
            phone_field: "signatoryPhoneNumber".into(),
            id_field: "attestationId".into(),
            status_field: "status".into(),
            agreement_field: "attestationId".into(),
            accepted_words: words("CustomerAccepted,Accepted"),
            created_words: words("AgreementCreated,Valid,Completed"),
            expired_words: words("LinkExpired,Expired"),
            link_lifetime: Duration::from_secs(7 * 24 * 3600),
            expiry_field: None,
        }
    }
}

/// Lower-case letters and digits only: `Link Expired`, `link_expired` and `LinkExpired` alike.
fn normalise(word: &str) -> String {
    word.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl EnhancedSettings {
    /// Reads the settings through `get` (an environment, values trimmed, empty as unset).
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<EnhancedSettings, ConnectorError> {
        let mut s = EnhancedSettings::default();
        let path = |name: &str, value: String| -> Result<String, ConnectorError> {
            if value.starts_with('/') && !value.contains("://") {
                Ok(value)
            } else {
                Err(ConnectorError::Configuration(format!(
                    "{name} must be a path under the Partner Center base URL, such as /v1/…"
                )))
            }
        };
        if let Some(v) = get("PARTNER_CENTER_ATTESTATION_PATH") {
            s.create_path = path("PARTNER_CENTER_ATTESTATION_PATH", v)?;
        }
        if let Some(v) = get("PARTNER_CENTER_ATTESTATION_STATUS_PATH") {
            s.status_path = path("PARTNER_CENTER_ATTESTATION_STATUS_PATH", v)?;
        }
        if !s.status_path.contains(ATTESTATION_ID_PLACEHOLDER) {
            return Err(ConnectorError::Configuration(format!(
                "PARTNER_CENTER_ATTESTATION_STATUS_PATH must contain {ATTESTATION_ID_PLACEHOLDER}"
            )));
        }
        if let Some(v) = get("PARTNER_CENTER_ATTESTATION_LINK") {
            if !v.starts_with("https://") || !v.contains(ATTESTATION_ID_PLACEHOLDER) {
                return Err(ConnectorError::Configuration(format!(
                    "PARTNER_CENTER_ATTESTATION_LINK must be an https URL containing {ATTESTATION_ID_PLACEHOLDER}"
                )));
            }
            s.link_template = v;
        }
        for (name, field) in [
            ("PARTNER_CENTER_ATTESTATION_EMAIL_FIELD", &mut s.email_field),
            ("PARTNER_CENTER_ATTESTATION_PHONE_FIELD", &mut s.phone_field),
            ("PARTNER_CENTER_ATTESTATION_ID_FIELD", &mut s.id_field),
            (
                "PARTNER_CENTER_ATTESTATION_STATUS_FIELD",
                &mut s.status_field,
            ),
            (
                "PARTNER_CENTER_AGREEMENT_ATTESTATION_FIELD",
                &mut s.agreement_field,
            ),
        ] {
            if let Some(v) = get(name) {
                if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(ConnectorError::Configuration(format!(
                        "{name} must be a JSON field name (letters, digits, _)"
                    )));
                }
                *field = v;
            }
        }
        for (name, words) in [
            ("PARTNER_CENTER_ATTESTATION_ACCEPTED", &mut s.accepted_words),
            ("PARTNER_CENTER_ATTESTATION_CREATED", &mut s.created_words),
            ("PARTNER_CENTER_ATTESTATION_EXPIRED", &mut s.expired_words),
        ] {
            if let Some(v) = get(name) {
                *words = v
                    .split(',')
                    .map(normalise)
                    .filter(|w| !w.is_empty())
                    .collect();
            }
        }
        if let Some(v) = get("PARTNER_CENTER_ATTESTATION_LINK_MINUTES") {
            let minutes = v.parse::<u64>().ok().filter(|m| *m >= 1).ok_or_else(|| {
                ConnectorError::Configuration(format!(
                    "PARTNER_CENTER_ATTESTATION_LINK_MINUTES is not a number of minutes: {v}"
                ))
            })?;
            s.link_lifetime = Duration::from_secs(minutes.saturating_mul(60));
        }
        s.expiry_field = get("PARTNER_CENTER_ATTESTATION_EXPIRY_FIELD");
        Ok(s)
    }

    /// The state a status word names; an unknown word (or none) is still pending.
    pub fn state_of(&self, raw: &str) -> RemoteAttestationState {
        let word = normalise(raw);
        if self.created_words.contains(&word) {
            RemoteAttestationState::AgreementCreated
        } else if self.accepted_words.contains(&word) {
            RemoteAttestationState::CustomerAccepted
        } else if self.expired_words.contains(&word) {
            RemoteAttestationState::LinkExpired
        } else {
            RemoteAttestationState::Pending
        }
    }

    /// The customer's link for an attestation id (one [`check_attestation_id`] let through:
    /// nothing in it needs escaping).
    pub fn link_for(&self, attestation_id: &str) -> String {
        self.link_template
            .replace(ATTESTATION_ID_PLACEHOLDER, attestation_id)
    }
}

/// An attestation id this client puts in a path or link: letters, digits, `-` and `_`.
fn check_attestation_id(id: &str) -> Result<(), ConnectorError> {
    if !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(ConnectorError::Malformed(
            "attestation: the attestation id is not letters, digits, '-' and '_'".into(),
        ))
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A link the answer carries, if it is an https URL.
fn answered_link(answer: &Map<String, Value>) -> Option<String> {
    ["attestationUrl", "attestationLink", "url", "link"]
        .iter()
        .find_map(|k| text(answer.get(*k)))
        .filter(|u| u.starts_with("https://") && !u.chars().any(char::is_whitespace))
}

/// An expiry the answer carries (RFC 3339), if any.
fn answered_expiry(answer: &Map<String, Value>) -> Option<Instant> {
    ["expiresAt", "expirationDate", "expiryDate", "linkExpiresAt"]
        .iter()
        .find_map(|k| text(answer.get(*k)))
        .and_then(|t| {
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
        })
        .and_then(|t| Instant::from_unix_secs(t.unix_timestamp()))
}

impl PartnerCenterClient {
    fn settings(&self) -> &EnhancedSettings {
        &self.inner.config.enhanced
    }

    fn read_attestation(
        &self,
        operation: &str,
        body: &[u8],
        known_id: Option<&str>,
    ) -> Result<RemoteAttestation, ConnectorError> {
        let settings = self.settings();
        let answer: Value = parse_json(operation, body)?;
        let Value::Object(answer) = answer else {
            return Err(ConnectorError::Malformed(format!(
                "{operation}: the answer is not a JSON object"
            )));
        };
        let attestation_id = text(answer.get(&settings.id_field))
            .or_else(|| text(answer.get("id")))
            .or_else(|| known_id.map(str::to_string))
            .ok_or_else(|| {
                ConnectorError::Malformed(format!(
                    "{operation}: the answer has no {}",
                    settings.id_field
                ))
            })?;
        check_attestation_id(&attestation_id)?;
        let raw_status = text(answer.get(&settings.status_field))
            .or_else(|| text(answer.get("attestationStatus")))
            .unwrap_or_default();
        Ok(RemoteAttestation {
            state: settings.state_of(&raw_status),
            link: answered_link(&answer).unwrap_or_else(|| settings.link_for(&attestation_id)),
            expires_at: answered_expiry(&answer),
            attestation_id,
            raw_status,
        })
    }

    /// `POST {create_path}` with the customer's country, language and company and the
    /// signatory's names, e-mail and phone.
    pub async fn start_attestation(
        &self,
        start: &AttestationStart,
    ) -> Result<RemoteAttestation, ConnectorError> {
        let settings = self.settings();
        let invalid = |what: &str| ConnectorError::Refused {
            code: INVALID_ATTESTATION_START.into(),
            detail: format!("the attestation cannot be started: {what}"),
        };
        let signatory = &start.signatory;
        for (value, what) in [
            (&start.country, "the country is missing"),
            (&start.language, "the language is missing"),
            (&start.company_name, "the company name is missing"),
            (
                &signatory.first_name,
                "the signatory's first name is missing",
            ),
            (&signatory.last_name, "the signatory's last name is missing"),
            (&signatory.email, "the signatory's e-mail is missing"),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(what));
            }
        }
        let mut body = Map::new();
        body.insert("country".into(), start.country.trim().into());
        body.insert("language".into(), start.language.trim().into());
        body.insert("companyName".into(), start.company_name.trim().into());
        body.insert(
            "signatoryFirstName".into(),
            signatory.first_name.trim().into(),
        );
        body.insert(
            "signatoryLastName".into(),
            signatory.last_name.trim().into(),
        );
        body.insert(settings.email_field.clone(), signatory.email.trim().into());
        if let Some(phone) = signatory
            .phone_number
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            body.insert(settings.phone_field.clone(), phone.into());
        }
        if let Some(field) = &settings.expiry_field {
            body.insert(
                field.clone(),
                Value::from(settings.link_lifetime.as_secs() / 60),
            );
        }
        let body = serde_json::to_vec(&Value::Object(body)).map_err(|error| {
            ConnectorError::Malformed(format!("cannot encode the attestation: {error}"))
        })?;
        let url = self.url_for(&settings.create_path)?;
        let answer = self
            .execute(Call {
                body: Some(&body),
                ..Call::new(Method::POST, "start attestation", url)
            })
            .await?;
        let mut started = self.read_attestation("start attestation", &answer, None)?;
        if started.expires_at.is_none() {
            let lifetime = i64::try_from(settings.link_lifetime.as_secs()).unwrap_or(i64::MAX / 4);
            started.expires_at =
                Instant::from_unix_secs(Instant::now().unix_secs().saturating_add(lifetime));
        }
        tracing::info!(
            attestation_id = %started.attestation_id,
            status = %started.raw_status,
            correlation_id = %self.correlation_id,
            "enhanced attestation created"
        );
        Ok(started)
    }

    /// `GET {status_path}`: where the attestation stands.
    pub async fn attestation_state(
        &self,
        attestation_id: &str,
    ) -> Result<RemoteAttestation, ConnectorError> {
        check_attestation_id(attestation_id).map_err(|_| ConnectorError::Refused {
            code: INVALID_ATTESTATION_START.into(),
            detail: "the attestation id is not letters, digits, '-' and '_'".into(),
        })?;
        let path = self
            .settings()
            .status_path
            .replace(ATTESTATION_ID_PLACEHOLDER, attestation_id);
        let url = self.url_for(&path)?;
        let answer = self.execute(Call::get("attestation status", url)).await?;
        self.read_attestation("attestation status", &answer, Some(attestation_id))
    }

    /// `POST /customers/{id}/agreements` with the attestation id (and the agreement's usual
    /// fields). 600061 (the agreement exists) counts as done: the held one is read back.
    pub async fn create_attested_agreement(
        &self,
        agreement: &AttestedAgreement,
    ) -> Result<ProviderAgreement, ConnectorError> {
        check_attestation_id(&agreement.attestation_id)?;
        let attestation = crate::connectors::Attestation {
            customer_id: agreement.customer_id.clone(),
            template_id: agreement.template_id.clone(),
            agreement_type: CUSTOMER_AGREEMENT.into(),
            date_agreed: agreement.accepted_on.to_string(),
            primary_contact: agreement.signer.clone(),
        };
        let request = super::wire::AgreementRequest::from_attestation(&attestation)?;
        let requested = request.as_agreement();
        let mut body = serde_json::to_value(&request).map_err(|error| {
            ConnectorError::Malformed(format!("cannot encode the agreement: {error}"))
        })?;
        if let Value::Object(map) = &mut body {
            map.insert(
                self.settings().agreement_field.clone(),
                agreement.attestation_id.clone().into(),
            );
        }
        let body = serde_json::to_vec(&body).map_err(|error| {
            ConnectorError::Malformed(format!("cannot encode the agreement: {error}"))
        })?;
        let url = self.customer_url(&agreement.customer_id, &["agreements"])?;
        let answer = self
            .execute(Call {
                body: Some(&body),
                ..Call::new(Method::POST, "create attested agreement", url)
            })
            .await;
        match answer {
            Ok(body) => {
                let created: AgreementDto = parse_json("create attested agreement", &body)?;
                created.into_agreement(Some(&requested))
            }
            Err(ConnectorError::Refused { code, detail })
                if code == AGREEMENT_ALREADY_EXISTS
                    || detail.contains(AGREEMENT_ALREADY_EXISTS_NAME) =>
            {
                tracing::info!(
                    correlation_id = %self.correlation_id,
                    "the agreement exists already (600061); reading it back"
                );
                match self.read_agreements(&agreement.customer_id).await {
                    Ok(held) => Ok(pick_existing(held, &requested).unwrap_or(requested)),
                    Err(error) => {
                        tracing::warn!(%error, "cannot read back the existing agreement; answering with the requested one");
                        Ok(requested)
                    }
                }
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_are_the_public_evidence() {
        let s = EnhancedSettings::from_lookup(&lookup(&[])).expect("defaults");
        assert_eq!(s.create_path, "/v1/attestations/enhanced");
        assert_eq!(
            s.link_for("49a69a39-8244-4c51-9805-4f5aa3adac6b"),
            "https://cdn.partner.microsoft.com/mca/?attestationid=49a69a39-8244-4c51-9805-4f5aa3adac6b"
        );
        assert_eq!(s.state_of("LinkGenerated"), RemoteAttestationState::Pending);
        assert_eq!(s.state_of("Pending"), RemoteAttestationState::Pending);
        assert_eq!(s.state_of(""), RemoteAttestationState::Pending);
        assert_eq!(
            s.state_of("customer_accepted"),
            RemoteAttestationState::CustomerAccepted
        );
        assert_eq!(
            s.state_of("AgreementCreated"),
            RemoteAttestationState::AgreementCreated
        );
        assert_eq!(
            s.state_of("Link Expired"),
            RemoteAttestationState::LinkExpired
        );
        assert_eq!(s.link_lifetime, Duration::from_secs(10080 * 60));
        assert_eq!(s.expiry_field, None);
    }

    #[test]
    fn settings_are_read_and_checked() {
        let s = EnhancedSettings::from_lookup(&lookup(&[
            (
                "PARTNER_CENTER_ATTESTATION_STATUS_PATH",
                "/v2/attestations/{attestationId}",
            ),
            ("PARTNER_CENTER_ATTESTATION_EMAIL_FIELD", "email"),
            ("PARTNER_CENTER_ATTESTATION_ACCEPTED", "Valid, Signed"),
            ("PARTNER_CENTER_ATTESTATION_LINK_MINUTES", "60"),
            (
                "PARTNER_CENTER_ATTESTATION_EXPIRY_FIELD",
                "expirationInMinutes",
            ),
        ]))
        .expect("valid");
        assert_eq!(s.status_path, "/v2/attestations/{attestationId}");
        assert_eq!(s.email_field, "email");
        assert_eq!(
            s.state_of("signed"),
            RemoteAttestationState::CustomerAccepted
        );
        assert_eq!(s.link_lifetime, Duration::from_secs(3600));
        assert_eq!(s.expiry_field.as_deref(), Some("expirationInMinutes"));
        for bad in [
            lookup(&[("PARTNER_CENTER_ATTESTATION_STATUS_PATH", "/v1/attestations")]),
            lookup(&[("PARTNER_CENTER_ATTESTATION_PATH", "https://elsewhere/x")]),
            lookup(&[(
                "PARTNER_CENTER_ATTESTATION_LINK",
                "http://x/{attestationId}",
            )]),
            lookup(&[("PARTNER_CENTER_ATTESTATION_ID_FIELD", "a.b")]),
            lookup(&[("PARTNER_CENTER_ATTESTATION_LINK_MINUTES", "soon")]),
        ] {
            assert!(matches!(
                EnhancedSettings::from_lookup(&bad),
                Err(ConnectorError::Configuration(_))
            ));
        }
    }
}
