//! The only code that speaks DynamoDB: item mapping, conditional writes, transactions and pages.

pub mod cursor;
pub mod jobs;
pub mod keys;
pub mod records;
pub mod schema;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;

use crate::error::ServiceError;
use crate::model::Id;
pub use cursor::CursorSigner;
pub use jobs::{ChunkCounts, ChunkEnd, CountedChunk};
pub use keys::Keys;
pub use records::Record;

/// What went wrong in the store, in the words the services act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A single write's condition did not hold.
    #[error("the conditional request failed")]
    ConditionFailed,
    /// A transaction was cancelled; one reason code per item, in order ("None" where it held).
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

pub(crate) fn sdk_error<E>(e: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match e.code() {
        Some(code) => StoreError::Sdk(format!("{code}: {}", e.message().unwrap_or_default())),
        None => StoreError::Sdk(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string()),
    }
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

pub fn from_item<T: DeserializeOwned>(
    item: HashMap<String, AttributeValue>,
) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn key_map(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("PK".to_string(), AttributeValue::S(pk.to_string())),
        ("SK".to_string(), AttributeValue::S(sk.to_string())),
    ])
}

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

    pub fn cursors(&self) -> &CursorSigner {
        &self.cursors
    }

    /// A strongly consistent read of one item.
    pub async fn get<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
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
        conditional(result)
    }

    /// Replaces a record if its stored version is still `expected_version`.
    pub async fn replace<R: Record>(
        &self,
        record: &R,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression("attribute_exists(PK) AND #version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(
                ":expected",
                AttributeValue::N(expected_version.to_string()),
            )
            .send()
            .await;
        conditional(result)
    }

    /// Puts a new record unless its key is taken; when it is, answers the item that holds it
    /// (read in the same request, with ReturnValuesOnConditionCheckFailure).
    /// `extra` attributes are stored beside the record's own.
    pub async fn create_or_existing<R: Record, T: DeserializeOwned>(
        &self,
        record: &R,
        extra: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<T>, StoreError> {
        let mut item = to_item(record)?;
        for (k, v) in extra {
            item.insert(k.to_string(), v);
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => match c.item.clone() {
                    Some(existing) => Ok(Some(from_item(existing)?)),
                    None => Err(StoreError::ConditionFailed),
                },
                _ => Err(sdk_error(e)),
            },
        }
    }

    /// Puts new items all or none (a transaction); each must not exist yet. When one exists,
    /// answers `Cancelled` with one reason per item, in order ("None" where it held).
    pub async fn create_together(
        &self,
        items: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let mut actions = Vec::with_capacity(items.len());
        for item in items {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(|e| StoreError::Sdk(e.to_string()))?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    Err(StoreError::Cancelled(
                        c.cancellation_reasons()
                            .iter()
                            .map(|r| r.code().unwrap_or("None").to_string())
                            .collect(),
                    ))
                }
                _ => Err(sdk_error(e)),
            },
        }
    }

    /// Writes a record's new state and appends `event` to its `list` attribute in one request,
    /// if the stored version is still `expected_version`. Earlier entries of the list are never
    /// rewritten: the update only appends.
    pub async fn update_appending<R: Record, E: serde::Serialize>(
        &self,
        record: &R,
        expected_version: u64,
        list: &str,
        event: &E,
    ) -> Result<(), StoreError> {
        let item = to_item(record)?;
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut sets = Vec::new();
        for (i, (name, value)) in item.into_iter().enumerate() {
            if name == "PK" || name == "SK" || name == list {
                continue;
            }
            names.insert(format!("#a{i}"), name);
            values.insert(format!(":a{i}"), value);
            sets.push(format!("#a{i} = :a{i}"));
        }
        let event: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        names.insert("#list".into(), list.to_string());
        names.insert("#version".into(), "version".into());
        values.insert(
            ":event".into(),
            AttributeValue::L(vec![AttributeValue::M(event)]),
        );
        values.insert(":empty".into(), AttributeValue::L(vec![]));
        values.insert(
            ":expected".into(),
            AttributeValue::N(expected_version.to_string()),
        );
        sets.push("#list = list_append(if_not_exists(#list, :empty), :event)".into());
        let keys = record.keys();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys.pk, &keys.sk)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("attribute_exists(PK) AND #version = :expected")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        conditional(result)
    }

    /// Appends `entry` to a list attribute of an existing item, changing nothing else.
    pub async fn append_to_list<E: serde::Serialize>(
        &self,
        pk: &str,
        sk: &str,
        list: &str,
        entry: &E,
    ) -> Result<(), StoreError> {
        let entry: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(pk, sk)))
            .update_expression("SET #list = list_append(if_not_exists(#list, :empty), :entry)")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#list", list)
            .expression_attribute_values(
                ":entry",
                AttributeValue::L(vec![AttributeValue::M(entry)]),
            )
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .send()
            .await;
        conditional(result)
    }

    /// A list attribute of one item (None when the item does not exist).
    pub async fn get_list<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
        list: &str,
    ) -> Result<Option<Vec<T>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(pk, sk)))
            .projection_expression("#list, PK")
            .expression_attribute_names("#list", list)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        let Some(mut item) = out.item else {
            return Ok(None);
        };
        match item.remove(list) {
            Some(AttributeValue::L(entries)) => entries
                .into_iter()
                .map(|e| match e {
                    AttributeValue::M(m) => from_item(m),
                    _ => Err(StoreError::Corrupt(format!(
                        "`{list}` holds a non-map entry"
                    ))),
                })
                .collect::<Result<Vec<T>, _>>()
                .map(Some),
            Some(_) => Err(StoreError::Corrupt(format!("`{list}` is not a list"))),
            None => Ok(Some(Vec::new())),
        }
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
            (
                ":pk".to_string(),
                AttributeValue::S(query.partition.clone()),
            ),
            (
                ":prefix".to_string(),
                AttributeValue::S(query.sort_prefix.to_string()),
            ),
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

    /// Every item of a partition with a sort-key prefix, oldest first, for small collections
    /// (strongly consistent).
    pub async fn query_all<T: DeserializeOwned>(
        &self,
        pk: &str,
        sort_prefix: &str,
        max_items: usize,
    ) -> Result<Vec<T>, StoreError> {
        self.collection(None, pk, sort_prefix, max_items).await
    }

    /// Deletes one item; true when there was one.
    pub async fn delete(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(pk, sk)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.attributes.is_some())
    }

    /// Every item of an index partition under a sort-key prefix (small collections only).
    pub async fn query_index_all<T: DeserializeOwned>(
        &self,
        index: &str,
        pk: &str,
        sort_prefix: &str,
        max_items: usize,
    ) -> Result<Vec<T>, StoreError> {
        self.collection(Some(index), pk, sort_prefix, max_items)
            .await
    }

    /// Up to about `max_items` of a partition of the table (read consistently) or of an index.
    async fn collection<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        pk: &str,
        sort_prefix: &str,
        max_items: usize,
    ) -> Result<Vec<T>, StoreError> {
        let (pk_attr, sk_attr) = match index {
            Some(index) => (format!("{index}PK"), format!("{index}SK")),
            None => ("PK".to_string(), "SK".to_string()),
        };
        let mut start = None;
        let mut items = Vec::new();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", pk_attr.clone())
                .expression_attribute_names("#sk", sk_attr.clone())
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
                .expression_attribute_values(":prefix", AttributeValue::S(sort_prefix.to_string()))
                .consistent_read(index.is_none())
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

/// The outcome of a conditional write: done, `ConditionFailed`, or the request's own failure.
pub(crate) fn conditional<T, E>(result: Result<T, SdkError<E>>) -> Result<(), StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_condition_failure(&e) => Err(StoreError::ConditionFailed),
        Err(e) => Err(sdk_error(e)),
    }
}

pub(crate) fn is_condition_failure<E: ProvideErrorMetadata + std::fmt::Debug>(
    e: &SdkError<E>,
) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}
