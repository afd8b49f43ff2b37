//! Write units: what DynamoDB charges for an item as written, by its documented size rules,
//! computed from the item read back from the table and the table's own description (its keys and
//! each global secondary index's keys and projection).
//!
//! - An item's size is the sum over its attributes of the name's UTF-8 length and the value's
//!   size: a string its UTF-8 length, a binary its length, a number 1 byte plus 1 per two
//!   significant digits, a boolean or null 1 byte, a list or map 3 bytes plus 1 byte per element
//!   plus its elements (and a map's names), a set the sum of its members.
//! - A write of a table item costs one unit per started KB (1,024 bytes) of the larger of the
//!   item before and after.
//! - An index entry is the table's key attributes, the index's key attributes and the projected
//!   attributes, plus 100 bytes; each index write costs one unit per started KB of the entry. A
//!   write that changes an entry's key is a delete and a put (two writes); one that changes only
//!   projected attributes is one; one that changes nothing the index holds is none.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ProjectionType, TableDescription};

pub type Item = HashMap<String, AttributeValue>;

/// What an index keeps of an item besides the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

/// One global secondary index: its name, keys and projection.
#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    pub keys: Vec<String>,
    pub projection: Projection,
}

/// The table's keys and indexes.
#[derive(Debug, Clone)]
pub struct Shape {
    pub keys: Vec<String>,
    pub indexes: Vec<Index>,
}

impl Shape {
    pub fn of(table: &TableDescription) -> Shape {
        let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<String> {
            schema
                .iter()
                .map(|k| k.attribute_name().to_string())
                .collect()
        };
        let indexes = table
            .global_secondary_indexes()
            .iter()
            .map(|gsi| {
                let projection = match gsi.projection() {
                    Some(p) => match p.projection_type() {
                        Some(ProjectionType::KeysOnly) => Projection::KeysOnly,
                        Some(ProjectionType::Include) => {
                            Projection::Include(p.non_key_attributes().to_vec())
                        }
                        _ => Projection::All,
                    },
                    None => Projection::All,
                };
                Index {
                    name: gsi.index_name().unwrap_or_default().to_string(),
                    keys: keys(gsi.key_schema()),
                    projection,
                }
            })
            .collect();
        Shape {
            keys: keys(table.key_schema()),
            indexes,
        }
    }
}

/// 1 byte plus 1 per two significant digits (leading and trailing zeros and the sign, point and
/// exponent do not count).
fn number_size(text: &str) -> usize {
    let mantissa = text
        .split(['e', 'E'])
        .next()
        .unwrap_or_default()
        .trim_start_matches(['-', '+']);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    1 + significant.div_ceil(2)
}

pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 0,
    }
}

pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Units of a write of `bytes`.
pub fn units(bytes: usize) -> usize {
    bytes.div_ceil(1024).max(1)
}

