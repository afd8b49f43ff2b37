//! docs/openapi.yaml as the judge of every answer the HTTP tests get: the route's operation must
//! list the status, the content type must be one it names for that status, and the body must
//! match that content's schema (JSON Schema 2020-12, `$ref`s into the spec's `components`).
//! An answer to a path that is no route of the spec (the local stack's `/_local/...`, an unknown
//! route) is not judged here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};

use crate::workspace_root;

/// The spec, read once.
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = workspace_root().join("docs").join("openapi.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("docs/openapi.yaml: {e}"))
    })
}

/// The spec's routes as (upper-case method, path template).
pub fn routes() -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in spec()["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            routes.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    routes
}

/// The spec's path template a request path falls under: the one with the most literal segments
/// among those that match (a `{name}` segment matches any one non-empty segment).
fn template_of(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut best: Option<(usize, String)> = None;
    for template in spec()["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(t, _)| t)
    {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literals = 0;
        let matches = parts.iter().zip(&segments).all(|(part, segment)| {
            if part.starts_with('{') && part.ends_with('}') {
                !segment.is_empty()
            } else {
                literals += 1;
                part == segment
            }
        });
        if matches && best.as_ref().is_none_or(|(n, _)| literals > *n) {
            best = Some((literals, template.clone()));
        }
    }
    best.map(|(_, template)| template)
}

/// Follows a `$ref` to a `#/components/...` object of the spec.
fn resolved(value: &Value) -> &Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(pointer) => spec()
            .pointer(pointer.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => value,
    }
}

type Validators = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;

fn validator(key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
    static CACHE: OnceLock<Validators> = OnceLock::new();
    let cache = CACHE.get_or_init(Validators::default);
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(key).cloned()) {
        return Ok(found);
    }
    // The schema sits in a document that also holds the spec's components, where its `$ref`s
    // point.
    let document = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": spec()["components"],
        "allOf": [schema],
    });
    let compiled = Arc::new(
        jsonschema::draft202012::new(&document)
            .map_err(|e| format!("the spec's schema for {key} does not compile: {e}"))?,
    );
    if let Ok(mut cache) = cache.lock() {
        cache.insert(key.to_string(), compiled.clone());
    }
    Ok(compiled)
}

/// Judges one answer against the spec. `path` is the request's path (no query);
/// `content_type` the answer's header, if any.
pub fn check_answer(
    method: &str,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    body: &str,
) -> Result<(), String> {
    let Some(template) = template_of(path) else {
        return Ok(());
    };
    let method = method.to_ascii_lowercase();
    let route = format!("{} {template}", method.to_ascii_uppercase());
    let Some(operation) = spec()["paths"][&template].get(&method) else {
        // A method the API has no route for: API Gateway's 404, not an answer of the contract.
        return Ok(());
    };
    let Some(response) = operation["responses"].get(status.to_string()).map(resolved) else {
        return Err(format!(
            "{route} answered {status}, a status docs/openapi.yaml does not list for it: {body}"
        ));
    };
    let Some(contents) = response.get("content").and_then(Value::as_object) else {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{route} {status}: the spec says no body, the answer has one: {body}"
            ))
        };
    };
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let Some(content) = contents.get(&essence) else {
        return Err(format!(
            "{route} {status}: content type {essence:?} is not one of {:?}: {body}",
            contents.keys().collect::<Vec<_>>()
        ));
    };
    let Some(schema) = content.get("schema") else {
        return Ok(());
    };
    let instance: Value = if essence == "application/json" || essence.ends_with("+json") {
        serde_json::from_str(body)
            .map_err(|e| format!("{route} {status}: the body is not JSON ({e}): {body}"))?
    } else {
        Value::String(body.to_string())
    };
    let key = format!("{route} {status} {essence}");
    let validator = validator(&key, schema)?;
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{key}: the answer does not match docs/openapi.yaml:\n  {}\n{instance}",
            errors.join("\n  ")
        ))
    }
}

/// [`check_answer`], failing the test on a mismatch.
pub fn assert_answer(
    method: &str,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    body: &str,
) {
    if let Err(why) = check_answer(method, path, status, content_type, body) {
        panic!("{why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_falls_under_its_template() {
        assert_eq!(
            template_of("/provider-accounts/import").as_deref(),
            Some("/provider-accounts/import")
        );
        assert_eq!(
            template_of("/agreements/01J0000000000000000000000A/history").as_deref(),
            Some("/agreements/{id}/history")
        );
        assert_eq!(template_of("/_local/outbox"), None);
    }

    #[test]
    fn the_judge_refuses_what_the_spec_does_not_say() {
        let provider = json!({"id": "01J0000000000000000000000A", "name": "n", "kind": "manual",
            "platform": "other", "syncs_agreements": false, "attestation_method": "enhanced",
            "provider_account_count": 0,
            "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
            "version": 1});
        let ok = |status, ct: &str, body: &Value| {
            check_answer("GET", "/providers/x", status, Some(ct), &body.to_string())
        };
        assert_eq!(ok(200, "application/json", &provider), Ok(()));
        let mut extra = provider.clone();
        extra["secret"] = json!(1);
        assert!(
            ok(200, "application/json", &extra).is_err(),
            "an unknown field"
        );
        let mut wrong = provider.clone();
        wrong["kind"] = json!("robot");
        assert!(ok(200, "application/json", &wrong).is_err(), "an enum");
        let mut missing = provider.clone();
        missing.as_object_mut().map(|o| o.remove("version"));
        assert!(
            ok(200, "application/json", &missing).is_err(),
            "a required field"
        );
        assert!(ok(200, "text/plain", &provider).is_err(), "a content type");
        assert!(ok(201, "application/json", &provider).is_err(), "a status");
        assert_eq!(
            ok(401, "application/json", &json!({"message": "Unauthorized"})),
            Ok(())
        );
        assert!(ok(401, "application/json", &json!({"message": "Forbidden"})).is_err());
        let problem = json!({"type": "about:blank", "title": "Not Found", "status": 404,
            "detail": "no provider x", "code": "not_found"});
        assert_eq!(ok(404, "application/problem+json", &problem), Ok(()));
        assert!(ok(404, "application/json", &problem).is_err());
        let mut wrong_code = problem.clone();
        wrong_code["code"] = json!("conflict");
        assert!(ok(404, "application/problem+json", &wrong_code).is_err());
        assert_eq!(
            check_answer("DELETE", "/billing-contracts/a/agreements/b", 204, None, ""),
            Ok(())
        );
        assert!(check_answer(
            "DELETE",
            "/billing-contracts/a/agreements/b",
            204,
            None,
            "x"
        )
        .is_err());
    }
}
