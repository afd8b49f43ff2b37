//! Lists of the indexes that project keys (and a few attributes that never change) rather than
//! whole items: the index answers which items, in order, and BatchGetItem reads them. An index
//! entry then costs one write unit whatever the item's size, and a later change of the item that
//! leaves its keys and projected attributes alone does not write the index at all.
//!
//! A collection spread over shards (every agreement, by a hash of its id) is read as one list:
//! each shard is queried in sort-key order and the heads are merged, so the page is in the same
//! order one partition would give. The cursor records, per shard, the last entry taken.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::de::DeserializeOwned;

use super::item::{from_item, sdk_error, Item};
use super::list::{Expressions, ListQuery};
use super::schema::IndexDefinition;
use super::{Page, PageSpec, Store, StoreError};

/// BatchGetItem reads at most this many keys a request.
const BATCH_GET: usize = 100;
/// Attempts at keys DynamoDB leaves unprocessed (throttling) before the list fails.
const UNPROCESSED_ATTEMPTS: u32 = 8;
/// A cursor's mark for a shard read to its end.
const ENDED: &str = "end";

/// One shard's reading: its buffered index entries, and where the next Query and the next page
/// start.
struct Lane {
    partition: String,
    /// The index key of the last entry taken (the page's cursor for this shard).
    taken: Option<Item>,
    /// The next Query's ExclusiveStartKey.
    next_start: Option<Item>,
    buffer: VecDeque<Item>,
    /// The Query has no more pages.
    exhausted: bool,
}

impl Lane {
    fn done(&self) -> bool {
        self.exhausted && self.buffer.is_empty()
    }
}

fn sort_key<'a>(entry: &'a Item, attribute: &str) -> &'a str {
    match entry.get(attribute) {
        Some(AttributeValue::S(v)) => v,
        _ => "",
    }
}

/// The table key of an index entry.
fn table_key(entry: &Item) -> Option<Item> {
    let pk = entry.get("PK")?.clone();
    let sk = entry.get("SK")?.clone();
    Some(HashMap::from([
        ("PK".to_string(), pk),
        ("SK".to_string(), sk),
    ]))
}

fn key_id(key: &Item) -> Option<(String, String)> {
    match (key.get("PK"), key.get("SK")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
            Some((pk.clone(), sk.clone()))
        }
        _ => None,
    }
}

/// The index key of an entry: what a Query resumes after.
fn index_key(entry: &Item, index: &IndexDefinition) -> Item {
    ["PK", "SK", index.partition_key, index.sort_key]
        .into_iter()
        .filter_map(|name| entry.get(name).map(|v| (name.to_string(), v.clone())))
        .collect()
}

/// Where a page starts in one shard.
enum Position {
    Start,
    Ended,
    /// After this index key.
    After(Item),
}

/// Shard `i`'s position in a decoded cursor: `i` = `end`, or `i.PK`, `i.SK` and `i.<sort key>`
/// (the flat string map a cursor seals), or nothing (from the start).
fn position(
    positions: &Item,
    i: usize,
    index: &IndexDefinition,
    partition: &str,
) -> Result<Position, StoreError> {
    if let Some(mark) = positions.get(&i.to_string()) {
        return match mark {
            AttributeValue::S(m) if m == ENDED => Ok(Position::Ended),
            _ => Err(StoreError::BadCursor),
        };
    }
    let names = ["PK", "SK", index.sort_key];
    let found: Vec<Option<&AttributeValue>> = names
        .iter()
        .map(|name| positions.get(&format!("{i}.{name}")))
        .collect();
    if found.iter().all(Option::is_none) {
        return Ok(Position::Start);
    }
    let mut key = Item::new();
    for (name, value) in names.iter().zip(found) {
        key.insert(
            name.to_string(),
            value.ok_or(StoreError::BadCursor)?.clone(),
        );
    }
    key.insert(
        index.partition_key.to_string(),
        AttributeValue::S(partition.to_string()),
    );
    Ok(Position::After(key))
}