/// The index's entry of `item`, or None when the item is not in the index (a key is missing).
pub fn entry(item: &Item, shape: &Shape, index: &Index) -> Option<Item> {
    if index.keys.iter().any(|k| !item.contains_key(k)) {
        return None;
    }
    let kept = |name: &String| -> bool {
        shape.keys.contains(name)
            || index.keys.contains(name)
            || match &index.projection {
                Projection::All => true,
                Projection::KeysOnly => false,
                Projection::Include(names) => names.contains(name),
            }
    };
    Some(
        item.iter()
            .filter(|(k, _)| kept(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// One index's part of a write.
#[derive(Debug, Clone)]
pub struct IndexWrite {
    pub index: String,
    /// Entry size (with the 100 bytes of overhead) after the write; 0 when the item left it.
    pub bytes: usize,
    pub units: usize,
}

/// What one write of an item costs.
#[derive(Debug, Clone)]
pub struct WriteCost {
    pub item_bytes: usize,
    pub item_units: usize,
    pub indexes: Vec<IndexWrite>,
}

impl WriteCost {
    pub fn total(&self) -> usize {
        self.item_units + self.indexes.iter().map(|w| w.units).sum::<usize>()
    }
}

const INDEX_ENTRY_OVERHEAD: usize = 100;

/// The cost of writing `after` over `before` (None for a new item).
pub fn write_cost(before: Option<&Item>, after: &Item, shape: &Shape) -> WriteCost {
    let after_bytes = item_size(after);
    let item_bytes = before.map_or(after_bytes, |b| item_size(b).max(after_bytes));
    let indexes = shape
        .indexes
        .iter()
        .filter_map(|index| {
            let old = before.and_then(|b| entry(b, shape, index));
            let new = entry(after, shape, index);
            let size = |e: &Item| item_size(e) + INDEX_ENTRY_OVERHEAD;
            let key_of = |e: &Item| -> Vec<Option<AttributeValue>> {
                index.keys.iter().map(|k| e.get(k).cloned()).collect()
            };
            let units = match (&old, &new) {
                (None, None) => return None,
                (None, Some(n)) => units(size(n)),
                (Some(o), None) => units(size(o)),
                (Some(o), Some(n)) if o == n => 0,
                (Some(o), Some(n)) if key_of(o) != key_of(n) => units(size(o)) + units(size(n)),
                (Some(o), Some(n)) => units(size(o).max(size(n))),
            };
            Some(IndexWrite {
                index: index.name.clone(),
                bytes: new.as_ref().map_or(0, size),
                units,
            })
        })
        .collect();
    WriteCost {
        item_bytes,
        item_units: units(item_bytes),
        indexes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn shape(projection: Projection) -> Shape {
        Shape {
            keys: vec!["PK".into(), "SK".into()],
            indexes: vec![Index {
                name: "GSI1".into(),
                keys: vec!["GSI1PK".into(), "GSI1SK".into()],
                projection,
            }],
        }
    }

    #[test]
    fn sizes_follow_the_documented_rules() {
        assert_eq!(number_size("123"), 3);
        assert_eq!(number_size("-0.0012300"), 3);
        assert_eq!(number_size("1000"), 2);
        assert_eq!(value_size(&AttributeValue::Bool(true)), 1);
        // A list of two one-character strings: 3 + (1 + 1) * 2.
        assert_eq!(value_size(&AttributeValue::L(vec![s("a"), s("b")])), 7);
        // A map {"ab": "c"}: 3 + 1 + 2 + 1.
        let map = AttributeValue::M(HashMap::from([("ab".to_string(), s("c"))]));
        assert_eq!(value_size(&map), 7);
        let item = Item::from([("PK".into(), s("AGREEMENT#1")), ("n".into(), map)]);
        assert_eq!(item_size(&item), 2 + 11 + 1 + 7);
    }

    #[test]
    fn a_new_item_costs_its_size_and_one_write_per_index_it_is_in() {
        let mut item = Item::from([
            ("PK".into(), s("A")),
            ("SK".into(), s("#META")),
            ("GSI1PK".into(), s("X")),
            ("GSI1SK".into(), s("Y")),
            ("big".into(), s(&"x".repeat(1500))),
        ]);
        let all = write_cost(None, &item, &shape(Projection::All));
        assert_eq!((all.item_units, all.total()), (2, 4));
        let keys = write_cost(None, &item, &shape(Projection::KeysOnly));
        assert_eq!((keys.item_units, keys.total()), (2, 3));
        assert_eq!(
            keys.indexes[0].bytes,
            (2 + 1) + (2 + 5) + (6 + 1) + (6 + 1) + 100
        );
        item.remove("GSI1PK");
        assert_eq!(write_cost(None, &item, &shape(Projection::All)).total(), 2);
    }

    #[test]
    fn a_change_writes_only_the_indexes_whose_entry_changes() {
        let before = Item::from([
            ("PK".into(), s("A")),
            ("SK".into(), s("#META")),
            ("GSI1PK".into(), s("X")),
            ("GSI1SK".into(), s("Y")),
            ("status".into(), s("pending")),
        ]);
        let mut after = before.clone();
        after.insert("status".into(), s("accepted"));
        assert_eq!(
            write_cost(Some(&before), &after, &shape(Projection::All)).total(),
            2
        );
        assert_eq!(
            write_cost(Some(&before), &after, &shape(Projection::KeysOnly)).total(),
            1
        );
        let include = Projection::Include(vec!["status".into()]);
        assert_eq!(
            write_cost(Some(&before), &after, &shape(include)).total(),
            2
        );
        after.insert("GSI1SK".into(), s("Z"));
        assert_eq!(
            write_cost(Some(&before), &after, &shape(Projection::KeysOnly)).total(),
            3
        );
    }
}
