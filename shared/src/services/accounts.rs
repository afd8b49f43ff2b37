//! Accounts and their contacts.

use crate::error::{ServiceError, ServiceResult};
use crate::model::{Account, Contact, Instant, NewAccount, NewContact, Principal};
use crate::services::{known_id, not_found, PageRequest};
use crate::store::{keys, to_item, ListQuery, Page, Store, StoreError, WriteAction};

pub async fn create_account(
    store: &Store,
    caller: &Principal,
    input: NewAccount,
) -> ServiceResult<Account> {
    caller.require_staff()?;
    let account = Account::create(input, Instant::now())?;
    store.create(&account).await?;
    tracing::info!(account_id = %account.id, "account created");
    Ok(account)
}

pub async fn get_account(store: &Store, caller: &Principal, id: &str) -> ServiceResult<Account> {
    caller.require_staff()?;
    require_account(store, id).await
}

pub async fn list_accounts(
    store: &Store,
    caller: &Principal,
    page: &PageRequest,
) -> ServiceResult<Page<Account>> {
    caller.require_staff()?;
    let query = ListQuery::new(Some("GSI1"), keys::ALL_ACCOUNTS.into(), keys::ACCOUNT_PREFIX);
    store.list(&query, page.limit, page.cursor.as_deref()).await
}

/// Loads an account named by a caller; a missing one is a 404.
pub async fn require_account(store: &Store, id: &str) -> ServiceResult<Account> {
    let id = known_id(id, "account")?;
    let found: Option<Account> = store.get_entity(keys::account, &id).await?;
    found.ok_or_else(|| not_found("account", &id))
}

pub async fn create_contact(
    store: &Store,
    caller: &Principal,
    account_id: &str,
    input: NewContact,
) -> ServiceResult<Contact> {
    caller.require_staff()?;
    let account_id = known_id(account_id, "account")?;
    let contact = Contact::create(account_id.clone(), input, Instant::now())?;
    let account_keys = keys::Keys::new(keys::account(&account_id), keys::META);
    let written = store
        .transact(vec![
            WriteAction::Check(account_keys, None),
            WriteAction::Create(to_item(&contact)?),
        ])
        .await;
    match written {
        Ok(()) => Ok(contact),
        Err(StoreError::Cancelled(reasons)) if failed(&reasons, 0) => {
            Err(not_found("account", &account_id))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list_contacts(
    store: &Store,
    caller: &Principal,
    account_id: &str,
    page: &PageRequest,
) -> ServiceResult<Page<Contact>> {
    caller.require_staff()?;
    let account = require_account(store, account_id).await?;
    let query = ListQuery::new(None, keys::account(&account.id), keys::CONTACT_PREFIX);
    store.list(&query, page.limit, page.cursor.as_deref()).await
}

/// Whether the transaction action at `index` is the one whose condition failed.
pub(crate) fn failed(reasons: &[String], index: usize) -> bool {
    reasons.get(index).map(String::as_str) == Some("ConditionalCheckFailed")
}

/// Used where a contact must belong to the account that names it.
pub async fn find_contact(
    store: &Store,
    account_id: &crate::model::Id,
    contact_id: &crate::model::Id,
) -> ServiceResult<Option<Contact>> {
    store
        .get(&keys::account(account_id), &keys::contact_sk(contact_id))
        .await
        .map_err(ServiceError::from)
}
