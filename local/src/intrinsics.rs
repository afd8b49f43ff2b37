//! CloudFormation intrinsic functions (`Ref`, `Fn::GetAtt`, `Fn::Sub`) in both YAML forms, and
//! their resolution against the local stack's parameters, table and queues.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::template::Template;

/// The region and account every local resource pretends to live in.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "000000000000";

/// The `iss` the local JWT authorizer accepts unless `--param JwtIssuer=...` says otherwise.
pub const LOCAL_JWT_ISSUER: &str = "local";
/// The `aud` the local JWT authorizer accepts unless `--param JwtAudience=...` says otherwise.
pub const LOCAL_JWT_AUDIENCE: &str = "agreements-local";

/// Values that make the template usable locally without any `--param`, for parameters the
/// template gives no `Default`.
pub const BUILT_IN_PARAMETER_DEFAULTS: &[(&str, &str)] = &[
    ("JwtIssuer", LOCAL_JWT_ISSUER),
    ("JwtAudience", LOCAL_JWT_AUDIENCE),
    ("EmailSender", "Agreements <agreements@agreements.local>"),
];

/// Values the local stack gives parameters in place of the template's own `Default` (whose
/// value suits AWS, not a local run). An explicit `--param` still wins. The customer identity
/// provider's parameters are in this tier too, set by [`local_parameter_values`] since their
/// JWKS URL names the stack's own port.
pub const LOCAL_PARAMETER_VALUES: &[(&str, &str)] = &[
    // The template's "" creates no identity; locally SES (moto) needs the sender's domain
    // created (and so verified) to send at all.
    ("EmailIdentityToCreate", "agreements.local"),
];

/// Every value the local stack gives in place of a template `Default`: [`LOCAL_PARAMETER_VALUES`]
/// and the local customer identity provider's issuer, audience and JWKS (served by the stack
/// at `base_url`).
pub fn local_parameter_values(base_url: &str) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = LOCAL_PARAMETER_VALUES
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    for (name, value) in [
        ("CustomerIdpIssuer", crate::customer_idp::ISSUER.to_string()),
        (
            "CustomerIdpAudience",
            crate::customer_idp::AUDIENCE.to_string(),
        ),
        (
            "CustomerIdpJwksUrl",
            format!(
                "{}{}",
                base_url.trim_end_matches('/'),
                crate::customer_idp::JWKS_PATH
            ),
        ),
    ] {
        values.insert(name.to_string(), value);
    }
    values
}

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
        "!Ref {0} names nothing the local stack knows (not a parameter, table, queue, secret or function)"
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
    /// Generated secret logical id → ARN.
    secrets: BTreeMap<String, String>,
    /// S3 bucket logical id → bucket name.
    buckets: BTreeMap<String, String>,
    /// The HTTP APIs' logical ids (the implicit one too), whose `ApiEndpoint` is `api_endpoint`.
    apis: Vec<String>,
    /// The local HTTP API's base URL, once it listens.
    api_endpoint: Option<String>,
    /// Other resources a `!Ref` may name (the HTTP APIs, implicit or not); they resolve to a
    /// fixed local id.
    other_resources: Vec<String>,
}

