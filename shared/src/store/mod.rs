//! The only code that speaks DynamoDB: item mapping, conditional writes, transactions and pages.

pub mod cursor;
pub mod keys;
pub mod records;
pub mod schema;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;

use crate::error::ServiceError;
use crate::model::Id;
pub use cursor::CursorSigner;
pub use keys::Keys;
pub use records::Record;

/// What went wrong in the store, in the words the services act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A single write's condition did not hold.
    #[error("the conditional request failed")]
    ConditionFailed,
    /// A transaction was cancelled; one reason code per action, in order ("None" where it held).
    #[error("transaction cancelled: {0:?}")]
    Cancelled(Vec<String>),
    #[error("stored item could not be read: {0}")]
    Corrupt(String),
    #[error("DynamoDB request failed: {0}")]
    Sdk(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::internal(e)
    }
}

fn sdk_error<E: ProvideErrorMetadata + std::fmt::Debug>(e: SdkError<E>) -> StoreError {
    let code = e.code().unwrap_or("unknown").to_string();
    let message = e.message().unwrap_or_default().to_string();
    StoreError::Sdk(format!("{code}: {message}"))
}

/// A page of a list, as the contract answers it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Which list to read: an index (or the table), one partition, a sort-key prefix, and filters.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub index: Option<&'static str>,
    pub partition: String,
    pub sort_prefix: &'static str,
    /// `attribute = value` filters, applied after the key condition.
    pub equals: Vec<(&'static str, String)>,
    /// `attribute <> value` filters.
    pub not_equals: Vec<(&'static str, String)>,
}

impl ListQuery {
    pub fn new(index: Option<&'static str>, partition: String, sort_prefix: &'static str) -> Self {
        ListQuery {
            index,
            partition,
            sort_prefix,
            equals: Vec::new(),
            not_equals: Vec::new(),
        }
    }

    /// What a cursor of this list is bound to.
    fn scope(&self) -> String {
        format!(
            "{}|{}|{}|{:?}|{:?}",
            self.index.unwrap_or("table"),
            self.partition,
            self.sort_prefix,
            self.equals,
            self.not_equals
        )
    }
}

/// One action of a transaction.
pub enum WriteAction {
    /// Put a record that must not exist yet.
    Create(HashMap<String, AttributeValue>),
    /// Replace a record whose stored `version` must equal the given one.
    Replace(HashMap<String, AttributeValue>, u64),
    /// Delete an item (no condition).
    Delete(Keys),
    /// Require that an item exists and, optionally, that an attribute has a value.
    Check(Keys, Option<(&'static str, String)>),
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    cursors: CursorSigner,
}

/// Builds the item of a record: the entity's fields plus its keys and type.
pub fn to_item<R: Record>(record: &R) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let keys = record.keys();
    item.insert("PK".into(), AttributeValue::S(keys.pk));
    item.insert("SK".into(), AttributeValue::S(keys.sk));
    for (n, gsi) in [(1, keys.gsi1), (2, keys.gsi2), (3, keys.gsi3)] {
        if let Some((pk, sk)) = gsi {
            item.insert(format!("GSI{n}PK"), AttributeValue::S(pk));
            item.insert(format!("GSI{n}SK"), AttributeValue::S(sk));
        }
    }
    item.insert("type".into(), AttributeValue::S(R::TYPE.into()));
    Ok(item)
}

pub fn from_item<T: DeserializeOwned>(item: HashMap<String, AttributeValue>) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn key_map(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("PK".to_string(), AttributeValue::S(pk.to_string())),
        ("SK".to_string(), AttributeValue::S(sk.to_string())),
    ])
}

const TRANSACTION_ATTEMPTS: u32 = 6;

