//! The table's definition, written once: the local stack creates the table from it and a test
//! holds template.yaml to it.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};

/// One global secondary index: its name, the attributes that key it and what it projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// `None`: every attribute (ALL); `Some(names)`: the keys and these (INCLUDE), so a list
    /// reads the keys from the index and the items by BatchGetItem.
    pub includes: Option<&'static [&'static str]>,
}

impl IndexDefinition {
    /// CloudFormation's and DynamoDB's name of the projection.
    pub fn projection_type(&self) -> &'static str {
        match self.includes {
            None => "ALL",
            Some([]) => "KEYS_ONLY",
            Some(_) => "INCLUDE",
        }
    }
}

/// What the keys-first indexes hold besides keys: attributes that never change once written
/// (so no later write of an item rewrites its entries) and that lists filter on, so those
/// filters run in the index, before any item is read.
pub const KEYS_FIRST_INCLUDES: &[&str] = &["template_id", "provider_id"];

/// The whole key design of the single table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDefinition {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub global_indexes: &'static [IndexDefinition],
    pub billing_mode: &'static str,
    pub ttl_attribute: &'static str,
    /// What the table's stream carries: `publish-events` needs both images of a change.
    pub stream_view_type: &'static str,
}

pub const GSI1: IndexDefinition = IndexDefinition {
    name: "GSI1",
    partition_key: "GSI1PK",
    sort_key: "GSI1SK",
    includes: Some(KEYS_FIRST_INCLUDES),
};
pub const GSI2: IndexDefinition = IndexDefinition {
    name: "GSI2",
    partition_key: "GSI2PK",
    sort_key: "GSI2SK",
    includes: None,
};
pub const GSI3: IndexDefinition = IndexDefinition {
    name: "GSI3",
    partition_key: "GSI3PK",
    sort_key: "GSI3SK",
    includes: Some(KEYS_FIRST_INCLUDES),
};

/// The index named `name`, if the table has one.
pub fn index(name: &str) -> Option<&'static IndexDefinition> {
    TABLE.global_indexes.iter().find(|i| i.name == name)
}

pub const TABLE: TableDefinition = TableDefinition {
    partition_key: "PK",
    sort_key: "SK",
    global_indexes: &[GSI1, GSI2, GSI3],
    billing_mode: "PAY_PER_REQUEST",
    ttl_attribute: "ttl",
    stream_view_type: "NEW_AND_OLD_IMAGES",
};

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("key schema element has its required fields")
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition has its required fields")
}

/// Creates the table with its stream (and turns on its TTL attribute) on whatever endpoint the client points at.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    let mut attributes = vec![
        string_attribute(TABLE.partition_key),
        string_attribute(TABLE.sort_key),
    ];
    let mut request = client
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::from(TABLE.billing_mode))
        .key_schema(key(TABLE.partition_key, KeyType::Hash))
        .key_schema(key(TABLE.sort_key, KeyType::Range))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(TABLE.stream_view_type))
                .build()
                .expect("stream specification has its required fields"),
        );
    for index in TABLE.global_indexes {
        attributes.push(string_attribute(index.partition_key));
        attributes.push(string_attribute(index.sort_key));
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash))
                .key_schema(key(index.sort_key, KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection_type()))
                        .set_non_key_attributes(
                            index
                                .includes
                                .filter(|names| !names.is_empty())
                                .map(|names| names.iter().map(|n| n.to_string()).collect()),
                        )
                        .build(),
                )
                .build()
                .expect("index has its required fields"),
        );
    }
    request
        .set_attribute_definitions(Some(attributes))
        .send()
        .await?;
    client
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .attribute_name(TABLE.ttl_attribute)
                .enabled(true)
                .build()
                .expect("ttl specification has its required fields"),
        )
        .send()
        .await?;
    Ok(())
}
