//! Records to items and back, and the SDK's outcomes in the store's words.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Record, StoreError};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The item of a record: the entity's fields plus its keys and `type`. Public for tools that
/// seed a table in bulk (the benchmark); services write through the access patterns.
pub fn to_item<R: Record>(record: &R) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(record)?;
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

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    Ok(serde_dynamo::from_item(item)?)
}

/// A value of an attribute (a history event, a list of them), as DynamoDB stores it.
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<AttributeValue, StoreError> {
    Ok(serde_dynamo::to_attribute_value(value)?)
}

pub(crate) fn key_map(pk: &str, sk: &str) -> Item {
    HashMap::from([
        ("PK".to_string(), AttributeValue::S(pk.to_string())),
        ("SK".to_string(), AttributeValue::S(sk.to_string())),
    ])
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A failed request, its SDK error kept as the cause.
pub(crate) fn sdk_error<E>(e: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    StoreError::Sdk(Box::new(e))
}

/// The outcome of a conditional write: done, `ConditionFailed`, or the request's own failure.
pub(crate) fn conditional<T, E>(result: Result<T, SdkError<E>>) -> Result<(), StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
            Err(StoreError::ConditionFailed)
        }
        Err(e) => Err(sdk_error(e)),
    }
}
