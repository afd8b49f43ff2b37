//! Provider accounts and provisioning: access patterns 19, 21, 22 and 25 of docs/data-model.md.

use super::agreements::agreement_item;
use super::item::to_item;
use super::list::ListQuery;
use super::{keys, Page, PageSpec, Store, StoreError};
use crate::model::{Agreement, HistoryEvent, Id, ProviderAccount};

/// Whose provider accounts a list is of.
#[derive(Debug, Clone, Copy)]
pub enum ProviderAccountsOf<'a> {
    /// A provider's, optionally only those of one account.
    Provider {
        provider: &'a Id,
        account: Option<&'a Id>,
    },
    /// An account's, with every provider.
    Account(&'a Id),
}

/// A part of the rows of a large import, kept in its job's partition until the job has read it
/// (and for a week after, `ttl`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportPart {
    pub job_id: Id,
    pub part: u32,
    pub rows: Vec<ImportPartRow>,
    /// Epoch seconds after which DynamoDB deletes the part.
    pub ttl: i64,
}

/// One row of an import as it came: its number (1 = the first row of data), and the provider
/// account it describes or why it cannot be read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportPartRow {
    pub row: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<crate::model::NewProviderAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An earlier row of the same import names the same provider account: a skip.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl Store {
    /// Pattern 32: a part of a large import's rows, in its job's partition.
    pub async fn import_part(&self, job: &Id, part: u32) -> Result<Option<ImportPart>, StoreError> {
        self.get(&keys::job(job), &keys::import_part_sk(part)).await
    }

    /// Pattern 19 for an import job: a new provider account made by the job, or the one that
    /// holds its key (read in the same request): the caller tells the job's own (a redelivered
    /// part) from one that was there before.
    pub async fn create_provider_account_or_existing(
        &self,
        pa: &ProviderAccount,
    ) -> Result<Option<ProviderAccount>, StoreError> {
        self.put_new_or_existing(to_item(pa)?).await
    }

    /// Pattern 19: the provider account of a provider's own id for a customer.
    pub async fn provider_account(
        &self,
        provider: &Id,
        provider_specific_id: &str,
    ) -> Result<Option<ProviderAccount>, StoreError> {
        self.get(
            &keys::provider(provider),
            &keys::provider_account_sk(provider_specific_id),
        )
        .await
    }

    /// Pattern 22 (and 20's partition, paged): provider accounts of a provider (optionally of
    /// one account) or of an account.
    pub async fn provider_accounts(
        &self,
        of: ProviderAccountsOf<'_>,
        page: PageSpec<'_>,
    ) -> Result<Page<ProviderAccount>, StoreError> {
        let query = match of {
            ProviderAccountsOf::Provider { provider, account } => {
                let q = ListQuery::table(keys::provider(provider), keys::PROVIDER_ACCOUNT_PREFIX);
                match account {
                    Some(a) => q.equal("account_id", a.to_string()),
                    None => q,
                }
            }
            ProviderAccountsOf::Account(a) => ListQuery::index(
                Some("GSI1"),
                keys::account(a),
                keys::PROVIDER_ACCOUNT_PREFIX,
            ),
        };
        self.list(&query, page).await
    }

    /// Pattern 22: the account's provider account with a provider (the tenant id to attest with).
    pub async fn provider_account_of_account(
        &self,
        account: &Id,
        provider: &Id,
    ) -> Result<Option<ProviderAccount>, StoreError> {
        let links: Vec<ProviderAccount> = self
            .collection(
                Some("GSI1"),
                &keys::account(account),
                &format!("{}{provider}#", keys::PROVIDER_ACCOUNT_PREFIX),
                1,
            )
            .await?;
        Ok(links.into_iter().next())
    }

    /// Pattern 19 with 21: a new provider account and its provider's running count, together
    /// (a transaction), so the count is right whatever fails when. `ConditionFailed` when the
    /// provider already has a provider account of that provider-specific id.
    pub async fn create_provider_account(&self, pa: &ProviderAccount) -> Result<(), StoreError> {
        let actions = vec![
            self.put_new_action(to_item(pa)?)?,
            self.count_action(&pa.provider_id)?,
        ];
        match self.transact(actions).await {
            Err(StoreError::Cancelled(reasons))
                if reasons.first().map(String::as_str) == Some("ConditionalCheckFailed") =>
            {
                Err(StoreError::ConditionFailed)
            }
            other => other,
        }
    }

    fn count_action(
        &self,
        provider: &Id,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        self.add_action(
            &keys::provider(provider),
            keys::META,
            "provider_account_count",
            1,
        )
    }

    /// Pattern 25: provisioning writes the agreement (with its history) and, when the account
    /// is not linked yet, its provider account with its provider's count, all or nothing.
    /// `Cancelled` when a key is taken.
    pub async fn provision(
        &self,
        agreement: &Agreement,
        history: &[HistoryEvent],
        new_link: Option<&ProviderAccount>,
    ) -> Result<(), StoreError> {
        let mut actions = vec![self.put_new_action(agreement_item(agreement, history)?)?];
        if let Some(pa) = new_link {
            actions.push(self.put_new_action(to_item(pa)?)?);
            actions.push(self.count_action(&pa.provider_id)?);
        }
        self.transact(actions).await
    }
}
