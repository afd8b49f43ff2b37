//! Agreements: an instance of a template for one customer account, and its life:
//! Pending → Accepted → Inactive (or Pending → Inactive). Records are kept, never deleted.

use serde::{Deserialize, Serialize};

use crate::error::{ServiceError, ServiceResult};
use crate::model::{validate, AgreementTemplate, Day, Id, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementStatus {
    Pending,
    Accepted,
    Inactive,
}

impl AgreementStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgreementStatus::Pending => "pending",
            AgreementStatus::Accepted => "accepted",
            AgreementStatus::Inactive => "inactive",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(AgreementStatus::Pending),
            "accepted" => Some(AgreementStatus::Accepted),
            "inactive" => Some(AgreementStatus::Inactive),
            _ => None,
        }
    }

    /// Open agreements count against the one-per-account-and-template rule.
    pub fn is_open(self) -> bool {
        !matches!(self, AgreementStatus::Inactive)
    }
}

/// How an agreement came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementSource {
    Manual,
    Provisioning,
    ProviderSync,
    Bulk,
    PartnerCenter,
}

/// Where Microsoft's enhanced attestation of an agreement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationStatus {
    /// Microsoft made the attestation; its link waits for the customer.
    LinkGenerated,
    /// Microsoft reports the customer's acceptance; the agreement is not created yet.
    CustomerAccepted,
    /// The agreement exists in Partner Center: done.
    AgreementCreated,
    /// The link expired before the customer accepted; the next start makes a new one.
    LinkExpired,
    /// Partner Center refused; `detail` says why.
    Failed,
}

impl AttestationStatus {
    /// Whether the attestation still waits on the customer or on the agreement's creation.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            AttestationStatus::LinkGenerated | AttestationStatus::CustomerAccepted
        )
    }
}

/// Microsoft's enhanced attestation of an agreement (Partner Center MCA agreements).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementAttestation {
    /// Partner Center's attestation id.
    pub attestation_id: String,
    pub status: AttestationStatus,
    /// Microsoft's page where the customer reviews and accepts the agreement.
    pub link: Option<String>,
    /// When the link stops working (as far as this deployment knows it).
    pub expires_at: Option<Instant>,
    pub updated_at: Instant,
    /// Partner Center's answer or refusal (`code`, `description`), when there is one.
    pub detail: Option<serde_json::Value>,
    /// The signatory named to Microsoft: a contact of the account.
    pub contact_id: Id,
    pub started_at: Instant,
    /// The number of the scheduled status check that is due next (the follow-up's pointer:
    /// a queue message of another number is a duplicate or stale).
    #[serde(default)]
    pub check: u64,
    /// When Partner Center was last asked.
    #[serde(default)]
    pub checked_at: Option<Instant>,
}

impl AgreementAttestation {
    /// Open, and its link not past its expiry: a customer starting again gets this one.
    pub fn is_live(&self, now: Instant) -> bool {
        self.status.is_open() && self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub id: Id,
    pub name: String,
    pub account_id: Id,
    pub template_id: Id,
    /// The template's document version when the agreement was made.
    pub document_version: String,
    pub provider_id: Id,
    pub status: AgreementStatus,
    pub executed_on: Option<Day>,
    pub signed_by: Option<Id>,
    pub signed_on: Option<Day>,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
    pub source: AgreementSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<String>,
    /// The bulk job that made it, and for which provider account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_job_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_account_id: Option<Id>,
    /// The day the customer declined it on the portal; it stays pending (staff decide what
    /// follows) and reminders stop. Cleared when the customer accepts after all.
    #[serde(default)]
    pub declined_on: Option<Day>,
    /// Microsoft's enhanced attestation, for agreements Partner Center must confirm.
    #[serde(default)]
    pub attestation: Option<AgreementAttestation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAgreement {
    pub template_id: String,
    pub account_id: String,
    #[serde(default)]
    pub executed_on: Option<Day>,
    #[serde(default)]
    pub name: Option<String>,
}

/// The filters of the agreement list; each is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgreementFilter {
    pub account_id: Option<Id>,
    pub template_id: Option<Id>,
    pub provider_id: Option<Id>,
    pub status: Option<AgreementStatus>,
    /// `Some(true)`: only declined ones; `Some(false)`: only those not declined.
    pub declined: Option<bool>,
    /// Only those signed on or after this day (exports).
    pub signed_from: Option<Day>,
    /// Only those signed on or before this day (exports).
    pub signed_to: Option<Day>,
}

impl Agreement {
    /// A pending agreement of `template` for `account_id`; the template must be active.
    pub fn pending(
        id: Id,
        template: &AgreementTemplate,
        account_id: Id,
        name: Option<&str>,
        executed_on: Option<Day>,
        source: AgreementSource,
        now: Instant,
    ) -> ServiceResult<Agreement> {
        if template.state != crate::model::TemplateState::Active {
            return Err(ServiceError::conflict(format!(
                "template {} is inactive; agreements can only be made from an active template",
                template.id
            )));
        }
        let name = match name {
            Some(n) => validate::text("name", n, 200)?,
            None => template.name.clone(),
        };
        Ok(Agreement {
            id,
            name,
            account_id,
            template_id: template.id.clone(),
            document_version: template.document_version.clone(),
            provider_id: template.provider_id.clone(),
            status: AgreementStatus::Pending,
            executed_on,
            signed_by: None,
            signed_on: None,
            created_at: now,
            updated_at: now,
            version: 1,
            source,
            inactive_reason: None,
            bulk_job_id: None,
            provider_account_id: None,
            declined_on: None,
            attestation: None,
        })
    }

