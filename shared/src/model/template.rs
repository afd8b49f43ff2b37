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
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
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
