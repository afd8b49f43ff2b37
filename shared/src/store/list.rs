//! Paged lists: one partition of the table or of an index, under a sort-key prefix, with
//! filters, answered a page at a time under a sealed cursor bound to the list.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;

use super::item::{from_item, sdk_error};
use super::{Page, PageSpec, Store, StoreError};

/// Which list to read: an index (or the table), one partition, a sort-key prefix, and filters.
#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    pub index: Option<&'static str>,
    /// One partition, or the shards of a collection (read as one list in sort-key order).
    pub partitions: Vec<String>,
    pub sort_prefix: &'static str,
    /// `attribute = value` filters, applied after the key condition.
    pub equals: Vec<(&'static str, String)>,
    /// `attribute <> value` filters.
    pub not_equals: Vec<(&'static str, String)>,
    /// Filters on whether an attribute holds a value.
    pub presence: Vec<Presence>,
    /// Sort keys from `.0` to `.1` (inclusive) instead of the prefix.
    pub sort_range: Option<(String, String)>,
    /// `attribute >= value` (`.1` is `>=`) or `attribute <= value` (`<=`) filters on string
    /// attributes; an absent or null attribute matches neither.
    pub bounds: Vec<(&'static str, &'static str, String)>,
    /// Sort keys in descending order (newest first for time-ordered keys).
    pub descending: bool,
}

/// Whether an attribute holds a value (null and absent are alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Presence {
    Empty(String),
    Set(String),
}

impl ListQuery {
    pub fn table(partition: String, sort_prefix: &'static str) -> Self {
        Self::index(None, partition, sort_prefix)
    }

    pub fn index(
        index: Option<&'static str>,
        partition: String,
        sort_prefix: &'static str,
    ) -> Self {
        Self::sharded(index, vec![partition], sort_prefix)
    }

    /// The shards of one collection of an index, merged in sort-key order.
    pub fn sharded(
        index: Option<&'static str>,
        partitions: Vec<String>,
        sort_prefix: &'static str,
    ) -> Self {
        ListQuery {
            index,
            partitions,
            sort_prefix,
            equals: Vec::new(),
            not_equals: Vec::new(),
            presence: Vec::new(),
            sort_range: None,
            bounds: Vec::new(),
            descending: false,
        }
    }

    /// Only items where `attribute` is absent or null.
    pub fn empty(mut self, attribute: impl Into<String>) -> Self {
        self.presence.push(Presence::Empty(attribute.into()));
        self
    }

    /// Only items where `attribute` holds a value.
    pub fn set(mut self, attribute: impl Into<String>) -> Self {
        self.presence.push(Presence::Set(attribute.into()));
        self
    }

    /// Sort keys between `from` and `to`, both inclusive.
    pub fn sort_between(mut self, from: String, to: String) -> Self {
        self.sort_range = Some((from, to));
        self
    }

    /// The list in descending sort-key order.
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    /// Only items whose `attribute` is a string at least `value`.
    pub fn at_least(mut self, attribute: &'static str, value: impl Into<String>) -> Self {
        self.bounds.push((attribute, ">=", value.into()));
        self
    }

    /// Only items whose `attribute` is a string at most `value`.
    pub fn at_most(mut self, attribute: &'static str, value: impl Into<String>) -> Self {
        self.bounds.push((attribute, "<=", value.into()));
        self
    }

    pub fn equal(mut self, attribute: &'static str, value: impl Into<String>) -> Self {
        self.equals.push((attribute, value.into()));
        self
    }

    pub fn not_equal(mut self, attribute: &'static str, value: impl Into<String>) -> Self {
        self.not_equals.push((attribute, value.into()));
        self
    }

    /// What a cursor of this list is bound to.
    pub(crate) fn scope(&self) -> String {
        format!(
            "{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}",
            self.index.unwrap_or("table"),
            self.partitions.join(","),
            self.sort_prefix,
            self.equals,
            self.not_equals,
            self.presence,
            self.sort_range,
            self.bounds,
            if self.descending { "desc" } else { "asc" }
        )
    }
}