impl Resolver {
    /// Builds a resolver for `template`. A parameter's value is its override, else its local
    /// value (`local_values`, see [`local_parameter_values`]), else its template `Default`, else
    /// its [`BUILT_IN_PARAMETER_DEFAULTS`] entry. Fails when an override names an unknown
    /// parameter.
    pub fn new(
        template: &Template,
        overrides: &BTreeMap<String, String>,
        local_values: &BTreeMap<String, String>,
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
                .or_else(|| local_values.get(name))
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
            secrets: BTreeMap::new(),
            buckets: BTreeMap::new(),
            apis: template.apis.iter().map(|a| a.logical_id.clone()).collect(),
            api_endpoint: None,
            other_resources,
        })
    }

    /// `!Ref` of these secrets (logical id → ARN) is their ARN.
    pub fn with_secrets(mut self, secrets: BTreeMap<String, String>) -> Self {
        self.secrets = secrets;
        self
    }

    /// `!Ref` of these buckets (logical id → name) is their name, `!GetAtt X.Arn` their ARN.
    pub fn with_buckets(mut self, buckets: BTreeMap<String, String>) -> Self {
        self.buckets = buckets;
        self
    }

    /// `!GetAtt <HttpApi>.ApiEndpoint` of every HTTP API is `base_url`, where the local API
    /// listens.
    pub fn with_api_endpoint(mut self, base_url: &str) -> Self {
        self.api_endpoint = Some(base_url.trim_end_matches('/').to_string());
        self
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
        if let Some(arn) = self.secrets.get(name) {
            return Ok(arn.clone());
        }
        if let Some(bucket) = self.buckets.get(name) {
            return Ok(bucket.clone());
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
        if let Some(bucket) = self.buckets.get(resource) {
            return match attribute {
                "Arn" => Ok(format!("arn:aws:s3:::{bucket}")),
                _ => Err(unsupported()),
            };
        }
        if let Some(binary) = self.functions.get(resource) {
            return match attribute {
                "Arn" => Ok(function_arn(binary)),
                _ => Err(unsupported()),
            };
        }
        if self.apis.iter().any(|api| api == resource) {
            return match (attribute, &self.api_endpoint) {
                ("ApiEndpoint", Some(endpoint)) => Ok(endpoint.clone()),
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
  JwtAudience: { Type: String }
  JwtIssuer: { Type: String }
  Needed: { Type: String }
  EmailSender: { Type: String }
  EmailIdentityToCreate: { Type: String, Default: "" }
  CustomerIdpJwksUrl: { Type: String, Default: "" }
Resources:
  HttpApi:
    Type: AWS::Serverless::HttpApi
  Key:
    Type: AWS::SecretsManager::Secret
    Properties: { GenerateSecretString: { PasswordLength: 8 } }
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
        match Resolver::new(
            &template(),
            &overrides,
            &local_parameter_values("http://127.0.0.1:3000"),
            "tbl",
            queues,
        ) {
            Ok(r) => r
                .with_secrets(BTreeMap::from([(
                    "Key".to_string(),
                    "arn:aws:secretsmanager:us-east-1:000000000000:secret:p-Key-AbCdEf".to_string(),
                )]))
                .with_api_endpoint("http://127.0.0.1:3000/"),
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
            r.resolve(&yaml("!Ref JwtAudience")),
            Ok("agreements-local".into())
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
    fn local_values_replace_template_defaults_and_lose_to_overrides() {
        let r = resolver(&[]);
        assert_eq!(
            r.resolve(&yaml("!Ref EmailSender")),
            Ok("Agreements <agreements@agreements.local>".into())
        );
        assert_eq!(
            r.resolve(&yaml("!Ref EmailIdentityToCreate")),
            Ok("agreements.local".into())
        );
        assert_eq!(
            r.resolve(&yaml("!Ref CustomerIdpJwksUrl")),
            Ok("http://127.0.0.1:3000/_local/customer-idp/jwks.json".into())
        );
        let r = resolver(&[
            ("EmailIdentityToCreate", ""),
            ("EmailSender", "a@b.example"),
        ]);
        assert_eq!(
            r.resolve(&yaml("!Ref EmailIdentityToCreate")),
            Ok("".into())
        );
        assert_eq!(
            r.resolve(&yaml("!Ref EmailSender")),
            Ok("a@b.example".into())
        );
    }

    #[test]
    fn resolves_secrets_and_api_endpoints() {
        let r = resolver(&[]);
        assert_eq!(
            r.resolve(&yaml("!Ref Key")),
            Ok("arn:aws:secretsmanager:us-east-1:000000000000:secret:p-Key-AbCdEf".into())
        );
        assert_eq!(
            r.resolve(&yaml("!GetAtt HttpApi.ApiEndpoint")),
            Ok("http://127.0.0.1:3000".into())
        );
        // SAM's implicit API, inside a Sub.
        assert_eq!(
            r.resolve(&yaml(r#"!Sub "${ServerlessHttpApi.ApiEndpoint}/portal""#)),
            Ok("http://127.0.0.1:3000/portal".into())
        );
        assert!(matches!(
            r.resolve(&yaml("!GetAtt HttpApi.Nope")),
            Err(ResolveError::UnsupportedGetAtt { .. })
        ));
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
        let error = Resolver::new(
            &template(),
            &overrides,
            &BTreeMap::new(),
            "t",
            BTreeMap::new(),
        )
        .err();
        assert!(error.is_some_and(|e| e.contains("Typo")));
    }
}
