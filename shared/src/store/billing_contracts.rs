//! Billing contracts and their tags: access patterns 26–28 of docs/data-model.md.

use super::{keys, Record, Store, StoreError};
use crate::model::{ContractTag, Id};

/// A contract carries at most this many agreements in its answer.
const MAX_TAGS: usize = 1000;

impl Store {
    /// Pattern 26: removes a tag; true when there was one.
    pub async fn untag(&self, contract: &Id, agreement: &Id) -> Result<bool, StoreError> {
        let keys = ContractTag {
            contract_id: contract.clone(),
            agreement_id: agreement.clone(),
            tagged_at: crate::model::Instant::now(),
            tagged_by: String::new(),
        }
        .keys();
        self.delete(&keys.pk, &keys.sk).await
    }

    /// Pattern 27: the agreements tagged on a contract.
    pub async fn tags_of_contract(&self, contract: &Id) -> Result<Vec<ContractTag>, StoreError> {
        self.collection(
            None,
            &keys::contract(contract),
            keys::AGREEMENT_PREFIX,
            MAX_TAGS,
        )
        .await
    }

    /// Pattern 28: the contracts an agreement is tagged on.
    pub async fn tags_of_agreement(&self, agreement: &Id) -> Result<Vec<ContractTag>, StoreError> {
        self.collection(
            Some("GSI1"),
            &keys::agreement(agreement),
            keys::CONTRACT_PREFIX,
            MAX_TAGS,
        )
        .await
    }
}
