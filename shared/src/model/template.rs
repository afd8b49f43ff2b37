//! Agreement templates: one per agreement type and version of a provider; Active or Inactive.

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ServiceResult;
use crate::model::{validate, Day, Id, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateState {
    Active,
    Inactive,
}

impl TemplateState {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateState::Active => "active",
            TemplateState::Inactive => "inactive",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(TemplateState::Active),
            "inactive" => Some(TemplateState::Inactive),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementTemplate {
    pub id: Id,
    pub name: String,
    /// The provider's own id of the agreement type, e.g. Partner Center's templateId.
    pub template_id: String,
    pub provider_id: Id,
    pub document_version: String,
    pub effective_date: Day,
    pub expires_on: Option<Day>,
    pub agreement_link: String,
    /// true: the portal shows the link in an iframe; false: as a link opening a new tab.
    pub display_inline: bool,
    pub portal_instructions: Option<String>,
    pub state: TemplateState,
    /// What changed in the current `document_version`, as its publisher wrote it (none for a
    /// template's first version).
    #[serde(default)]
    pub change_summary: Option<String>,
    /// When the daily schedule found it past `expires_on`, deactivated it and ended its pending
    /// agreements (cleared when `expires_on` changes).
    #[serde(default)]
    pub expired_at: Option<Instant>,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
}

/// A template as staff see it: the record, and whether it is past its `expires_on`.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateView<'a> {
    #[serde(flatten)]
    pub template: &'a AgreementTemplate,
    pub expired: bool,
}

impl<'a> From<&'a AgreementTemplate> for TemplateView<'a> {
    fn from(template: &'a AgreementTemplate) -> Self {
        TemplateView {
            template,
            expired: template.is_expired(Instant::now().day()),
        }
    }
}

/// One published document version of a template; kept as it was published, never rewritten.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateVersion {
    /// The version record's own id (a ULID: versions sort by their publication).
    pub id: Id,
    pub template_id: Id,
    pub document_version: String,
    pub agreement_link: String,
    pub effective_date: Day,
    pub change_summary: Option<String>,
    /// Whether customers who accepted an earlier version must accept this one.
    pub requires_reacceptance: bool,
    /// The job that flags the accepted agreements, when re-acceptance is required.
    pub job_id: Option<Id>,
    pub published_by: String,
    pub published_at: Instant,
}

/// `POST /agreement-templates/{id}/versions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTemplateVersion {
    pub document_version: String,
    pub agreement_link: String,
    pub effective_date: Day,
    #[serde(default)]
    pub change_summary: Option<String>,
    #[serde(default)]
    pub requires_reacceptance: bool,
    /// With `requires_reacceptance`: e-mail each flagged agreement's signer a portal link.
    #[serde(default)]
    pub notify: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    pub name: String,
    pub template_id: String,
    pub provider_id: String,
    pub document_version: String,
    pub effective_date: Day,
    #[serde(default)]
    pub expires_on: Option<Day>,
    pub agreement_link: String,
    #[serde(default)]
    pub display_inline: bool,
    #[serde(default)]
    pub portal_instructions: Option<String>,
}

/// The writable fields of a template; an absent field is left as it is, `null` clears an optional one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatePatch {
    pub name: Option<String>,
    pub template_id: Option<String>,
    pub document_version: Option<String>,
    pub effective_date: Option<Day>,
    #[serde(default, deserialize_with = "present")]
    pub expires_on: Option<Option<Day>>,
    pub agreement_link: Option<String>,
    pub display_inline: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub portal_instructions: Option<Option<String>>,
}

