//! The store's building blocks: single-item reads and conditional writes, the one transaction,
//! and collection reads. Crate-private; the access patterns are built from them.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::item::{conditional, from_item, key_map, n, sdk_error, Item};
use super::{Store, StoreError};

impl Store {
    /// A strongly consistent read of one item.
    pub(crate) async fn get<T: DeserializeOwned>(
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

    /// Puts an item whose key must be free.
    pub(crate) async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        conditional(result)
    }

    /// An UpdateItem on the `#META` item of partition `pk` under `condition`: true when it
    /// applied, false when the condition did not hold.
    pub(crate) async fn update_meta_if(
        &self,
        pk: &str,
        update: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(pk, super::keys::META)))
            .update_expression(update)
            .condition_expression(condition)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::None);
        for (k, v) in names {
            request = request.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            request = request.expression_attribute_values(k, v);
        }
        match conditional(request.send().await) {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Puts an item over one whose `version` is still `expected`.
    pub(crate) async fn put_versioned(&self, item: Item, expected: u64) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_exists(PK) AND #version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(expected))
            .send()
            .await;
        conditional(result)
    }

    /// Puts an item unless its key is taken; when it is, answers the item that holds it (read in
    /// the same request, with ReturnValuesOnConditionCheckFailure).
    pub(crate) async fn put_new_or_existing<T: DeserializeOwned>(
        &self,
        item: Item,
    ) -> Result<Option<T>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
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

    /// A conditional put of a new item, as one action of a transaction.
    pub(crate) fn put_new_action(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A put over an item whose `version` is still `expected`, as one action of a transaction.
    pub(crate) fn put_versioned_action(
        &self,
        item: Item,
        expected: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_exists(PK) AND #version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(expected))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// `ADD <attribute> :n` on an existing item, as one action of a transaction.
    pub(crate) fn add_action(
        &self,
        pk: &str,
        sk: &str,
        attribute: &str,
        by: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(pk, sk)))
            .update_expression("ADD #attribute :n")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#attribute", attribute)
            .expression_attribute_values(":n", n(by))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Writes all actions or none (a transaction). When a condition fails, answers `Cancelled`
    /// with one reason per action, in order ("None" where it held).
    pub(crate) async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
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

    /// Writes an item's new attributes and appends `event` to its `list` attribute in one
    /// request, if the stored version is still `expected_version`. Earlier entries of the list
    /// are never rewritten: the update only appends.
    pub(crate) async fn update_appending<E: Serialize>(
        &self,
        item: Item,
        expected_version: u64,
        list: &str,
        event: &E,
    ) -> Result<(), StoreError> {
        let event: Item = serde_dynamo::to_item(event)?;
        self.update_fields(item, expected_version, list, Some(event))
            .await
    }

    /// The item's attributes (all but `list`, which is left as it is, with `event` appended
    /// when given) set if the stored version is `expected_version`.
    pub(crate) async fn update_fields(
        &self,
        item: Item,
        expected_version: u64,
        list: &str,
        event: Option<Item>,
    ) -> Result<(), StoreError> {
        let (mut pk, mut sk) = (String::new(), String::new());
        let mut names = std::collections::HashMap::new();
        let mut values = std::collections::HashMap::new();
        let mut sets = Vec::new();
        for (i, (name, value)) in item.into_iter().enumerate() {
            match name.as_str() {
                "PK" => pk = value.as_s().cloned().unwrap_or_default(),
                "SK" => sk = value.as_s().cloned().unwrap_or_default(),
                _ if name == list => {}
                _ => {
                    names.insert(format!("#a{i}"), name);
                    values.insert(format!(":a{i}"), value);
                    sets.push(format!("#a{i} = :a{i}"));
                }
            }
        }
        names.insert("#version".into(), "version".into());
        values.insert(":expected".into(), n(expected_version));
        if let Some(event) = event {
            names.insert("#list".into(), list.to_string());
            values.insert(
                ":event".into(),
                AttributeValue::L(vec![AttributeValue::M(event)]),
            );
            values.insert(":empty".into(), AttributeValue::L(vec![]));
            sets.push("#list = list_append(if_not_exists(#list, :empty), :event)".into());
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&pk, &sk)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("attribute_exists(PK) AND #version = :expected")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        conditional(result)
    }

    /// Appends `entry` to a list attribute of an existing item, changing nothing else.
    pub(crate) async fn append_to_list<E: Serialize>(
        &self,
        pk: &str,
        sk: &str,
        list: &str,
        entry: &E,
    ) -> Result<(), StoreError> {
        let entry: Item = serde_dynamo::to_item(entry)?;
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
    pub(crate) async fn get_list<T: DeserializeOwned>(
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

    /// Deletes one item; true when there was one.
    pub(crate) async fn delete(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
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

    /// Up to about `max_items` of a partition of the table (read consistently) or of an index
    /// under a sort-key prefix, oldest first: for small collections only.
    pub(crate) async fn collection<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        pk: &str,
        sort_prefix: &str,
        max_items: usize,
    ) -> Result<Vec<T>, StoreError> {
        self.collection_items(index, pk, sort_prefix, max_items)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// [`Store::collection`]'s items as they are stored (for a partition of several types).
    pub(crate) async fn collection_items(
        &self,
        index: Option<&str>,
        pk: &str,
        sort_prefix: &str,
        max_items: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let (pk_attr, sk_attr) = match index {
            Some(index) => (format!("{index}PK"), format!("{index}SK")),
            None => ("PK".to_string(), "SK".to_string()),
        };
        let mut start = None;
        let mut items = Vec::new();
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .expression_attribute_names("#pk", pk_attr.clone())
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()));
            // DynamoDB refuses an empty string in a key condition: no prefix, the whole partition.
            query = if sort_prefix.is_empty() {
                query.key_condition_expression("#pk = :pk")
            } else {
                query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", sk_attr.clone())
                    .expression_attribute_values(
                        ":prefix",
                        AttributeValue::S(sort_prefix.to_string()),
                    )
            };
            let out = query
                .consistent_read(index.is_none())
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(max_items.max(1)).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(sdk_error)?;
            let page = out.items.unwrap_or_default();
            match index
                .and_then(super::schema::index)
                .filter(|i| i.includes.is_some())
            {
                // The index holds keys: the items are read from the table.
                Some(keys_first) => {
                    items.extend(self.items_of_entries(&page, keys_first, |_| true).await?)
                }
                None => items.extend(page),
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() >= max_items {
                items.truncate(max_items);
                return Ok(items);
            }
        }
    }
}
