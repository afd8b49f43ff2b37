//! Providers, accounts and contacts: access patterns 3–8 and 21 of docs/data-model.md.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::{conditional, from_item, key_map, s, sdk_error};
use super::list::ListQuery;
use super::{keys, Page, PageSpec, Store, StoreError};
use crate::model::{Account, Contact, Id, Provider};

/// A partner has few providers; the schedule reads them all.
const MAX_PROVIDERS: usize = 10_000;
/// An account has few contacts; matching a provider's signer by e-mail reads them all.
const MAX_CONTACTS: usize = 1000;

impl Store {
    /// Pattern 3: the providers, a page at a time.
    pub async fn providers(&self, page: PageSpec<'_>) -> Result<Page<Provider>, StoreError> {
        let query = ListQuery::index(
            Some("GSI1"),
            keys::ALL_PROVIDERS.into(),
            keys::PROVIDER_PREFIX,
        );
        self.list(&query, page).await
    }

    /// Pattern 3, whole: every provider (the scheduled sync).
    pub async fn all_providers(&self) -> Result<Vec<Provider>, StoreError> {
        self.collection(
            Some("GSI1"),
            keys::ALL_PROVIDERS,
            keys::PROVIDER_PREFIX,
            MAX_PROVIDERS,
        )
        .await
    }

    /// Pattern 21: adds `n` to a provider's running count of provider accounts.
    pub async fn add_provider_accounts(&self, provider: &Id, n: u64) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::provider(provider), keys::META)))
            .update_expression("ADD provider_account_count :n")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":n", AttributeValue::N(n.to_string()))
            .send()
            .await;
        conditional(result)
    }

    /// Pattern 4: the accounts, a page at a time.
    pub async fn accounts(&self, page: PageSpec<'_>) -> Result<Page<Account>, StoreError> {
        let query = ListQuery::index(
            Some("GSI1"),
            keys::ALL_ACCOUNTS.into(),
            keys::ACCOUNT_PREFIX,
        );
        self.list(&query, page).await
    }

    /// Pattern 5: the ids of the accounts whose e-mail domain is `domain`, at most `max` (two
    /// are enough to tell one from several).
    pub async fn accounts_by_domain(&self, domain: &str, max: i32) -> Result<Vec<Id>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :pk AND begins_with(GSI2SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::domain(domain)))
            .expression_attribute_values(":prefix", s(keys::ACCOUNT_PREFIX))
            .limit(max)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| {
                item.get("id")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|v| Id::parse(v))
            })
            .collect())
    }

    /// Pattern 7: an account's contacts, a page at a time, oldest first.
    pub async fn contacts(
        &self,
        account: &Id,
        page: PageSpec<'_>,
    ) -> Result<Page<Contact>, StoreError> {
        let query = ListQuery::table(keys::account(account), keys::CONTACT_PREFIX);
        self.list(&query, page).await
    }

    /// Pattern 7, whole: every contact of an account, oldest first.
    pub async fn all_contacts(&self, account: &Id) -> Result<Vec<Contact>, StoreError> {
        self.collection(
            None,
            &keys::account(account),
            keys::CONTACT_PREFIX,
            MAX_CONTACTS,
        )
        .await
    }

    /// Pattern 7: the account's primary contact ([`Contact::primary_of`] its contacts).
    pub async fn primary_contact(&self, account: &Id) -> Result<Option<Contact>, StoreError> {
        let contacts = self.all_contacts(account).await?;
        Ok(Contact::primary_of(&contacts).cloned())
    }

    /// Patterns 4 and 7 in one read: an account and its contacts (oldest first), the items of
    /// its partition. An e-mail needs both.
    pub async fn account_with_contacts(
        &self,
        account: &Id,
    ) -> Result<(Option<Account>, Vec<Contact>), StoreError> {
        let items = self
            .collection_items(None, &keys::account(account), "", MAX_CONTACTS + 1)
            .await?;
        let mut found = None;
        let mut contacts = Vec::new();
        for item in items {
            let sk = item.get("SK").and_then(|v| v.as_s().ok()).cloned();
            match sk.as_deref() {
                Some(keys::META) => found = Some(from_item(item)?),
                Some(sk) if sk.starts_with(keys::CONTACT_PREFIX) => contacts.push(from_item(item)?),
                _ => {}
            }
        }
        Ok((found, contacts))
    }

    /// Pattern 8: a contact, if it is one of this account's.
    pub async fn contact(&self, account: &Id, contact: &Id) -> Result<Option<Contact>, StoreError> {
        self.get(&keys::account(account), &keys::contact_sk(contact))
            .await
    }
}
