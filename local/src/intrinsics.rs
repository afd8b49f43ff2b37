//! CloudFormation intrinsic functions (`Ref`, `Fn::GetAtt`, `Fn::Sub`) in both YAML forms, and
//! their resolution against the local stack's parameters, table and queues.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::template::Template;

/// The region and account every local resource pretends to live in.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "000000000000";

/// Values that make the template usable locally without any `--param`.
pub const BUILT_IN_PARAMETER_DEFAULTS: &[(&str, &str)] = &[
    (
        "CursorSigningKey",
        "local-cursor-signing-key-0123456789abcdef",
    ),
    ("JwtIssuer", "local"),
    ("JwtAudience", "agreements-local"),
];

/// One intrinsic function call found in the template.
#[derive(Debug, Clone, PartialEq)]
pub enum Intrinsic {
    Ref(String),
    GetAtt {
        resource: String,
        attribute: String,
    },
    Sub {
        template: String,
        variables: BTreeMap<String, Value>,
    },
    /// Any other `Fn::*`, kept by name so that the error can say which one.
    Unsupported(String),
}

impl Intrinsic {
    /// Recognises `!Ref X`, `!GetAtt X.Y`, `!Sub "..."` (and any other `!Tag`) as well as the
    /// long forms `{Ref: X}`, `{"Fn::GetAtt": [X, Y]}`, `{"Fn::Sub": "..."}`. `None` when the
    /// value is not an intrinsic; `Some(Err)` when it is one with malformed arguments.
    pub fn parse(value: &Value) -> Option<Result<Intrinsic, String>> {
        let (name, argument) = match value {
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let tag = tag.trim_start_matches('!');
                let name = if tag == "Ref" {
                    "Ref".to_string()
                } else {
                    format!("Fn::{tag}")
                };
                (name, &tagged.value)
            }
            Value::Mapping(mapping) if mapping.len() == 1 => {
                let (key, argument) = mapping.iter().next()?;
                let key = key.as_str()?;
                if key != "Ref" && !key.starts_with("Fn::") {
                    return None;
                }
                (key.to_string(), argument)
            }
            _ => return None,
        };
        Some(Self::from_parts(&name, argument))
    }

    fn from_parts(name: &str, argument: &Value) -> Result<Intrinsic, String> {
        match name {
            "Ref" => argument
                .as_str()
                .map(|s| Intrinsic::Ref(s.to_string()))
                .ok_or_else(|| "Ref needs a logical id".to_string()),
            "Fn::GetAtt" => {
                let (resource, attribute) = match argument {
                    Value::String(s) => s
                        .split_once('.')
                        .map(|(r, a)| (r.to_string(), a.to_string()))
                        .ok_or_else(|| format!("GetAtt {s:?} needs Resource.Attribute"))?,
                    Value::Sequence(items) => match items.as_slice() {
                        [Value::String(r), Value::String(a)] => (r.clone(), a.clone()),
                        _ => return Err("GetAtt needs [Resource, Attribute]".to_string()),
                    },
                    _ => return Err("GetAtt needs Resource.Attribute".to_string()),
                };
                Ok(Intrinsic::GetAtt {
                    resource,
                    attribute,
                })
            }
            "Fn::Sub" => match argument {
                Value::String(s) => Ok(Intrinsic::Sub {
                    template: s.clone(),
                    variables: BTreeMap::new(),
                }),
                Value::Sequence(items) => match items.as_slice() {
                    [Value::String(template), Value::Mapping(vars)] => {
                        let mut variables = BTreeMap::new();
                        for (key, value) in vars {
                            let key = key
                                .as_str()
                                .ok_or_else(|| "Sub variable names must be strings".to_string())?;
                            variables.insert(key.to_string(), value.clone());
                        }
                        Ok(Intrinsic::Sub {
                            template: template.clone(),
                            variables,
                        })
                    }
                    _ => Err("Sub needs a string or [string, {variables}]".to_string()),
                },
                _ => Err("Sub needs a string or [string, {variables}]".to_string()),
            },
            other => Ok(Intrinsic::Unsupported(other.to_string())),
        }
    }
}

