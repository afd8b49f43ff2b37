//! Accounts and their contacts.

use crate::error::ServiceResult;
use crate::model::{Account, Contact, Instant, NewAccount, NewContact, Principal};
use crate::services::{known_id, not_found, PageRequest};
use crate::store::{Page, Store};

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
    Ok(store.accounts(page.spec()).await?)
}

/// Loads an account named by a caller; a missing one is a 404.
pub async fn require_account(store: &Store, id: &str) -> ServiceResult<Account> {
    let id = known_id(id, "account")?;
    let found: Option<Account> = store.by_id(&id).await?;
    found.ok_or_else(|| not_found("account", &id))
}

pub async fn create_contact(
    store: &Store,
    caller: &Principal,
    account_id: &str,
    input: NewContact,
) -> ServiceResult<Contact> {
    caller.require_staff()?;
    // Accounts are never deleted, so one that exists now still exists when the contact lands.
    let account = require_account(store, account_id).await?;
    let contact = Contact::create(account.id, input, Instant::now())?;
    store.create(&contact).await?;
    Ok(contact)
}

pub async fn list_contacts(
    store: &Store,
    caller: &Principal,
    account_id: &str,
    page: &PageRequest,
) -> ServiceResult<Page<Contact>> {
    caller.require_staff()?;
    let account = require_account(store, account_id).await?;
    Ok(store.contacts(&account.id, page.spec()).await?)
}

/// Used where a contact must belong to the account that names it.
pub async fn find_contact(
    store: &Store,
    account_id: &crate::model::Id,
    contact_id: &crate::model::Id,
) -> ServiceResult<Option<Contact>> {
    Ok(store.contact(account_id, contact_id).await?)
}
