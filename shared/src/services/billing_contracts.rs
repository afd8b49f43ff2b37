//! Billing contracts and the agreements tagged on them.

use serde::Serialize;

use crate::error::{ServiceError, ServiceResult};
use crate::model::{BillingContract, ContractTag, Id, Instant, NewBillingContract, Principal};
use crate::services::accounts::require_account;
use crate::services::agreements::require_agreement;
use crate::services::{filter_id, known_id, not_found, PageRequest};
use crate::store::{Page, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct ContractView {
    #[serde(flatten)]
    pub contract: BillingContract,
    pub agreement_ids: Vec<Id>,
}

pub async fn create_contract(
    store: &Store,
    caller: &Principal,
    input: NewBillingContract,
) -> ServiceResult<BillingContract> {
    caller.require_staff()?;
    let account = require_account(store, &input.account_id).await?;
    let contract = BillingContract::create(account.id, &input, Instant::now())?;
    store.create(&contract).await?;
    Ok(contract)
}

async fn require_contract(store: &Store, id: &str) -> ServiceResult<BillingContract> {
    let id = known_id(id, "billing contract")?;
    let found: Option<BillingContract> = store.by_id(&id).await?;
    found.ok_or_else(|| not_found("billing contract", &id))
}

pub async fn get_contract(
    store: &Store,
    caller: &Principal,
    id: &str,
) -> ServiceResult<ContractView> {
    caller.require_staff()?;
    let contract = require_contract(store, id).await?;
    let tags = store.tags_of_contract(&contract.id).await?;
    Ok(ContractView {
        contract,
        agreement_ids: tags.into_iter().map(|t| t.agreement_id).collect(),
    })
}

/// Tags an agreement of the contract's account; tagging twice is the same as once.
pub async fn tag_agreement(
    store: &Store,
    caller: &Principal,
    contract_id: &str,
    agreement_id: &str,
) -> ServiceResult<ContractView> {
    caller.require_staff()?;
    let contract = require_contract(store, contract_id).await?;
    let agreement = require_agreement(store, agreement_id).await?;
    if agreement.account_id != contract.account_id {
        return Err(ServiceError::conflict(format!(
            "agreement {} is of account {}, the contract of account {}",
            agreement.id, agreement.account_id, contract.account_id
        )));
    }
    let tag = ContractTag {
        contract_id: contract.id.clone(),
        agreement_id: agreement.id,
        tagged_at: Instant::now(),
        tagged_by: caller.subject().to_string(),
    };
    match store.create(&tag).await {
        Ok(()) | Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e.into()),
    }
    get_contract(store, caller, contract.id.as_str()).await
}

/// Removes a tag; the agreement stays as it is.
pub async fn untag_agreement(
    store: &Store,
    caller: &Principal,
    contract_id: &str,
    agreement_id: &str,
) -> ServiceResult<()> {
    caller.require_staff()?;
    let contract = require_contract(store, contract_id).await?;
    let agreement_id = known_id(agreement_id, "agreement")?;
    if store.untag(&contract.id, &agreement_id).await? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(format!(
            "agreement {agreement_id} is not tagged on this contract"
        )))
    }
}

/// The contracts an agreement is tagged on.
pub async fn contracts_of(store: &Store, agreement_id: &Id) -> ServiceResult<Vec<Id>> {
    let tags = store.tags_of_agreement(agreement_id).await?;
    Ok(tags.into_iter().map(|t| t.contract_id).collect())
}

/// GET /billing-contracts?account_id=…: an account's contracts, oldest first. The list is per
/// account (there is no collection of every contract): without `account_id` it is a 400, and
/// an account that does not exist is a 404.
pub async fn list_contracts(
    store: &Store,
    caller: &Principal,
    account_id: Option<&str>,
    page: &PageRequest,
) -> ServiceResult<Page<BillingContract>> {
    caller.require_staff()?;
    let Some(account) = filter_id(account_id, "account_id")? else {
        return Err(ServiceError::Validation(
            "`account_id` is required: billing contracts are listed per account".into(),
        ));
    };
    let account = require_account(store, account.as_str()).await?;
    Ok(store.contracts_of_account(&account.id, page.spec()).await?)
}