/// Why a template value could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "parameter {0} has no value: give it a Default in the template or pass --param {0}=VALUE"
    )]
    MissingParameter(String),
    #[error(
        "!Ref {0} names nothing the local stack knows (not a parameter, table, queue or function)"
    )]
    UnknownRef(String),
    #[error("!GetAtt {resource}.{attribute} is not supported locally")]
    UnsupportedGetAtt { resource: String, attribute: String },
    #[error("intrinsic {0} is not supported locally")]
    UnsupportedIntrinsic(String),
    #[error("malformed intrinsic: {0}")]
    Malformed(String),
    #[error("{0} is neither a scalar nor an intrinsic")]
    NotAScalar(String),
}

/// Names and addresses of a local queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAddress {
    pub name: String,
    pub url: String,
    pub arn: String,
}

/// Everything a `!Ref`, `!GetAtt` or `!Sub` can resolve to locally.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// Parameter values after `--param` overrides, template defaults and built-in defaults.
    parameters: BTreeMap<String, String>,
    /// Parameters that exist but have no value; referring to one is an error.
    unset_parameters: Vec<String>,
    table: Option<(String, String)>,
    queues: BTreeMap<String, QueueAddress>,
    /// Function logical id → binary (the local function name).
    functions: BTreeMap<String, String>,
    /// Other resources a `!Ref` may name (the HTTP APIs, implicit or not); they resolve to a
    /// fixed local id.
    other_resources: Vec<String>,
}

