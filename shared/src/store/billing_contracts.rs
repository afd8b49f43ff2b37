//! Billing contracts and their tags: access patterns 26–28 of docs/data-model.md.

use super::list::ListQuery;
use super::{keys, Page, PageSpec, Record, Store, StoreError};
use crate::model::{BillingContract, ContractTag, Id};

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

    /// Pattern 29: an account's billing contracts, a page at a time, oldest first (ids are
    /// ULIDs).
    pub async fn contracts_of_account(
        &self,
        account: &Id,
        page: PageSpec<'_>,
    ) -> Result<Page<BillingContract>, StoreError> {
        let query = ListQuery::index(Some("GSI1"), keys::account(account), keys::CONTRACT_PREFIX);
        self.list(&query, page).await
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
