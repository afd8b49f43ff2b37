//! template.yaml against the code: the table matches the schema the code creates, and every
//! function crate is deployed, built by cargo-lambda and routed once.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::workspace_root;
use serde_yaml::Value;
use shared::store::schema::TABLE;

/// An index as (name, key schema, projection).
type Index = (String, Vec<(String, String)>, String);

fn template() -> Value {
    let path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

fn resources(t: &Value) -> BTreeMap<String, Value> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.clone()))
        .collect()
}

fn key_schema(v: &Value) -> Vec<(String, String)> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .map(|k| {
                    (
                        k["AttributeName"].as_str().unwrap_or_default().to_string(),
                        k["KeyType"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_table_in_template_yaml_is_the_table_in_code() {
    let t = template();
    let tables: Vec<Value> = resources(&t)
        .into_values()
        .filter(|r| r["Type"] == "AWS::DynamoDB::Table")
        .collect();
    assert_eq!(tables.len(), 1, "one table, single-table design");
    let p = &tables[0]["Properties"];

    assert_eq!(p["BillingMode"].as_str(), Some(TABLE.billing_mode));
    assert_eq!(
        key_schema(&p["KeySchema"]),
        vec![
            (TABLE.partition_key.to_string(), "HASH".to_string()),
            (TABLE.sort_key.to_string(), "RANGE".to_string())
        ]
    );
    let gsis: Vec<Index> = p["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("GlobalSecondaryIndexes")
        .iter()
        .map(|g| {
            (
                g["IndexName"].as_str().unwrap_or_default().to_string(),
                key_schema(&g["KeySchema"]),
                g["Projection"]["ProjectionType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let expected: Vec<Index> = TABLE
        .global_indexes
        .iter()
        .map(|i| {
            (
                i.name.to_string(),
                vec![
                    (i.partition_key.to_string(), "HASH".to_string()),
                    (i.sort_key.to_string(), "RANGE".to_string()),
                ],
                "ALL".to_string(),
            )
        })
        .collect();
    assert_eq!(gsis, expected);

    let mut defined: Vec<(String, String)> = p["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or_default().to_string(),
                a["AttributeType"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    defined.sort();
    let mut keys: Vec<(String, String)> = [TABLE.partition_key, TABLE.sort_key]
        .into_iter()
        .chain(
            TABLE
                .global_indexes
                .iter()
                .flat_map(|i| [i.partition_key, i.sort_key]),
        )
        .map(|k| (k.to_string(), "S".to_string()))
        .collect();
    keys.sort();
    assert_eq!(defined, keys);

    assert_eq!(
        p["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(TABLE.ttl_attribute)
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        Value::Bool(true)
    );
}

#[test]
fn every_function_crate_is_deployed_once_and_built_by_cargo_lambda() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"][0], "arm64");

    let mut binaries = BTreeSet::new();
    let mut routes = BTreeSet::new();
    for (name, r) in resources(&t) {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names no Binary"))
            .to_string();
        assert!(binaries.insert(binary.clone()), "{binary} deployed twice");
        if let Some(events) = r["Properties"]["Events"].as_mapping() {
            for e in events.values() {
                if e["Type"] == "HttpApi" {
                    let route = format!(
                        "{} {}",
                        e["Properties"]["Method"].as_str().unwrap_or_default(),
                        e["Properties"]["Path"].as_str().unwrap_or_default()
                    );
                    assert!(routes.insert(route.clone()), "{route} routed twice");
                }
            }
        }
    }
    let crates: BTreeSet<String> = std::fs::read_dir(workspace_root().join("functions"))
        .expect("functions/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        binaries, crates,
        "template.yaml's functions and functions/ differ"
    );
}
