//! SAM's `Globals` section: `Globals.Function` and `Globals.HttpApi` merged into each function's
//! and each HTTP API's properties by SAM's rules.

use serde_yaml::{Mapping, Value};

use super::{invalid, TemplateError};

/// The `Globals` sections the local stack reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Globals {
    function: Option<Value>,
    http_api: Option<Value>,
}

impl Globals {
    /// Reads `Globals.Function` and `Globals.HttpApi` of a template (each may be absent).
    pub(super) fn parse(raw: &Value) -> Result<Self, TemplateError> {
        let section = |name: &str| -> Result<Option<Value>, TemplateError> {
            match raw.get("Globals").and_then(|g| g.get(name)) {
                None | Some(Value::Null) => Ok(None),
                Some(value @ Value::Mapping(_)) => Ok(Some(value.clone())),
                Some(_) => Err(invalid(format!("Globals.{name} is not a mapping"))),
            }
        };
        Ok(Self {
            function: section("Function")?,
            http_api: section("HttpApi")?,
        })
    }

    /// A function's `Properties` with `Globals.Function` merged in.
    pub(super) fn function(&self, own: Option<&Value>) -> Result<Mapping, TemplateError> {
        apply(self.function.as_ref(), own)
    }

    /// An HTTP API's `Properties` with `Globals.HttpApi` merged in (`own` is `None` for SAM's
    /// implicit API, which has nothing but Globals).
    pub(super) fn http_api(&self, own: Option<&Value>) -> Result<Mapping, TemplateError> {
        apply(self.http_api.as_ref(), own)
    }
}

fn apply(global: Option<&Value>, own: Option<&Value>) -> Result<Mapping, TemplateError> {
    let own = match own {
        None | Some(Value::Null) => None,
        Some(value @ Value::Mapping(_)) => Some(value),
        Some(_) => return Err(invalid("Properties is not a mapping")),
    };
    let merged = match (global, own) {
        (None, None) => return Ok(Mapping::new()),
        (Some(value), None) | (None, Some(value)) => value.clone(),
        (Some(global), Some(own)) => merge(global, own),
    };
    Ok(merged.as_mapping().cloned().unwrap_or_default())
}

/// How SAM's Globals merge sees a value.
enum Shape<'a> {
    Map(&'a Mapping),
    List(&'a [Value]),
    /// Scalars, and intrinsic functions (`!Ref X` or `{Ref: X}`), which merge as one value.
    Primitive,
}

fn shape(value: &Value) -> Shape<'_> {
    match value {
        Value::Mapping(mapping) if !is_intrinsic(mapping) => Shape::Map(mapping),
        Value::Sequence(items) => Shape::List(items),
        _ => Shape::Primitive,
    }
}

/// `{Ref: X}`, `{Condition: X}` and `{"Fn::...": ...}`, as SAM recognises them.
fn is_intrinsic(mapping: &Mapping) -> bool {
    mapping.len() == 1
        && mapping
            .keys()
            .next()
            .and_then(Value::as_str)
            .is_some_and(|key| key == "Ref" || key == "Condition" || key.starts_with("Fn::"))
}

/// SAM's merge of a global value with a resource's own: two mappings merge key by key
/// (recursively), two lists concatenate (globals first), anything else is the resource's own.
pub(super) fn merge(global: &Value, own: &Value) -> Value {
    match (shape(global), shape(own)) {
        (Shape::Map(global), Shape::Map(own)) => {
            let mut merged = global.clone();
            for (key, value) in own {
                let value = match merged.get(key) {
                    Some(global_value) => merge(global_value, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), value);
            }
            Value::Mapping(merged)
        }
        (Shape::List(global), Shape::List(own)) => {
            Value::Sequence(global.iter().chain(own).cloned().collect())
        }
        _ => own.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        match serde_yaml::from_str(text) {
            Ok(value) => value,
            Err(error) => panic!("{error}: {text}"),
        }
    }

    #[test]
    fn merges_like_sam() {
        let global = yaml(
            "{ CodeUri: ., Timeout: 10, Architectures: [arm64], Layers: [a],
               Environment: { Variables: { A: global, B: global } }, Tags: { t: 1 } }",
        );
        let own = yaml(
            "{ Timeout: 29, Layers: [b], Environment: { Variables: { B: own, C: own } },
               Tags: !Ref NoTags, Description: d }",
        );
        let merged = merge(&global, &own);
        let expected = yaml(
            "{ CodeUri: ., Timeout: 29, Architectures: [arm64], Layers: [a, b],
               Environment: { Variables: { A: global, B: own, C: own } }, Tags: !Ref NoTags,
               Description: d }",
        );
        assert_eq!(merged, expected);
    }

    #[test]
    fn intrinsics_merge_as_one_value() {
        // A long-form intrinsic is not a mapping to merge into: the resource's own wins whole.
        let merged = merge(
            &yaml("{ Role: { 'Fn::GetAtt': [R, Arn] } }"),
            &yaml("{ Role: { Ref: Other } }"),
        );
        assert_eq!(merged, yaml("{ Role: { Ref: Other } }"));
        let merged = merge(&yaml("{ Env: { Ref: X } }"), &yaml("{ Env: { A: b } }"));
        assert_eq!(merged, yaml("{ Env: { A: b } }"));
    }

    #[test]
    fn applies_function_and_http_api_globals() {
        let raw = yaml(
            "Globals:
               Function: { CodeUri: ., Runtime: provided.al2023, Timeout: 10 }
               HttpApi: { Auth: { DefaultAuthorizer: Jwt, Authorizers: { Jwt: { JwtConfiguration: {} } } } }",
        );
        let globals = Globals::parse(&raw).unwrap_or_else(|e| panic!("{e}"));
        let function = globals
            .function(Some(&yaml("{ Timeout: 29 }")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Value::Mapping(function),
            yaml("{ CodeUri: ., Runtime: provided.al2023, Timeout: 29 }")
        );
        let without_own = globals.function(None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(without_own.get("Timeout"), Some(&Value::from(10)));
        let api = globals
            .http_api(Some(&yaml("{ Auth: { DefaultAuthorizer: Other } }")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Value::Mapping(api),
            yaml("{ Auth: { DefaultAuthorizer: Other, Authorizers: { Jwt: { JwtConfiguration: {} } } } }")
        );
        assert_eq!(Globals::parse(&yaml("{}")).ok(), Some(Globals::default()));
        assert!(Globals::parse(&yaml("Globals: { Function: [] }")).is_err());
        assert!(globals.function(Some(&yaml("[1]"))).is_err());
    }
}
