//! template.yaml against the code: the table matches the schema the code creates, every
//! function crate is deployed, built by cargo-lambda and routed once, and every policy names the
//! actions it allows.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::workspace_root;
use local_stack::template::Template;
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
                format!(
                    "{} {:?}",
                    g["Projection"]["ProjectionType"]
                        .as_str()
                        .unwrap_or_default(),
                    g["Projection"]["NonKeyAttributes"]
                        .as_sequence()
                        .map(|names| names
                            .iter()
                            .map(|n| n.as_str().unwrap_or_default().to_string())
                            .collect::<Vec<_>>())
                        .unwrap_or_default()
                ),
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
                format!(
                    "{} {:?}",
                    i.projection_type(),
                    i.includes
                        .unwrap_or_default()
                        .iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                ),
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
    assert_eq!(
        p["StreamSpecification"]["StreamViewType"].as_str(),
        Some(TABLE.stream_view_type)
    );
}

#[test]
fn every_function_crate_is_deployed_once_and_built_by_cargo_lambda() {
    let t = template();
    // The local stack's reading: each function with Globals.Function merged in, and its routes.
    let parsed = Template::load(workspace_root().join("template.yaml")).expect("template.yaml");
    let mut binaries = BTreeSet::new();
    let mut routes = BTreeSet::new();
    for function in &parsed.functions {
        let name = &function.logical_id;
        let runtime = (
            function.property("CodeUri"),
            function.property("Runtime"),
            function.property("Architectures"),
        );
        let expected: (Value, Value, Value) =
            (".".into(), "provided.al2023".into(), vec!["arm64"].into());
        assert_eq!(
            runtime,
            (Some(&expected.0), Some(&expected.1), Some(&expected.2)),
            "{name}"
        );
        let metadata = &resources(&t)[name]["Metadata"];
        assert_eq!(metadata["BuildMethod"], "rust-cargolambda", "{name}");
        assert_eq!(
            metadata["BuildProperties"]["Binary"],
            function.binary.as_str(),
            "{name}"
        );
        assert!(
            binaries.insert(function.binary.clone()),
            "{} deployed twice",
            function.binary
        );
        for event in &function.http_events {
            let route = format!("{} {}", event.method, event.path);
            assert!(routes.insert(route.clone()), "{route} routed twice");
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

/// The SAM policy templates that grant exactly one named action on the one resource they are
/// given, and so stay least privilege. (The DynamoDB and SQS ones grant more than a function
/// calls, e.g. `dynamodb:Scan` or `sqs:SendMessage*`.)
const EXACT_POLICY_TEMPLATES: &[&str] = &["AWSSecretsManagerGetSecretValuePolicy"];

#[test]
fn policies_name_every_action_they_allow() {
    let t = template();
    for (name, r) in resources(&t) {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        for policy in r["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let policy = policy.as_mapping().expect("a policy is a mapping");
            let kind = policy
                .keys()
                .next()
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind != "Statement" {
                assert!(
                    policy.len() == 1 && EXACT_POLICY_TEMPLATES.contains(&kind),
                    "{name}: policy {kind} may grant more than the function calls"
                );
                continue;
            }
            for statement in policy["Statement"].as_sequence().expect("Statement list") {
                assert_eq!(statement["Effect"], "Allow", "{name}");
                for action in statement["Action"].as_sequence().expect("Action list") {
                    let action = action.as_str().unwrap_or_default();
                    assert!(
                        action.split_once(':').is_some_and(|(service, call)| {
                            !service.is_empty() && !call.is_empty() && !action.contains('*')
                        }),
                        "{name}: {action:?} is not one named action"
                    );
                }
            }
        }
    }
}

/// Lists of GSI1 and GSI3 read the keys there and the items with BatchGetItem on the table: a
/// function allowed to Query one of them must be allowed that too (IAM is not enforced locally).
#[test]
fn every_function_that_queries_a_keys_first_index_may_batch_get_the_table() {
    let t = template();
    let text = |v: &Value| serde_yaml::to_string(v).unwrap_or_default();
    for (name, r) in resources(&t) {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let mut queries_keys_first = false;
        let mut batch_gets_table = false;
        for policy in r["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                let actions = text(&statement["Action"]);
                let resources: Vec<String> = statement["Resource"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect();
                if actions.contains("dynamodb:Query")
                    && resources.iter().any(|r| {
                        ["index/GSI1", "index/GSI3", "index/*"]
                            .iter()
                            .any(|i| r.contains(i))
                    })
                {
                    queries_keys_first = true;
                }
                if actions.contains("dynamodb:BatchGetItem")
                    && resources
                        .iter()
                        .any(|r| r.contains("AgreementsTable.Arn") && !r.contains("index"))
                {
                    batch_gets_table = true;
                }
            }
        }
        assert!(
            !queries_keys_first || batch_gets_table,
            "{name} queries GSI1 or GSI3 but may not BatchGetItem the table's items"
        );
    }
}

#[test]
fn no_secret_travels_in_an_environment_variable() {
    let t = template();
    let parameters = t["Parameters"].as_mapping().expect("Parameters");
    for (name, parameter) in parameters {
        assert_ne!(
            parameter["NoEcho"],
            Value::Bool(true),
            "parameter {name:?} is a secret; generate it into Secrets Manager instead"
        );
    }
    let resources = resources(&t);
    let parsed = Template::load(workspace_root().join("template.yaml")).expect("template.yaml");
    for function in &parsed.functions {
        let name = &function.logical_id;
        for variable in function.environment.keys() {
            let looks_secret = ["SECRET", "PASSWORD", "_KEY"]
                .iter()
                .any(|word| variable.contains(word));
            assert!(
                !looks_secret || variable.ends_with("_SECRET_ARN"),
                "{name}: {variable} looks like a secret; pass its secret's ARN (…_SECRET_ARN)"
            );
        }
        // The cursor key's secret (Globals) is readable by every function that builds the
        // shared context; publish-events (the stream to EventBridge) and portal-page (a static
        // page) do not, so they may not.
        assert_eq!(
            function.environment.get("CURSOR_KEY_SECRET_ARN"),
            Some(&serde_yaml::from_str::<Value>("!Ref CursorKey").expect("YAML")),
            "{name}"
        );
        let policies = &resources[name]["Properties"]["Policies"];
        let reads_cursor_key = policies.as_sequence().into_iter().flatten().any(|p| {
            p["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]
                == serde_yaml::from_str::<Value>("!Ref CursorKey").expect("YAML")
        });
        let needs_cursor_key = !matches!(
            name.as_str(),
            "PublishEventsFunction" | "PortalPageFunction"
        );
        assert_eq!(
            reads_cursor_key, needs_cursor_key,
            "{name}: reads the CursorKey secret: {reads_cursor_key}, needs it: {needs_cursor_key}"
        );
    }
    let key = &resources["CursorKey"];
    assert_eq!(key["Type"], "AWS::SecretsManager::Secret");
    assert!(key["Properties"]["GenerateSecretString"]["PasswordLength"]
        .as_u64()
        .is_some_and(|n| n >= 32));
}
