//! Customer accounts, and contacts' parent.

use serde::{Deserialize, Serialize};

use crate::error::ServiceResult;
use crate::model::{validate, Id, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: Id,
    pub name: String,
    /// The customer's e-mail domain; provider accounts without an account id match on it.
    pub email_domain: Option<String>,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub name: String,
    #[serde(default)]
    pub email_domain: Option<String>,
}

impl Account {
    pub fn create(input: NewAccount, now: Instant) -> ServiceResult<Account> {
        let email_domain = match input.email_domain.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => Some(validate::domain("email_domain", d)?),
            _ => None,
        };
        Ok(Account {
            id: Id::generate(),
            name: validate::text("name", &input.name, 200)?,
            email_domain,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}