/// A Query's key condition and filter expression, with their names and values.
pub(crate) struct Expressions {
    pub key_condition: &'static str,
    pub filter: Option<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl ListQuery {
    /// The Query of `partition`; only the filters on attributes `in_index` accepts become the
    /// filter expression (the others are the caller's to apply to the items).
    pub(crate) fn expressions(
        &self,
        partition: &str,
        in_index: impl Fn(&str) -> bool,
    ) -> Expressions {
        let (pk_attr, sk_attr) = match self.index {
            Some(index) => (format!("{index}PK"), format!("{index}SK")),
            None => ("PK".to_string(), "SK".to_string()),
        };
        let mut names = HashMap::from([("#pk".to_string(), pk_attr), ("#sk".to_string(), sk_attr)]);
        let mut values = HashMap::from([
            (":pk".to_string(), AttributeValue::S(partition.to_string())),
            (
                ":prefix".to_string(),
                AttributeValue::S(self.sort_prefix.to_string()),
            ),
        ]);
        let mut filters = Vec::new();
        for (i, (attribute, value)) in self.equals.iter().enumerate() {
            if in_index(attribute) {
                names.insert(format!("#e{i}"), attribute.to_string());
                values.insert(format!(":e{i}"), AttributeValue::S(value.clone()));
                filters.push(format!("#e{i} = :e{i}"));
            }
        }
        for (i, (attribute, value)) in self.not_equals.iter().enumerate() {
            if in_index(attribute) {
                names.insert(format!("#n{i}"), attribute.to_string());
                values.insert(format!(":n{i}"), AttributeValue::S(value.clone()));
                filters.push(format!("#n{i} <> :n{i}"));
            }
        }
        for (i, (attribute, op, value)) in self.bounds.iter().enumerate() {
            if in_index(attribute) {
                names.insert(format!("#b{i}"), attribute.to_string());
                values.insert(format!(":b{i}"), AttributeValue::S(value.clone()));
                filters.push(format!("#b{i} {op} :b{i}"));
            }
        }
        for (i, presence) in self.presence.iter().enumerate() {
            let (Presence::Empty(attribute) | Presence::Set(attribute)) = presence;
            if !in_index(attribute) {
                continue;
            }
            values.insert(":null".into(), AttributeValue::S("NULL".into()));
            names.insert(format!("#p{i}"), attribute.clone());
            filters.push(match presence {
                Presence::Empty(_) => {
                    format!("(attribute_not_exists(#p{i}) OR attribute_type(#p{i}, :null))")
                }
                Presence::Set(_) => {
                    format!("(attribute_exists(#p{i}) AND NOT attribute_type(#p{i}, :null))")
                }
            });
        }
        let key_condition = match &self.sort_range {
            Some((from, to)) => {
                values.remove(":prefix");
                values.insert(":from".into(), AttributeValue::S(from.clone()));
                values.insert(":to".into(), AttributeValue::S(to.clone()));
                "#pk = :pk AND #sk BETWEEN :from AND :to"
            }
            None => "#pk = :pk AND begins_with(#sk, :prefix)",
        };
        Expressions {
            key_condition,
            filter: (!filters.is_empty()).then(|| filters.join(" AND ")),
            names,
            values,
        }
    }

    /// Whether `item` passes the filters on the attributes `in_index` refuses (those the index
    /// did not apply), as DynamoDB would evaluate them.
    pub(crate) fn keeps(&self, item: &super::item::Item, in_index: impl Fn(&str) -> bool) -> bool {
        let string = |attribute: &str| match item.get(attribute) {
            Some(AttributeValue::S(v)) => Some(v.as_str()),
            _ => None,
        };
        let held = |attribute: &str| {
            item.get(attribute)
                .is_some_and(|v| !matches!(v, AttributeValue::Null(_)))
        };
        self.equals
            .iter()
            .filter(|(a, _)| !in_index(a))
            .all(|(a, v)| string(a) == Some(v.as_str()))
            && self
                .not_equals
                .iter()
                .filter(|(a, _)| !in_index(a))
                // A comparison with an absent attribute is false, as in a filter expression.
                .all(|(a, v)| item.contains_key(*a) && string(a) != Some(v.as_str()))
            && self
                .bounds
                .iter()
                .filter(|(a, _, _)| !in_index(a))
                .all(|(a, op, v)| match string(a) {
                    Some(s) if *op == ">=" => s >= v.as_str(),
                    Some(s) => s <= v.as_str(),
                    None => false,
                })
            && self.presence.iter().all(|p| match p {
                Presence::Empty(a) => in_index(a) || !held(a),
                Presence::Set(a) => in_index(a) || held(a),
            })
    }
}

impl Store {
    /// One page of a list, filled up to the page's limit even when filters drop items. A list
    /// of an index that projects only keys (and a few attributes) reads the keys there and the
    /// items by BatchGetItem (`keys_first`).
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        query: &ListQuery,
        page: PageSpec<'_>,
    ) -> Result<Page<T>, StoreError> {
        if let Some(index) = query.index.and_then(super::schema::index) {
            if let Some(includes) = index.includes {
                return self.list_keys_first(query, index, includes, page).await;
            }
        }
        let [partition] = query.partitions.as_slice() else {
            return Err(StoreError::Corrupt(
                "a sharded list needs an index that projects its keys".into(),
            ));
        };
        let limit = page.limit;
        let scope = query.scope();
        let mut start = match page.cursor {
            Some(c) => Some(self.cursors().await?.decode(&scope, c)?),
            None => None,
        };
        let Expressions {
            key_condition,
            filter,
            names,
            values,
        } = query.expressions(partition, |_| true);

        let mut items = Vec::new();
        // Bounded: a filter that matches little must not turn one request into a table walk.
        for _ in 0..10 {
            let want = limit.saturating_sub(items.len()).max(1);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.map(str::to_string))
                .key_condition_expression(key_condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_filter_expression(filter.clone())
                .set_exclusive_start_key(start.take())
                .scan_index_forward(!query.descending)
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items.unwrap_or_default() {
                items.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() >= limit {
                break;
            }
        }
        let next_cursor = match start {
            Some(key) => Some(self.cursors().await?.encode(&scope, &key)?),
            None => None,
        };
        Ok(Page { items, next_cursor })
    }
}