impl Resolver {
    /// Builds a resolver for `template`. Fails when an override names an unknown parameter.
    pub fn new(
        template: &Template,
        overrides: &BTreeMap<String, String>,
        table_name: &str,
        queues: BTreeMap<String, QueueAddress>,
    ) -> Result<Self, String> {
        if let Some(unknown) = overrides
            .keys()
            .find(|name| !template.parameters.contains_key(*name))
        {
            return Err(format!(
                "--param {unknown}: the template has no parameter {unknown}"
            ));
        }
        let mut parameters = BTreeMap::new();
        let mut unset_parameters = Vec::new();
        for (name, parameter) in &template.parameters {
            let built_in = BUILT_IN_PARAMETER_DEFAULTS
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| (*v).to_string());
            match overrides
                .get(name)
                .cloned()
                .or_else(|| parameter.default.clone())
                .or(built_in)
            {
                Some(value) => {
                    parameters.insert(name.clone(), value);
                }
                None => unset_parameters.push(name.clone()),
            }
        }
        let mut other_resources: Vec<String> = template
            .raw()
            .get("Resources")
            .and_then(Value::as_mapping)
            .map(|resources| {
                resources
                    .keys()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        // SAM's implicit HTTP API is no resource of the template, yet a `!Ref` may name it.
        other_resources.extend(
            template
                .apis
                .iter()
                .filter(|api| api.implicit)
                .map(|api| api.logical_id.clone()),
        );
        Ok(Self {
            parameters,
            unset_parameters,
            table: template
                .table
                .clone()
                .map(|logical| (logical, table_name.to_string())),
            queues,
            functions: template
                .functions
                .iter()
                .map(|f| (f.logical_id.clone(), f.binary.clone()))
                .collect(),
            other_resources,
        })
    }

    /// Resolves a template value to the string an environment variable gets.
    pub fn resolve(&self, value: &Value) -> Result<String, ResolveError> {
        match Intrinsic::parse(value) {
            Some(Ok(intrinsic)) => self.resolve_intrinsic(&intrinsic),
            Some(Err(message)) => Err(ResolveError::Malformed(message)),
            None => match value {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Null => Ok(String::new()),
                other => Err(ResolveError::NotAScalar(format!("{other:?}"))),
            },
        }
    }

    fn resolve_intrinsic(&self, intrinsic: &Intrinsic) -> Result<String, ResolveError> {
        match intrinsic {
            Intrinsic::Ref(name) => self.resolve_ref(name),
            Intrinsic::GetAtt {
                resource,
                attribute,
            } => self.resolve_get_att(resource, attribute),
            Intrinsic::Sub {
                template,
                variables,
            } => self.resolve_sub(template, variables),
            Intrinsic::Unsupported(name) => Err(ResolveError::UnsupportedIntrinsic(name.clone())),
        }
    }

    fn resolve_ref(&self, name: &str) -> Result<String, ResolveError> {
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        if self.unset_parameters.iter().any(|p| p == name) {
            return Err(ResolveError::MissingParameter(name.to_string()));
        }
        if let Some((_, table_name)) = self.table.as_ref().filter(|(id, _)| id == name) {
            return Ok(table_name.clone());
        }
        if let Some(queue) = self.queues.get(name) {
            return Ok(queue.url.clone());
        }
        if let Some(binary) = self.functions.get(name) {
            return Ok(binary.clone());
        }
        match name {
            "AWS::Region" => Ok(REGION.to_string()),
            "AWS::AccountId" => Ok(ACCOUNT_ID.to_string()),
            "AWS::Partition" => Ok("aws".to_string()),
            "AWS::URLSuffix" => Ok("amazonaws.com".to_string()),
            "AWS::StackName" => Ok("local".to_string()),
            "AWS::NoValue" => Ok(String::new()),
            _ if self.other_resources.iter().any(|r| r == name) => Ok("local".to_string()),
            _ => Err(ResolveError::UnknownRef(name.to_string())),
        }
    }

    fn resolve_get_att(&self, resource: &str, attribute: &str) -> Result<String, ResolveError> {
        let unsupported = || ResolveError::UnsupportedGetAtt {
            resource: resource.to_string(),
            attribute: attribute.to_string(),
        };
        if let Some(queue) = self.queues.get(resource) {
            return match attribute {
                "Arn" => Ok(queue.arn.clone()),
                "QueueName" => Ok(queue.name.clone()),
                "QueueUrl" => Ok(queue.url.clone()),
                _ => Err(unsupported()),
            };
        }
        if let Some((_, table_name)) = self.table.as_ref().filter(|(id, _)| id == resource) {
            let arn = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{table_name}");
            return match attribute {
                "Arn" => Ok(arn),
                "StreamArn" => Ok(format!("{arn}/stream/local")),
                _ => Err(unsupported()),
            };
        }
        if let Some(binary) = self.functions.get(resource) {
            return match attribute {
                "Arn" => Ok(function_arn(binary)),
                _ => Err(unsupported()),
            };
        }
        Err(unsupported())
    }

    fn resolve_sub(
        &self,
        template: &str,
        variables: &BTreeMap<String, Value>,
    ) -> Result<String, ResolveError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| {
                ResolveError::Malformed(format!("unclosed ${{ in Sub {template:?}"))
            })?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                // `${!Name}` is CloudFormation's escape for a literal `${Name}`.
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(&self.resolve(value)?);
            } else if let Some((resource, attribute)) = name.split_once('.') {
                out.push_str(&self.resolve_get_att(resource, attribute)?);
            } else {
                out.push_str(&self.resolve_ref(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The ARN the runtime reports as the invoked function's.
pub fn function_arn(binary: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{binary}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  LogLevel: { Type: String, Default: info }
  CursorSigningKey: { Type: String }
  JwtIssuer: { Type: String }
  Needed: { Type: String }
Resources:
  HttpApi:
    Type: AWS::Serverless::HttpApi
  Table:
    Type: AWS::DynamoDB::Table
  Jobs:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: the-fn } }
    Properties: { Events: { Any: { Type: HttpApi } } }
"#;

    fn template() -> Template {
        let value: Value = serde_yaml::from_str(TEMPLATE).unwrap_or(Value::Null);
        match Template::from_value(value) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    fn resolver(overrides: &[(&str, &str)]) -> Resolver {
        let overrides = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let queues = BTreeMap::from([(
            "Jobs".to_string(),
            QueueAddress {
                name: "p-Jobs".into(),
                url: "http://q/000000000000/p-Jobs".into(),
                arn: "arn:aws:sqs:us-east-1:000000000000:p-Jobs".into(),
            },
        )]);
        match Resolver::new(&template(), &overrides, "tbl", queues) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap_or(Value::Null)
    }

    #[test]
    fn parses_short_and_long_forms() {
        for text in [
            "!GetAtt Jobs.Arn",
            "{ 'Fn::GetAtt': [Jobs, Arn] }",
            "{ 'Fn::GetAtt': Jobs.Arn }",
        ] {
            assert_eq!(
                Intrinsic::parse(&yaml(text)),
                Some(Ok(Intrinsic::GetAtt {
                    resource: "Jobs".into(),
                    attribute: "Arn".into()
                })),
                "{text}"
            );
        }
        assert_eq!(
            Intrinsic::parse(&yaml("{ Ref: X }")),
            Some(Ok(Intrinsic::Ref("X".into())))
        );
        assert_eq!(
            Intrinsic::parse(&yaml("!Join [',', [a, b]]")),
            Some(Ok(Intrinsic::Unsupported("Fn::Join".into())))
        );
        assert_eq!(Intrinsic::parse(&yaml("{ a: b }")), None);
        assert_eq!(Intrinsic::parse(&yaml("plain")), None);
    }

    #[test]
    fn resolves_refs_to_parameters_table_queues_and_pseudo_parameters() {
        let r = resolver(&[("LogLevel", "trace")]);
        assert_eq!(r.resolve(&yaml("!Ref LogLevel")), Ok("trace".into()));
        assert_eq!(
            r.resolve(&yaml("!Ref CursorSigningKey")),
            Ok("local-cursor-signing-key-0123456789abcdef".into())
        );
        assert_eq!(r.resolve(&yaml("{ Ref: JwtIssuer }")), Ok("local".into()));
        assert_eq!(r.resolve(&yaml("!Ref Table")), Ok("tbl".into()));
        assert_eq!(
            r.resolve(&yaml("!Ref Jobs")),
            Ok("http://q/000000000000/p-Jobs".into())
        );
        assert_eq!(
            r.resolve(&yaml("!GetAtt Jobs.Arn")),
            Ok("arn:aws:sqs:us-east-1:000000000000:p-Jobs".into())
        );
        assert_eq!(
            r.resolve(&yaml("!GetAtt Table.Arn")),
            Ok("arn:aws:dynamodb:us-east-1:000000000000:table/tbl".into())
        );
        assert_eq!(r.resolve(&yaml("!Ref AWS::Region")), Ok("us-east-1".into()));
        assert_eq!(r.resolve(&yaml("!Ref Fn")), Ok("the-fn".into()));
        assert_eq!(r.resolve(&yaml("!Ref HttpApi")), Ok("local".into()));
        // The implicit API of the function's route.
        assert_eq!(
            r.resolve(&yaml("!Ref ServerlessHttpApi")),
            Ok("local".into())
        );
        assert_eq!(r.resolve(&yaml("42")), Ok("42".into()));
        assert_eq!(r.resolve(&yaml("true")), Ok("true".into()));
        assert_eq!(r.resolve(&yaml("plain")), Ok("plain".into()));
    }

    #[test]
    fn template_defaults_apply_when_not_overridden() {
        let r = resolver(&[]);
        assert_eq!(r.resolve(&yaml("!Ref LogLevel")), Ok("info".into()));
    }

    #[test]
    fn resolves_sub() {
        let r = resolver(&[("Needed", "n")]);
        assert_eq!(
            r.resolve(&yaml(
                r#"!Sub "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:${Needed}/${Table.Arn}/${!Literal}""#
            )),
            Ok("arn:aws:sqs:us-east-1:000000000000:n/arn:aws:dynamodb:us-east-1:000000000000:table/tbl/${Literal}".into())
        );
        assert_eq!(
            r.resolve(&yaml(
                r#"{ "Fn::Sub": ["${X}-${Jobs}", { X: !Ref LogLevel }] }"#
            )),
            Ok("info-http://q/000000000000/p-Jobs".into())
        );
        assert!(matches!(
            r.resolve(&yaml(r#"!Sub "${Open""#)),
            Err(ResolveError::Malformed(_))
        ));
    }

    #[test]
    fn reports_what_cannot_be_resolved() {
        let r = resolver(&[]);
        assert_eq!(
            r.resolve(&yaml("!Ref Needed")),
            Err(ResolveError::MissingParameter("Needed".into()))
        );
        assert!(ResolveError::MissingParameter("Needed".into())
            .to_string()
            .contains("--param Needed="));
        assert_eq!(
            r.resolve(&yaml("!Ref Nope")),
            Err(ResolveError::UnknownRef("Nope".into()))
        );
        assert!(matches!(
            r.resolve(&yaml("!GetAtt Table.Nope")),
            Err(ResolveError::UnsupportedGetAtt { .. })
        ));
        assert!(matches!(
            r.resolve(&yaml("!Select [0, [a]]")),
            Err(ResolveError::UnsupportedIntrinsic(_))
        ));
    }

    #[test]
    fn rejects_overrides_of_unknown_parameters() {
        let overrides = BTreeMap::from([("Typo".to_string(), "x".to_string())]);
        let error = Resolver::new(&template(), &overrides, "t", BTreeMap::new()).err();
        assert!(error.is_some_and(|e| e.contains("Typo")));
    }
}