    /// The customer declines a pending agreement: it stays pending, with the day.
    pub fn declined(&self, reason: Option<&str>, now: Instant) -> ServiceResult<Agreement> {
        if self.status != AgreementStatus::Pending {
            return Err(ServiceError::conflict(format!(
                "agreement {} is {}, only a pending agreement can be declined",
                self.id,
                self.status.as_str()
            )));
        }
        if self.declined_on.is_some() {
            return Err(ServiceError::conflict(format!(
                "agreement {} was declined already",
                self.id
            )));
        }
        validate::optional_text("reason", reason, 1000)?;
        let mut next = self.clone();
        next.declined_on = Some(now.day());
        next.updated_at = now;
        next.version += 1;
        Ok(next)
    }

    /// Whether reminders and link e-mails still go to its signing contact.
    pub fn awaits_signature(&self) -> bool {
        self.status == AgreementStatus::Pending && self.declined_on.is_none()
    }

    /// Deactivation keeps the record; deactivating twice is a conflict.
    pub fn deactivated(&self, reason: Option<String>, now: Instant) -> ServiceResult<Agreement> {
        if self.status == AgreementStatus::Inactive {
            return Err(ServiceError::conflict(format!(
                "agreement {} is already inactive",
                self.id
            )));
        }
        let mut next = self.clone();
        next.status = AgreementStatus::Inactive;
        next.inactive_reason = validate::optional_text("reason", reason.as_deref(), 1000)?;
        next.updated_at = now;
        next.version += 1;
        Ok(next)
    }

    /// Acceptance by a contact of the account; only a pending agreement can be accepted.
    pub fn accepted(
        &self,
        signed_by: Id,
        signed_on: Day,
        now: Instant,
    ) -> ServiceResult<Agreement> {
        if self.status != AgreementStatus::Pending {
            return Err(ServiceError::conflict(format!(
                "agreement {} is {}, only a pending agreement can be accepted",
                self.id,
                self.status.as_str()
            )));
        }
        let mut next = self.clone();
        next.status = AgreementStatus::Accepted;
        next.signed_by = Some(signed_by);
        next.signed_on = Some(signed_on);
        next.declined_on = None;
        next.updated_at = now;
        next.version += 1;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewTemplate, TemplateState};

    fn template(state: TemplateState) -> AgreementTemplate {
        let input: NewTemplate = serde_json::from_value(serde_json::json!({
            "name": "MCA", "template_id": "mca", "provider_id": "p",
            "document_version": "2024-01", "effective_date": "2024-01-01",
            "agreement_link": "https://example.com/mca"
        }))
        .expect("valid");
        let mut t = AgreementTemplate::create(input, Id::generate(), Instant::now()).expect("ok");
        t.state = state;
        t
    }

    fn pending() -> Agreement {
        Agreement::pending(
            Id::generate(),
            &template(TemplateState::Active),
            Id::generate(),
            None,
            None,
            AgreementSource::Manual,
            Instant::now(),
        )
        .expect("active template")
    }

    #[test]
    fn a_new_agreement_is_pending_and_takes_the_templates_provider_and_version() {
        let t = template(TemplateState::Active);
        let a = Agreement::pending(
            Id::generate(),
            &t,
            Id::generate(),
            None,
            Day::parse("2024-03-01"),
            AgreementSource::Manual,
            Instant::now(),
        )
        .expect("ok");
        assert_eq!(a.status, AgreementStatus::Pending);
        assert_eq!(a.provider_id, t.provider_id);
        assert_eq!(a.document_version, "2024-01");
        assert_eq!(a.name, "MCA");
        assert_eq!(a.version, 1);
    }

    #[test]
    fn an_inactive_template_makes_no_agreement() {
        let r = Agreement::pending(
            Id::generate(),
            &template(TemplateState::Inactive),
            Id::generate(),
            None,
            None,
            AgreementSource::Manual,
            Instant::now(),
        );
        assert!(matches!(r, Err(ServiceError::Conflict { .. })));
    }

    #[test]
    fn deactivation_keeps_the_record_and_happens_once() {
        let a = pending();
        let d = a
            .deactivated(Some("customer cancelled".into()), Instant::now())
            .expect("ok");
        assert_eq!(d.status, AgreementStatus::Inactive);
        assert_eq!(d.version, 2);
        assert_eq!(d.id, a.id);
        assert!(matches!(
            d.deactivated(None, Instant::now()),
            Err(ServiceError::Conflict { .. })
        ));
    }

    #[test]
    fn only_pending_agreements_are_accepted() {
        let a = pending();
        let contact = Id::generate();
        let day = Day::today();
        let acc = a
            .accepted(contact.clone(), day, Instant::now())
            .expect("ok");
        assert_eq!(acc.signed_by, Some(contact.clone()));
        assert_eq!(acc.signed_on, Some(day));
        assert!(acc.accepted(contact.clone(), day, Instant::now()).is_err());
        let inactive = a.deactivated(None, Instant::now()).expect("ok");
        assert!(inactive.accepted(contact, day, Instant::now()).is_err());
        assert!(acc.deactivated(None, Instant::now()).is_ok());
    }

    #[test]
    fn a_declined_agreement_stays_pending_until_accepted_after_all() {
        let a = pending();
        let d = a
            .declined(Some("not now"), Instant::now())
            .expect("pending");
        assert_eq!(d.status, AgreementStatus::Pending);
        assert_eq!(d.declined_on, Some(Day::today()));
        assert!(!d.awaits_signature());
        assert!(d.declined(None, Instant::now()).is_err());
        let long = "x".repeat(1001);
        assert!(a.declined(Some(&long), Instant::now()).is_err());
        let acc = d
            .accepted(Id::generate(), Day::today(), Instant::now())
            .expect("pending");
        assert_eq!(acc.declined_on, None);
        assert!(acc.declined(None, Instant::now()).is_err());
    }
}
