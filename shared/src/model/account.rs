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
    /// ISO 3166-1 alpha-2 (`DE`): the country Microsoft's agreement is made for.
    #[serde(default)]
    pub country: Option<String>,
    /// BCP 47 (`de-DE`): the language of the agreement Microsoft shows.
    #[serde(default)]
    pub language: Option<String>,
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
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
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
            country: input
                .country
                .as_deref()
                .map(|c| validate::country("country", c))
                .transpose()?,
            language: input
                .language
                .as_deref()
                .map(|l| validate::language("language", l))
                .transpose()?,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}