/// Tells a field sent as `null` (Some(None)) from one not sent at all (None).
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl AgreementTemplate {
    pub fn create(input: NewTemplate, provider_id: Id, now: Instant) -> ServiceResult<Self> {
        let template = AgreementTemplate {
            id: Id::generate(),
            name: validate::text("name", &input.name, 200)?,
            template_id: validate::text("template_id", &input.template_id, 200)?,
            provider_id,
            document_version: validate::text("document_version", &input.document_version, 50)?,
            effective_date: input.effective_date,
            expires_on: input.expires_on,
            agreement_link: validate::url("agreement_link", &input.agreement_link)?,
            display_inline: input.display_inline,
            portal_instructions: validate::optional_text(
                "portal_instructions",
                input.portal_instructions.as_deref(),
                4000,
            )?,
            state: TemplateState::Active,
            change_summary: None,
            expired_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        template.check_dates()?;
        Ok(template)
    }

    /// The template as it would be after the patch; the caller stores it under a version check.
    pub fn patched(&self, patch: TemplatePatch, now: Instant) -> ServiceResult<Self> {
        let mut next = self.clone();
        if let Some(v) = patch.name {
            next.name = validate::text("name", &v, 200)?;
        }
        if let Some(v) = patch.template_id {
            next.template_id = validate::text("template_id", &v, 200)?;
        }
        if let Some(v) = patch.document_version {
            next.document_version = validate::text("document_version", &v, 50)?;
        }
        if let Some(v) = patch.effective_date {
            next.effective_date = v;
        }
        if let Some(v) = patch.expires_on {
            if v != next.expires_on {
                next.expired_at = None;
            }
            next.expires_on = v;
        }
        if let Some(v) = patch.agreement_link {
            next.agreement_link = validate::url("agreement_link", &v)?;
        }
        if let Some(v) = patch.display_inline {
            next.display_inline = v;
        }
        if let Some(v) = patch.portal_instructions {
            next.portal_instructions =
                validate::optional_text("portal_instructions", v.as_deref(), 4000)?;
        }
        next.check_dates()?;
        next.updated_at = now;
        next.version = self.version + 1;
        Ok(next)
    }

    /// Past its `expires_on` (the template is good through that day, UTC).
    pub fn is_expired(&self, today: Day) -> bool {
        self.expires_on.is_some_and(|e| e < today)
    }

    /// Whether agreements may be made from it: active and not expired.
    pub fn is_open(&self, today: Day) -> bool {
        self.state == TemplateState::Active && !self.is_expired(today)
    }

    /// Why no agreement may be made from it, if none may.
    pub fn closed_reason(&self, today: Day) -> Option<String> {
        if self.state != TemplateState::Active {
            return Some(format!("agreement template {} is inactive", self.id));
        }
        self.expires_on.filter(|e| *e < today).map(|e| {
            format!(
                "agreement template {} expired on {e}; it makes no new agreements",
                self.id
            )
        })
    }

    /// The template on a newly published document version, and the version's record.
    pub fn published(
        &self,
        input: NewTemplateVersion,
        published_by: &str,
        job_id: Option<Id>,
        now: Instant,
    ) -> ServiceResult<(AgreementTemplate, TemplateVersion)> {
        let document_version = validate::text("document_version", &input.document_version, 50)?;
        if input.notify && !input.requires_reacceptance {
            return Err(validate::invalid(
                "notify",
                "e-mails go only with requires_reacceptance",
            ));
        }
        if document_version == self.document_version {
            return Err(crate::error::ServiceError::conflict(format!(
                "agreement template {} is already on document version {document_version}",
                self.id
            )));
        }
        let version = TemplateVersion {
            id: Id::generate(),
            template_id: self.id.clone(),
            document_version,
            agreement_link: validate::url("agreement_link", &input.agreement_link)?,
            effective_date: input.effective_date,
            change_summary: validate::optional_text(
                "change_summary",
                input.change_summary.as_deref(),
                4000,
            )?,
            requires_reacceptance: input.requires_reacceptance,
            job_id,
            published_by: published_by.to_string(),
            published_at: now,
        };
        let mut next = self.clone();
        next.document_version = version.document_version.clone();
        next.agreement_link = version.agreement_link.clone();
        next.effective_date = version.effective_date;
        next.change_summary = version.change_summary.clone();
        next.check_dates()?;
        next.updated_at = now;
        next.version = self.version + 1;
        Ok((next, version))
    }

    /// Past its `expires_on` and not yet ended by the schedule: what the schedule does to it
    /// (inactive, `expired_at`); None when there is nothing to do.
    pub fn ended_by_expiry(&self, today: Day, now: Instant) -> Option<AgreementTemplate> {
        if !self.is_expired(today) || self.expired_at.is_some() {
            return None;
        }
        let mut next = self.clone();
        next.state = TemplateState::Inactive;
        next.expired_at = Some(now);
        next.updated_at = now;
        next.version = self.version + 1;
        Some(next)
    }

    /// The record of the version a template was created on.
    pub fn first_version(&self) -> TemplateVersion {
        TemplateVersion {
            id: Id::generate(),
            template_id: self.id.clone(),
            document_version: self.document_version.clone(),
            agreement_link: self.agreement_link.clone(),
            effective_date: self.effective_date,
            change_summary: None,
            requires_reacceptance: false,
            job_id: None,
            published_by: "system:template-created".into(),
            published_at: self.created_at,
        }
    }

    fn check_dates(&self) -> ServiceResult<()> {
        match self.expires_on {
            Some(expires) if expires < self.effective_date => Err(validate::invalid(
                "expires_on",
                "must not be before effective_date",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_template() -> NewTemplate {
        serde_json::from_value(serde_json::json!({
            "name": "Microsoft Customer Agreement",
            "template_id": "117a69e4-4a61-4f32-a2b1-4a9a9f5f6c44",
            "provider_id": "ignored-here",
            "document_version": "2024-01",
            "effective_date": "2024-01-01",
            "agreement_link": "https://example.com/mca.pdf",
            "display_inline": true
        }))
        .expect("valid input")
    }

    #[test]
    fn a_new_template_is_active_at_version_one() {
        let t = AgreementTemplate::create(new_template(), Id::generate(), Instant::now())
            .expect("valid");
        assert_eq!(t.state, TemplateState::Active);
        assert_eq!(t.version, 1);
    }

    #[test]
    fn expiry_before_effect_is_refused() {
        let mut input = new_template();
        input.expires_on = Day::parse("2023-12-31");
        assert!(AgreementTemplate::create(input, Id::generate(), Instant::now()).is_err());
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let mut input = new_template();
        input.portal_instructions = Some("Read first".into());
        let t = AgreementTemplate::create(input, Id::generate(), Instant::now()).expect("valid");
        let keep: TemplatePatch =
            serde_json::from_value(serde_json::json!({"name": "MCA"})).expect("patch");
        let kept = t.patched(keep, Instant::now()).expect("valid");
        assert_eq!(kept.portal_instructions.as_deref(), Some("Read first"));
        assert_eq!(kept.version, 2);
        let clear: TemplatePatch =
            serde_json::from_value(serde_json::json!({"portal_instructions": null}))
                .expect("patch");
        assert_eq!(
            t.patched(clear, Instant::now())
                .expect("valid")
                .portal_instructions,
            None
        );
    }

    #[test]
    fn patch_refuses_unknown_and_readonly_fields() {
        for body in [
            serde_json::json!({"provider_id": "x"}),
            serde_json::json!({"state": "inactive"}),
        ] {
            assert!(serde_json::from_value::<TemplatePatch>(body).is_err());
        }
    }
}
