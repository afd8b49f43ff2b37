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

impl Contact {
    pub fn create(account_id: Id, input: NewContact, now: Instant) -> ServiceResult<Contact> {
        Ok(Contact {
            id: Id::generate(),
            account_id,
            first_name: validate::text("first_name", &input.first_name, 100)?,
            last_name: validate::text("last_name", &input.last_name, 100)?,
            email: validate::email("email", &input.email)?,
            phone: validate::optional_text("phone", input.phone.as_deref(), 40)?,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// The primary contact among an account's contacts (oldest first): today its first.
    pub fn primary_of(contacts: &[Contact]) -> Option<&Contact> {
        contacts.first()
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}
