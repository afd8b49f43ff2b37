//! Partner Center's JSON shapes: collections and their next-page links, customers, agreements
//! (in both type spellings), the direct-signed status and the attestation request.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::errors::INVALID_ATTESTATION;
use crate::connectors::{
    AgreementContact, Attestation, ConnectorError, ProviderAgreement, ProviderCustomer,
};

#[derive(Debug, Deserialize)]
pub(super) struct Collection<T> {
    pub(super) items: Vec<T>,
    #[serde(default)]
    pub(super) links: Option<Links>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Links {
    #[serde(default)]
    pub(super) next: Option<Link>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Link {
    #[serde(default)]
    pub(super) uri: Option<String>,
    /// `[{"key": "MS-ContinuationToken", "value": "..."}]` (an object map is accepted too).
    #[serde(default)]
    headers: Option<Value>,
}

impl Link {
    pub(super) fn continuation_token(&self) -> Option<String> {
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
pub(super) struct CustomerDto {
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
    pub(super) fn into_customer(self) -> Result<ProviderCustomer, ConnectorError> {
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
pub(super) struct AgreementDto {
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
    pub(super) fn into_agreement(
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
pub(super) struct DirectSignedDto {
    #[serde(default)]
    pub(super) is_signed: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgreementRequest {
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
    pub(super) fn from_attestation(attestation: &Attestation) -> Result<Self, ConnectorError> {
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

    pub(super) fn as_agreement(&self) -> ProviderAgreement {
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