impl Store {
    pub fn new(client: Client, table: impl Into<String>, cursors: CursorSigner) -> Self {
        Store {
            client,
            table: table.into(),
            cursors,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// A strongly consistent read of one item.
    pub async fn get<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item.map(from_item).transpose()
    }

    /// Puts a new record; `ConditionFailed` when its key is taken.
    pub async fn create<R: Record>(&self, record: &R) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::ConditionFailed),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// Replaces a record if its stored version is still `expected_version`.
    pub async fn replace<R: Record>(&self, record: &R, expected_version: u64) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression("attribute_exists(PK) AND #version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", AttributeValue::N(expected_version.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::ConditionFailed),
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// Writes all actions or none. A conflict with another transaction on the same items is
    /// retried with backoff; a failed condition comes back as `Cancelled` with its reasons.
    pub async fn transact(&self, actions: Vec<WriteAction>) -> Result<(), StoreError> {
        let items = actions
            .into_iter()
            .map(|a| self.transact_item(a))
            .collect::<Result<Vec<_>, _>>()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let reasons = match err.as_service_error() {
                Some(
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c),
                ) => c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None").to_string())
                    .collect::<Vec<_>>(),
                _ if err.code() == Some("TransactionInProgressException") => vec![],
                _ => return Err(sdk_error(err)),
            };
            let conflict = reasons.is_empty()
                || reasons
                    .iter()
                    .any(|r| r == "TransactionConflict" || r == "ThrottlingError");
            let failed_condition = reasons.iter().any(|r| r == "ConditionalCheckFailed");
            if failed_condition || !conflict || attempt >= TRANSACTION_ATTEMPTS {
                return Err(StoreError::Cancelled(reasons));
            }
            backoff(attempt).await;
        }
    }

    fn transact_item(&self, action: WriteAction) -> Result<TransactWriteItem, StoreError> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Sdk(e.to_string());
        let item = match action {
            WriteAction::Create(item) => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(PK)")
                    .build()
                    .map_err(build)?,
            ),
            WriteAction::Replace(item, expected) => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_exists(PK) AND #version = :expected")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
                    .build()
                    .map_err(build)?,
            ),
            WriteAction::Delete(keys) => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(&keys.pk, &keys.sk)))
                    .build()
                    .map_err(build)?,
            ),
            WriteAction::Check(keys, equals) => {
                let mut check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(&keys.pk, &keys.sk)));
                check = match equals {
                    Some((attribute, value)) => check
                        .condition_expression("attribute_exists(PK) AND #a = :v")
                        .expression_attribute_names("#a", attribute)
                        .expression_attribute_values(":v", AttributeValue::S(value)),
                    None => check.condition_expression("attribute_exists(PK)"),
                };
                TransactWriteItem::builder().condition_check(check.build().map_err(build)?)
            }
        };
        Ok(item.build())
    }

    /// One page of a list, filled up to `limit` even when filters drop items.
    pub async fn list<T: DeserializeOwned>(
        &self,
        query: &ListQuery,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<T>, ServiceError> {
        let scope = query.scope();
        let mut start = match cursor {
            Some(c) => Some(self.cursors.decode(&scope, c)?),
            None => None,
        };
        let (pk_attr, sk_attr) = match query.index {
            Some(index) => (format!("{index}PK"), format!("{index}SK")),
            None => ("PK".to_string(), "SK".to_string()),
        };
        let mut names = HashMap::from([("#pk".to_string(), pk_attr), ("#sk".to_string(), sk_attr)]);
        let mut values = HashMap::from([
            (":pk".to_string(), AttributeValue::S(query.partition.clone())),
            (":prefix".to_string(), AttributeValue::S(query.sort_prefix.to_string())),
        ]);
        let mut filters = Vec::new();
        for (i, (attribute, value)) in query.equals.iter().enumerate() {
            names.insert(format!("#e{i}"), attribute.to_string());
            values.insert(format!(":e{i}"), AttributeValue::S(value.clone()));
            filters.push(format!("#e{i} = :e{i}"));
        }
        for (i, (attribute, value)) in query.not_equals.iter().enumerate() {
            names.insert(format!("#n{i}"), attribute.to_string());
            values.insert(format!(":n{i}"), AttributeValue::S(value.clone()));
            filters.push(format!("#n{i} <> :n{i}"));
        }
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));

        let mut items = Vec::new();
        // Bounded: a filter that matches little must not turn one request into a table walk.
        for _ in 0..10 {
            let want = limit.saturating_sub(items.len()).max(1);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.map(str::to_string))
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_filter_expression(filter.clone())
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| ServiceError::from(sdk_error(e)))?;
            for item in out.items.unwrap_or_default() {
                items.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() >= limit {
                break;
            }
        }
        let next_cursor = match start {
            Some(key) => Some(
                self.cursors
                    .encode(&scope, &key)
                    .ok_or_else(|| ServiceError::internal("cursor of non-string key"))?,
            ),
            None => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// Every item of a partition with a sort-key prefix, oldest first, for small collections.
    pub async fn query_all<T: DeserializeOwned>(
        &self,
        pk: &str,
        sort_prefix: &str,
        max_items: usize,
    ) -> Result<Vec<T>, StoreError> {
        let mut start = None;
        let mut items = Vec::new();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
                .expression_attribute_values(":prefix", AttributeValue::S(sort_prefix.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items.unwrap_or_default() {
                items.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() >= max_items {
                return Ok(items);
            }
        }
    }

    /// Reads an entity by id from its own item.
    pub async fn get_entity<T: DeserializeOwned>(
        &self,
        partition: fn(&Id) -> String,
        id: &Id,
    ) -> Result<Option<T>, StoreError> {
        self.get(&partition(id), keys::META).await
    }
}

fn is_condition_failure<E: ProvideErrorMetadata + std::fmt::Debug>(e: &SdkError<E>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

async fn backoff(attempt: u32) {
    use rand::Rng;
    let cap = 20u64 << attempt.min(6);
    let jitter = rand::thread_rng().gen_range(0..=cap);
    tokio::time::sleep(Duration::from_millis(5 + jitter)).await;
}
