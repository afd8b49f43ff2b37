//! Accounts and their contacts.

use crate::error::ServiceResult;
use crate::model::{
    Account, AccountPatch, Contact, ContactPatch, Instant, NewAccount, NewContact, Principal,
};
use crate::services::{change_versioned, known_id, not_found, PageRequest};
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

/// PATCH /accounts/{id}: the patch applied under the stored version (If-Match: 412 when it
/// moved). The account's item is replaced whole, so its e-mail domain index entry follows.
pub async fn update_account(
    store: &Store,
    caller: &Principal,
    id: &str,
    patch: AccountPatch,
    if_match: Option<u64>,
) -> ServiceResult<Account> {
    caller.require_staff()?;
    let id = known_id(id, "account")?;
    change_versioned(
        "account",
        if_match,
        || require_account(store, id.as_str()),
        |a| a.patched(patch.clone(), Instant::now()),
        |current, next| async move {
            store.replace(&next, current.version).await?;
            Ok(next)
        },
    )
    .await
}

/// PATCH /accounts/{id}/contacts/{contact_id}: the patch applied under the stored version. A
/// contact of another account (or none) is a 404. Marking the contact primary unmarks the
/// previous primary in the same transaction (`Store::set_primary_contact`).
pub async fn update_contact(
    store: &Store,
    caller: &Principal,
    account_id: &str,
    contact_id: &str,
    patch: ContactPatch,
    if_match: Option<u64>,
) -> ServiceResult<Contact> {
    caller.require_staff()?;
    let account = known_id(account_id, "account")?;
    let contact = known_id(contact_id, "contact")?;
    let load = || async {
        store
            .contact(&account, &contact)
            .await?
            .ok_or_else(|| not_found("contact", &contact))
    };
    change_versioned(
        "contact",
        if_match,
        load,
        |c| c.patched(patch.clone(), Instant::now()),
        |current, next| async move {
            if next.primary && !current.primary {
                let previous = store.primary_contact_mark(&next.account_id).await?;
                store
                    .set_primary_contact(&next, current.version, previous.as_ref())
                    .await?;
            } else if !next.primary && current.primary {
                store.unset_primary_contact(&next, current.version).await?;
            } else {
                store.replace(&next, current.version).await?;
            }
            Ok(next)
        },
    )
    .await
}
