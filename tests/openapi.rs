//! docs/openapi.yaml against template.yaml: the spec names exactly the routes the template
//! serves, guards them as the template does, and every schema of every answer compiles (each
//! `$ref` resolves). That each answer the HTTP tests get matches it is checked in
//! `integration_tests::api::Api::send` (tests/support/openapi.rs).

use std::collections::BTreeSet;

use integration_tests::openapi::{check_answer, routes, spec};
use integration_tests::workspace_root;
use local_stack::template::{RouteAuth, Template};
use serde_json::Value;

fn template() -> Template {
    Template::load(workspace_root().join("template.yaml")).expect("template.yaml")
}

#[test]
fn the_spec_names_every_route_of_the_template_and_no_other() {
    let served: BTreeSet<(String, String)> = template()
        .functions
        .iter()
        .flat_map(|f| f.http_events.iter())
        .map(|e| (e.method.clone(), e.path.clone()))
        .collect();
    let documented: BTreeSet<(String, String)> = routes().into_iter().collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes of template.yaml missing from docs/openapi.yaml: {missing:?}; \
         routes of docs/openapi.yaml that template.yaml lacks: {extra:?}"
    );
    assert!(served.len() >= 39, "{served:?}");
}

#[test]
fn the_spec_guards_each_route_as_the_template_does() {
    for function in &template().functions {
        for event in &function.http_events {
            let operation = &spec()["paths"][&event.path][event.method.to_ascii_lowercase()];
            let route = format!("{} {}", event.method, event.path);
            let schemes: Vec<&str> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_object()?.keys().next().map(String::as_str))
                .collect();
            let expected: &[&str] = match &event.auth {
                RouteAuth::Public => &[],
                RouteAuth::Jwt { .. } => &["staff"],
                RouteAuth::Lambda { .. } => &["portalLinkToken", "customerIdp"],
            };
            assert_eq!(schemes, expected, "{route}");
            let responses = &operation["responses"];
            assert!(responses.get("500").is_some(), "{route} lists no 500");
            if !matches!(event.auth, RouteAuth::Public) {
                // API Gateway's own refusal, before any function runs.
                assert_eq!(
                    check_answer(
                        &event.method,
                        &event.path,
                        401,
                        Some("application/json"),
                        r#"{"message":"Unauthorized"}"#
                    ),
                    Ok(()),
                    "{route}"
                );
            }
            if matches!(event.auth, RouteAuth::Lambda { .. }) {
                assert_eq!(
                    check_answer(
                        &event.method,
                        &event.path,
                        403,
                        Some("application/json"),
                        r#"{"message":"Forbidden"}"#
                    ),
                    Ok(()),
                    "{route}"
                );
            }
        }
    }
}

#[test]
fn every_answer_schema_compiles() {
    let mut checked = 0;
    for (path, item) in spec()["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            for (status, _) in operation["responses"].as_object().into_iter().flatten() {
                let status: u16 = status.parse().expect("a numeric status");
                // Any body: what matters is that the schema compiles (a dangling `$ref` does not).
                let outcome = check_answer(method, path, status, Some("application/json"), "{}");
                if let Err(why) = &outcome {
                    assert!(!why.contains("does not compile"), "{why}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "{checked}");
}

#[test]
fn the_spec_is_openapi_3_1_and_restates_the_contract() {
    assert_eq!(spec()["openapi"], "3.1.0");
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    assert!(
        readme.contains("docs/openapi.yaml"),
        "README links the spec"
    );
    // The contract's error words are the spec's.
    let codes: Vec<&str> = spec()["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let api_md = std::fs::read_to_string(workspace_root().join("docs/api.md")).expect("api.md");
    for code in &codes {
        assert!(
            api_md.contains(&format!("`{code}`")),
            "{code} is not in docs/api.md"
        );
    }
    assert!(codes.contains(&"validation_failed") && codes.contains(&"internal"));
}
