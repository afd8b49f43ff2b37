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
    pub partition: String,
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
        ListQuery {
            index,
            partition,
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
    fn scope(&self) -> String {
        format!(
            "{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}",
            self.index.unwrap_or("table"),
            self.partition,
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

impl Store {
    /// One page of a list, filled up to the page's limit even when filters drop items.
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        query: &ListQuery,
        page: PageSpec<'_>,
    ) -> Result<Page<T>, StoreError> {
        let limit = page.limit;
        let scope = query.scope();
        let mut start = match page.cursor {
            Some(c) => Some(self.cursors().await?.decode(&scope, c)?),
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
        for (i, (attribute, op, value)) in query.bounds.iter().enumerate() {
            names.insert(format!("#b{i}"), attribute.to_string());
            values.insert(format!(":b{i}"), AttributeValue::S(value.clone()));
            filters.push(format!("#b{i} {op} :b{i}"));
        }
        for (i, presence) in query.presence.iter().enumerate() {
            values.insert(":null".into(), AttributeValue::S("NULL".into()));
            match presence {
                Presence::Empty(attribute) => {
                    names.insert(format!("#p{i}"), attribute.clone());
                    filters.push(format!(
                        "(attribute_not_exists(#p{i}) OR attribute_type(#p{i}, :null))"
                    ));
                }
                Presence::Set(attribute) => {
                    names.insert(format!("#p{i}"), attribute.clone());
                    filters.push(format!(
                        "(attribute_exists(#p{i}) AND NOT attribute_type(#p{i}, :null))"
                    ));
                }
            }
        }
        let key_condition = match &query.sort_range {
            Some((from, to)) => {
                values.remove(":prefix");
                values.insert(":from".into(), AttributeValue::S(from.clone()));
                values.insert(":to".into(), AttributeValue::S(to.clone()));
                "#pk = :pk AND #sk BETWEEN :from AND :to"
            }
            None => "#pk = :pk AND begins_with(#sk, :prefix)",
        };
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
