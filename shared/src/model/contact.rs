//! Contacts: the people of a customer account who may sign agreements.

use serde::{Deserialize, Serialize};

use crate::error::ServiceResult;
use crate::model::{validate, Id, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: Id,
    pub account_id: Id,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    /// The account's primary contact (at most one per account; when none is marked, the
    /// account's first contact is its primary).
    #[serde(default)]
    pub primary: bool,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
}

/// PATCH /accounts/{id}/contacts/{contact_id}: the fields sent change, the others stay.
/// `primary: true` makes the contact its account's primary (the previous one is unmarked in the
/// same write); `primary: false` on the primary leaves the account with none marked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "crate::model::template::present")]
    pub phone: Option<Option<String>>,
    pub primary: Option<bool>,
}

impl Contact {
    /// The contact as it would be after the patch; the caller stores it under a version check.
    pub fn patched(&self, patch: ContactPatch, now: Instant) -> ServiceResult<Contact> {
        let mut next = self.clone();
        if let Some(v) = patch.first_name {
            next.first_name = validate::text("first_name", &v, 100)?;
        }
        if let Some(v) = patch.last_name {
            next.last_name = validate::text("last_name", &v, 100)?;
        }
        if let Some(v) = patch.email {
            next.email = validate::email("email", &v)?;
        }
        if let Some(v) = patch.phone {
            next.phone = validate::optional_text("phone", v.as_deref(), 40)?;
        }
        if let Some(v) = patch.primary {
            next.primary = v;
        }
        next.updated_at = now;
        next.version = self.version + 1;
        Ok(next)
    }

    pub fn create(account_id: Id, input: NewContact, now: Instant) -> ServiceResult<Contact> {
        Ok(Contact {
            id: Id::generate(),
            account_id,
            first_name: validate::text("first_name", &input.first_name, 100)?,
            last_name: validate::text("last_name", &input.last_name, 100)?,
            email: validate::email("email", &input.email)?,
            phone: validate::optional_text("phone", input.phone.as_deref(), 40)?,
            primary: false,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// The primary contact among an account's contacts (oldest first): the one marked
    /// primary, else the first. (Marking one unmarks the previous in the same transaction.)
    pub fn primary_of(contacts: &[Contact]) -> Option<&Contact> {
        contacts
            .iter()
            .find(|c| c.primary)
            .or_else(|| contacts.first())
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact() -> Contact {
        Contact::create(
            Id::generate(),
            NewContact {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                email: "ada@contoso.com".into(),
                phone: Some("1".into()),
            },
            Instant::now(),
        )
        .expect("valid")
    }

    #[test]
    fn a_patch_changes_what_it_names_and_moves_the_version() {
        let c = contact();
        let patch: ContactPatch =
            serde_json::from_value(serde_json::json!({"phone": null, "primary": true}))
                .expect("patch");
        let next = c.patched(patch, Instant::now()).expect("valid");
        assert_eq!(
            (next.phone.as_deref(), next.primary, next.version),
            (None, true, 2)
        );
        assert_eq!(next.first_name, "Ada");
        for body in [
            serde_json::json!({"account_id": "x"}),
            serde_json::json!({"version": 3}),
        ] {
            assert!(serde_json::from_value::<ContactPatch>(body).is_err());
        }
        let bad: ContactPatch =
            serde_json::from_value(serde_json::json!({"email": "nope"})).expect("patch");
        assert!(c.patched(bad, Instant::now()).is_err());
    }

    #[test]
    fn contacts_stored_before_primary_existed_are_not_primary() {
        let mut json = serde_json::to_value(contact()).expect("serialises");
        json.as_object_mut().map(|o| o.remove("primary"));
        let back: Contact = serde_json::from_value(json).expect("reads");
        assert!(!back.primary);
    }
}
