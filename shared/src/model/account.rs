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

/// PATCH /accounts/{id}: the fields sent change, the others stay; `null` clears an optional
/// one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::model::template::present")]
    pub email_domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::model::template::present")]
    pub country: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::model::template::present")]
    pub language: Option<Option<String>>,
}

fn email_domain(raw: Option<&str>) -> ServiceResult<Option<String>> {
    match raw.map(str::trim) {
        Some(d) if !d.is_empty() => Ok(Some(validate::domain("email_domain", d)?)),
        _ => Ok(None),
    }
}

impl Account {
    /// The account as it would be after the patch; the caller stores it under a version check.
    pub fn patched(&self, patch: AccountPatch, now: Instant) -> ServiceResult<Account> {
        let mut next = self.clone();
        if let Some(v) = patch.name {
            next.name = validate::text("name", &v, 200)?;
        }
        if let Some(v) = patch.email_domain {
            next.email_domain = email_domain(v.as_deref())?;
        }
        if let Some(v) = patch.country {
            next.country = v
                .as_deref()
                .map(|c| validate::country("country", c))
                .transpose()?;
        }
        if let Some(v) = patch.language {
            next.language = v
                .as_deref()
                .map(|l| validate::language("language", l))
                .transpose()?;
        }
        next.updated_at = now;
        next.version = self.version + 1;
        Ok(next)
    }

    pub fn create(input: NewAccount, now: Instant) -> ServiceResult<Account> {
        let email_domain = email_domain(input.email_domain.as_deref())?;
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
