//! Billing contracts: the invoicing container agreements are tagged on (many to many).

use serde::{Deserialize, Serialize};

use crate::error::ServiceResult;
use crate::model::{validate, Day, Id, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingContract {
    pub id: Id,
    pub account_id: Id,
    pub name: String,
    pub start_date: Day,
    pub end_date: Option<Day>,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBillingContract {
    pub account_id: String,
    pub name: String,
    pub start_date: Day,
    #[serde(default)]
    pub end_date: Option<Day>,
}

/// The tag of one agreement on one contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractTag {
    pub contract_id: Id,
    pub agreement_id: Id,
    pub tagged_at: Instant,
    pub tagged_by: String,
}

impl BillingContract {
    pub fn create(account_id: Id, input: &NewBillingContract, now: Instant) -> ServiceResult<Self> {
        if let Some(end) = input.end_date {
            if end < input.start_date {
                return Err(validate::invalid(
                    "end_date",
                    "must not be before start_date",
                ));
            }
        }
        Ok(BillingContract {
            id: Id::generate(),
            account_id,
            name: validate::text("name", &input.name, 200)?,
            start_date: input.start_date,
            end_date: input.end_date,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}