impl Store {
    /// `keys`' items, by BatchGetItem (eventually consistent, like the index they came from),
    /// keyed by (PK, SK); a key without an item (deleted since) is left out.
    pub(crate) async fn batch_get(
        &self,
        keys: Vec<Item>,
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                if attempt > UNPROCESSED_ATTEMPTS {
                    return Err(StoreError::Sdk(
                        format!(
                            "BatchGetItem left {} keys unprocessed after {UNPROCESSED_ATTEMPTS} attempts",
                            pending.len()
                        )
                        .into(),
                    ));
                }
                if attempt > 1 {
                    let wait = 25u64 << (attempt - 2).min(5);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .build()
                    .map_err(|e| StoreError::Sdk(Box::new(e)))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                let items = out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default();
                for item in items {
                    if let Some(id) = key_id(&item) {
                        found.insert(id, item);
                    }
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
        }
        Ok(found)
    }

    /// The items of index entries, in the entries' order: those still in the entry's partition
    /// of the index (an item may have moved since the index was read) and kept by `keep`.
    pub(crate) async fn items_of_entries(
        &self,
        entries: &[Item],
        index: &IndexDefinition,
        keep: impl Fn(&Item) -> bool,
    ) -> Result<Vec<Item>, StoreError> {
        let keys: Vec<Item> = entries.iter().filter_map(table_key).collect();
        let mut found = self.batch_get(keys).await?;
        Ok(entries
            .iter()
            .filter_map(|entry| {
                let item = table_key(entry)
                    .and_then(|k| key_id(&k))
                    .and_then(|id| found.remove(&id))?;
                let still_there = item.get(index.partition_key) == entry.get(index.partition_key);
                (still_there && keep(&item)).then_some(item)
            })
            .collect())
    }

    /// [`Store::list`] on an index that projects keys and `includes`.
    pub(crate) async fn list_keys_first<T: DeserializeOwned>(
        &self,
        query: &ListQuery,
        index: &'static IndexDefinition,
        includes: &'static [&'static str],
        page: PageSpec<'_>,
    ) -> Result<Page<T>, StoreError> {
        let limit = page.limit.max(1);
        let scope = query.scope();
        let in_index = |attribute: &str| includes.contains(&attribute);
        let mut lanes: Vec<Lane> = query
            .partitions
            .iter()
            .map(|partition| Lane {
                partition: partition.clone(),
                taken: None,
                next_start: None,
                buffer: VecDeque::new(),
                exhausted: false,
            })
            .collect();
        if let Some(cursor) = page.cursor {
            let positions = self.cursors().await?.decode(&scope, cursor)?;
            for (i, lane) in lanes.iter_mut().enumerate() {
                match position(&positions, i, index, &lane.partition)? {
                    Position::Start => {}
                    Position::Ended => lane.exhausted = true,
                    Position::After(key) => {
                        lane.taken = Some(key.clone());
                        lane.next_start = Some(key);
                    }
                }
            }
        }
        let expressions: Vec<Expressions> = lanes
            .iter()
            .map(|lane| query.expressions(&lane.partition, in_index))
            .collect();
        let mut items = Vec::new();
        // Bounded like every list: a filter that matches little must not walk the collection.
        for _ in 0..10 {
            let want = limit.saturating_sub(items.len()).max(1);
            let refills = lanes
                .iter()
                .zip(&expressions)
                .enumerate()
                .filter(|(_, (lane, _))| lane.buffer.is_empty() && !lane.exhausted)
                .map(|(i, (lane, e))| {
                    let request = self
                        .client
                        .query()
                        .table_name(&self.table)
                        .index_name(index.name)
                        .key_condition_expression(e.key_condition)
                        .set_expression_attribute_names(Some(e.names.clone()))
                        .set_expression_attribute_values(Some(e.values.clone()))
                        .set_filter_expression(e.filter.clone())
                        .set_exclusive_start_key(lane.next_start.clone())
                        .scan_index_forward(!query.descending)
                        .limit(i32::try_from(want).unwrap_or(i32::MAX));
                    async move { (i, request.send().await) }
                });
            for (i, answer) in futures::future::join_all(refills).await {
                let out = answer.map_err(sdk_error)?;
                let lane = &mut lanes[i];
                lane.buffer.extend(out.items.unwrap_or_default());
                lane.next_start = out.last_evaluated_key;
                lane.exhausted = lane.next_start.is_none();
                if lane.buffer.is_empty() && !lane.exhausted {
                    // Everything this Query read was filtered out: the page resumes after it.
                    lane.taken = lane.next_start.clone();
                }
            }
            // Take entries in sort-key order while every shard that may hold a nearer one has
            // one at hand.
            let mut taken: Vec<Item> = Vec::new();
            while taken.len() < want {
                if lanes.iter().any(|l| l.buffer.is_empty() && !l.exhausted) {
                    break;
                }
                let next = lanes
                    .iter()
                    .enumerate()
                    .filter_map(|(i, l)| l.buffer.front().map(|e| (i, sort_key(e, index.sort_key))))
                    .reduce(|best, this| {
                        let nearer = if query.descending {
                            this.1 > best.1
                        } else {
                            this.1 < best.1
                        };
                        if nearer {
                            this
                        } else {
                            best
                        }
                    })
                    .map(|(i, _)| i);
                let Some(i) = next else { break };
                if let Some(entry) = lanes[i].buffer.pop_front() {
                    lanes[i].taken = Some(index_key(&entry, index));
                    if lanes[i].buffer.is_empty() && !lanes[i].exhausted {
                        // This Query's page is used up: the shard resumes after its last
                        // evaluated key, past any entries the index's filter dropped.
                        lanes[i].taken = lanes[i].next_start.clone();
                    }
                    taken.push(entry);
                }
            }
            let entries = taken;
            let read = self
                .items_of_entries(&entries, index, |item| query.keeps(item, in_index))
                .await?;
            for item in read {
                items.push(from_item(item)?);
            }
            if items.len() >= limit || lanes.iter().all(Lane::done) {
                break;
            }
        }
        let next_cursor = if lanes.iter().all(Lane::done) {
            None
        } else {
            let mut positions = Item::new();
            for (i, lane) in lanes.iter().enumerate() {
                if lane.done() {
                    positions.insert(i.to_string(), AttributeValue::S(ENDED.into()));
                } else if let Some(taken) = &lane.taken {
                    // The index's partition key is the lane's own; the rest places the entry.
                    for name in ["PK", "SK", index.sort_key] {
                        if let Some(value) = taken.get(name) {
                            positions.insert(format!("{i}.{name}"), value.clone());
                        }
                    }
                }
            }
            Some(self.cursors().await?.encode(&scope, &positions)?)
        };
        Ok(Page { items, next_cursor })
    }
}
