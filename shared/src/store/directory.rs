//! Providers, accounts and contacts: access patterns 3–8 and 21 of docs/data-model.md.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::item::{conditional, from_item, key_map, n, s, sdk_error, to_item, Item};
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

    /// Pattern 11 for a provider: its new fields if the stored version is still `expected`.
    /// `provider_account_count` is left as stored: it moves by `ADD` without a version.
    pub async fn update_provider(&self, next: &Provider, expected: u64) -> Result<(), StoreError> {
        self.update_fields(to_item(next)?, expected, "provider_account_count", None)
            .await
    }

    /// Pattern 7: the account's primary contact — the one marked primary (its account's
    /// `PRIMARY_CONTACT` item names it), else its first.
    pub async fn primary_contact(&self, account: &Id) -> Result<Option<Contact>, StoreError> {
        if let Some(marked) = self.primary_contact_mark(account).await? {
            if let Some(contact) = self.contact(account, &marked).await? {
                return Ok(Some(contact));
            }
        }
        let first: Vec<Contact> = self
            .collection(None, &keys::account(account), keys::CONTACT_PREFIX, 1)
            .await?;
        Ok(first.into_iter().next())
    }

    /// Patterns 4 and 7 in one read: an account and its contacts (oldest first), the items of
    /// its partition. An e-mail needs both; [`Contact::primary_of`] picks its primary contact.
    pub async fn account_with_contacts(
        &self,
        account: &Id,
    ) -> Result<(Option<Account>, Vec<Contact>), StoreError> {
        let items = self
            .collection_items(None, &keys::account(account), "", MAX_CONTACTS + 2)
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

    /// Pattern 39: the contact the account's `PRIMARY_CONTACT` item names, if any.
    pub async fn primary_contact_mark(&self, account: &Id) -> Result<Option<Id>, StoreError> {
        let mark: Option<PrimaryMark> = self
            .get(&keys::account(account), keys::PRIMARY_CONTACT)
            .await?;
        Ok(mark.map(|m| m.contact_id))
    }

    /// Pattern 39: marks `next` primary, all or nothing: the contact (if its stored version is
    /// still `expected`), the account's `PRIMARY_CONTACT` item (if it still names `previous`,
    /// or is absent when `previous` is None) and the previous primary's flag. Two callers
    /// marking two contacts race on the one `PRIMARY_CONTACT` item: one wins, the other's
    /// transaction is cancelled.
    pub async fn set_primary_contact(
        &self,
        next: &Contact,
        expected: u64,
        previous: Option<&Id>,
    ) -> Result<(), StoreError> {
        let account = keys::account(&next.account_id);
        let mut mark = Item::new();
        mark.insert("PK".into(), s(account.clone()));
        mark.insert("SK".into(), s(keys::PRIMARY_CONTACT));
        mark.insert("type".into(), s("primary_contact"));
        mark.insert("contact_id".into(), s(next.id.to_string()));
        let put = Put::builder().table_name(&self.table).set_item(Some(mark));
        let put = match previous {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(p) => put
                .condition_expression("contact_id = :previous")
                .expression_attribute_values(":previous", s(p.to_string())),
        };
        let mut actions = vec![
            TransactWriteItem::builder()
                .put(put.build().map_err(|e| StoreError::Sdk(Box::new(e)))?)
                .build(),
            self.put_versioned_action(to_item(next)?, expected)?,
        ];
        if let Some(p) = previous.filter(|p| **p != next.id) {
            let unmark = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key_map(&account, &keys::contact_sk(p))))
                .update_expression("SET #primary = :false, #version = #version + :one")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_names("#primary", "primary")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":false", AttributeValue::Bool(false))
                .expression_attribute_values(":one", n(1))
                .build()
                .map_err(|e| StoreError::Sdk(Box::new(e)))?;
            actions.push(TransactWriteItem::builder().update(unmark).build());
        }
        self.transact(actions).await
    }

    /// Pattern 39: unmarks the primary `next` (its stored version still `expected`) and removes
    /// the account's `PRIMARY_CONTACT` item if it names it, all or nothing.
    pub async fn unset_primary_contact(
        &self,
        next: &Contact,
        expected: u64,
    ) -> Result<(), StoreError> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(
                &keys::account(&next.account_id),
                keys::PRIMARY_CONTACT,
            )))
            .condition_expression("contact_id = :me")
            .expression_attribute_values(":me", s(next.id.to_string()))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        self.transact(vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.put_versioned_action(to_item(next)?, expected)?,
        ])
        .await
    }

    /// Pattern 8: a contact, if it is one of this account's.
    pub async fn contact(&self, account: &Id, contact: &Id) -> Result<Option<Contact>, StoreError> {
        self.get(&keys::account(account), &keys::contact_sk(contact))
            .await
    }
}

/// The account's `PRIMARY_CONTACT` item.
#[derive(Debug, serde::Deserialize)]
struct PrimaryMark {
    contact_id: Id,
}
