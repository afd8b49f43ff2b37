//! Reads a SAM template into what the local stack runs: parameters, functions with their HTTP
//! routes and SQS triggers, queues, and the table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::intrinsics::Intrinsic;

/// SAM's own defaults, used when neither the function nor `Globals.Function` sets a value.
const SAM_DEFAULT_TIMEOUT_SECS: u64 = 3;
const SAM_DEFAULT_MEMORY_MB: u64 = 128;
/// Lambda's default for an SQS event source mapping.
const DEFAULT_SQS_BATCH_SIZE: u32 = 10;

/// Why a template could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template {path} is not valid YAML: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("template: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(message.into())
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    /// `Default`, as a string (numbers and booleans are stringified like CloudFormation does).
    pub default: Option<String>,
}

/// Who may call an HTTP route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    /// `Auth.Authorizer: NONE`, or an API without a default authorizer.
    Public,
    /// The JWT authorizer (the API's default, or the one the event names).
    Jwt { authorizer: String },
}

/// An `HttpApi` event of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpEvent {
    pub name: String,
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// The route's path template (`/providers/{id}`), or `$default`.
    pub path: String,
    pub auth: RouteAuth,
}

/// An `SQS` event of a function: an event source mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsEventSource {
    pub name: String,
    /// Logical id of the queue the mapping polls.
    pub queue: String,
    pub batch_size: u32,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// `ScalingConfig.MaximumConcurrency`.
    pub maximum_concurrency: Option<u32>,
    /// `Enabled: false` turns the mapping off.
    pub enabled: bool,
}

/// An event the local stack does not run (schedules and anything else unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredEvent {
    pub function: String,
    pub name: String,
    pub event_type: String,
}

/// An `AWS::Serverless::Function`.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the cargo binary that implements the function.
    pub binary: String,
    /// `Environment.Variables` merged over `Globals.Function`, unresolved.
    pub environment: BTreeMap<String, Value>,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    pub http_events: Vec<HttpEvent>,
    pub sqs_events: Vec<SqsEventSource>,
}

/// `RedrivePolicy` of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    /// Logical id of the dead-letter queue.
    pub dead_letter_queue: String,
    pub max_receive_count: u32,
}

/// An `AWS::SQS::Queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub logical_id: String,
    pub visibility_timeout: Option<u32>,
    pub redrive: Option<Redrive>,
    pub fifo: bool,
    pub content_based_deduplication: bool,
}

/// A parsed SAM template.
#[derive(Debug, Clone)]
pub struct Template {
    raw: Value,
    pub parameters: BTreeMap<String, Parameter>,
    pub functions: Vec<Function>,
    /// In dependency order: a dead-letter queue comes before the queues that redrive to it.
    pub queues: Vec<Queue>,
    /// Logical id of the `AWS::DynamoDB::Table`, if there is one.
    pub table: Option<String>,
    pub ignored_events: Vec<IgnoredEvent>,
}

impl Template {
    /// Reads and parses a template file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let raw: Value = serde_yaml::from_str(&text).map_err(|source| TemplateError::Yaml {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_value(raw)
    }

    /// Parses a template already read as YAML.
    pub fn from_value(raw: Value) -> Result<Self, TemplateError> {
        let resources = raw
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| invalid("no Resources mapping"))?;
        let parameters = parse_parameters(&raw)?;
        let globals = raw.get("Globals").and_then(|g| g.get("Function"));
        let global_default_authorizer = raw
            .get("Globals")
            .and_then(|g| g.get("HttpApi"))
            .and_then(default_authorizer_of_properties);

        let mut functions = Vec::new();
        let mut queues = Vec::new();
        let mut tables = Vec::new();
        let mut ignored_events = Vec::new();
        for (key, resource) in resources {
            let logical_id = key
                .as_str()
                .ok_or_else(|| invalid("a resource's logical id is not a string"))?;
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::Serverless::Function") => functions.push(parse_function(
                    logical_id,
                    resource,
                    globals,
                    resources,
                    global_default_authorizer.as_deref(),
                    &mut ignored_events,
                )?),
                Some("AWS::SQS::Queue") => queues.push(parse_queue(logical_id, resource)?),
                Some("AWS::DynamoDB::Table") => tables.push(logical_id.to_string()),
                _ => {}
            }
        }
        if tables.len() > 1 {
            return Err(invalid(format!(
                "the local stack runs one table, the template has {}: {}",
                tables.len(),
                tables.join(", ")
            )));
        }
        let queues = order_queues(queues)?;
        for function in &functions {
            for event in &function.sqs_events {
                if !queues.iter().any(|q| q.logical_id == event.queue) {
                    return Err(invalid(format!(
                        "function {} event {}: queue {} is not an AWS::SQS::Queue of this template",
                        function.logical_id, event.name, event.queue
                    )));
                }
            }
        }
        Ok(Self {
            raw,
            parameters,
            functions,
            queues,
            table: tables.pop(),
            ignored_events,
        })
    }

    /// The whole template as YAML.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The raw YAML of one resource (its `Type`, `Properties`, ...), by logical id.
    pub fn resource(&self, logical_id: &str) -> Option<&Value> {
        self.raw.get("Resources").and_then(|r| r.get(logical_id))
    }

    /// A function by logical id.
    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    /// A queue by logical id.
    pub fn queue(&self, logical_id: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.logical_id == logical_id)
    }
}

fn scalar_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_parameters(raw: &Value) -> Result<BTreeMap<String, Parameter>, TemplateError> {
    let mut parameters = BTreeMap::new();
    let Some(mapping) = raw.get("Parameters").and_then(Value::as_mapping) else {
        return Ok(parameters);
    };
    for (key, definition) in mapping {
        let name = key
            .as_str()
            .ok_or_else(|| invalid("a parameter name is not a string"))?;
        let default = match definition.get("Default") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                scalar_to_string(value)
                    .ok_or_else(|| invalid(format!("parameter {name}: Default is not a scalar")))?,
            ),
        };
        parameters.insert(
            name.to_string(),
            Parameter {
                name: name.to_string(),
                default,
            },
        );
    }
    Ok(parameters)
}

fn environment_of(section: Option<&Value>) -> Result<Mapping, TemplateError> {
    match section
        .and_then(|s| s.get("Environment"))
        .and_then(|e| e.get("Variables"))
    {
        None | Some(Value::Null) => Ok(Mapping::new()),
        Some(Value::Mapping(m)) => Ok(m.clone()),
        Some(_) => Err(invalid("Environment.Variables is not a mapping")),
    }
}

fn number_setting(
    function: &str,
    name: &str,
    own: Option<&Value>,
    global: Option<&Value>,
    default: u64,
) -> Result<u64, TemplateError> {
    let Some(value) = own.or(global) else {
        return Ok(default);
    };
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        invalid(format!(
            "function {function}: {name} must be a whole number of the template, found {value:?}"
        ))
    })
}

fn default_authorizer_of_properties(properties: &Value) -> Option<String> {
    properties
        .get("Auth")
        .and_then(|a| a.get("DefaultAuthorizer"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn parse_function(
    logical_id: &str,
    resource: &Value,
    globals: Option<&Value>,
    resources: &Mapping,
    global_default_authorizer: Option<&str>,
    ignored_events: &mut Vec<IgnoredEvent>,
) -> Result<Function, TemplateError> {
    let binary = resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid(format!(
                "function {logical_id} has no Metadata.BuildProperties.Binary naming its cargo binary"
            ))
        })?
        .to_string();
    let properties = resource.get("Properties");

    let mut environment = BTreeMap::new();
    for section in [globals, properties] {
        for (key, value) in
            environment_of(section).map_err(|e| invalid(format!("function {logical_id}: {e}")))?
        {
            let name = key.as_str().ok_or_else(|| {
                invalid(format!(
                    "function {logical_id}: an environment variable name is not a string"
                ))
            })?;
            environment.insert(name.to_string(), value);
        }
    }

    let own = |name: &str| properties.and_then(|p| p.get(name));
    let global = |name: &str| globals.and_then(|g| g.get(name));
    let timeout_secs = number_setting(
        logical_id,
        "Timeout",
        own("Timeout"),
        global("Timeout"),
        SAM_DEFAULT_TIMEOUT_SECS,
    )?;
    let memory_mb = number_setting(
        logical_id,
        "MemorySize",
        own("MemorySize"),
        global("MemorySize"),
        SAM_DEFAULT_MEMORY_MB,
    )?;

    let mut http_events = Vec::new();
    let mut sqs_events = Vec::new();
    if let Some(events) = own("Events").and_then(Value::as_mapping) {
        for (key, event) in events {
            let name = key
                .as_str()
                .ok_or_else(|| {
                    invalid(format!(
                        "function {logical_id}: an event name is not a string"
                    ))
                })?
                .to_string();
            let event_type = event
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let event_properties = event.get("Properties");
            match event_type {
                "HttpApi" => http_events.push(parse_http_event(
                    logical_id,
                    name,
                    event_properties,
                    resources,
                    global_default_authorizer,
                )?),
                "SQS" => sqs_events.push(parse_sqs_event(logical_id, name, event_properties)?),
                other => ignored_events.push(IgnoredEvent {
                    function: logical_id.to_string(),
                    name,
                    event_type: other.to_string(),
                }),
            }
        }
    }

    Ok(Function {
        logical_id: logical_id.to_string(),
        binary,
        environment,
        timeout_secs,
        memory_mb,
        http_events,
        sqs_events,
    })
}

fn parse_http_event(
    function: &str,
    name: String,
    properties: Option<&Value>,
    resources: &Mapping,
    global_default_authorizer: Option<&str>,
) -> Result<HttpEvent, TemplateError> {
    let method = properties
        .and_then(|p| p.get("Method"))
        .and_then(Value::as_str);
    let path = properties
        .and_then(|p| p.get("Path"))
        .and_then(Value::as_str);
    let (method, path) = match (method, path) {
        (Some(method), Some(path)) => {
            let method = method.to_ascii_uppercase();
            // SAM writes the catch-all method as `ANY`; some templates use `*`.
            let method = if method == "*" {
                "ANY".to_string()
            } else {
                method
            };
            (method, path.to_string())
        }
        // SAM maps an HttpApi event without Method and Path to the API's `$default` route.
        (None, None) => ("ANY".to_string(), "$default".to_string()),
        _ => {
            return Err(invalid(format!(
                "function {function} event {name}: an HttpApi event needs both Method and Path"
            )))
        }
    };

    let api_default_authorizer = match properties.and_then(|p| p.get("ApiId")) {
        Some(api) => {
            let api_id = match Intrinsic::parse(api) {
                Some(Ok(Intrinsic::Ref(id))) => id,
                _ => {
                    return Err(invalid(format!(
                        "function {function} event {name}: ApiId must be a !Ref to an AWS::Serverless::HttpApi"
                    )))
                }
            };
            let api = resources.get(api_id.as_str()).ok_or_else(|| {
                invalid(format!(
                    "function {function} event {name}: ApiId refers to unknown resource {api_id}"
                ))
            })?;
            api.get("Properties")
                .and_then(default_authorizer_of_properties)
                .or_else(|| global_default_authorizer.map(str::to_string))
        }
        None => global_default_authorizer.map(str::to_string),
    };
    let event_authorizer = properties
        .and_then(|p| p.get("Auth"))
        .and_then(|a| a.get("Authorizer"))
        .and_then(Value::as_str);
    let auth = match (event_authorizer, api_default_authorizer) {
        (Some("NONE"), _) | (None, None) => RouteAuth::Public,
        (Some(authorizer), _) => RouteAuth::Jwt {
            authorizer: authorizer.to_string(),
        },
        (None, Some(authorizer)) => RouteAuth::Jwt { authorizer },
    };
    Ok(HttpEvent {
        name,
        method,
        path,
        auth,
    })
}

fn parse_sqs_event(
    function: &str,
    name: String,
    properties: Option<&Value>,
) -> Result<SqsEventSource, TemplateError> {
    let context = || format!("function {function} event {name}");
    let queue_value = properties
        .and_then(|p| p.get("Queue"))
        .ok_or_else(|| invalid(format!("{}: SQS event without Queue", context())))?;
    let queue = match Intrinsic::parse(queue_value) {
        Some(Ok(Intrinsic::GetAtt {
            resource,
            attribute,
        })) if attribute == "Arn" => resource,
        _ => {
            return Err(invalid(format!(
                "{}: Queue must be !GetAtt <Queue>.Arn of a queue in this template",
                context()
            )))
        }
    };
    let batch_size = match properties.and_then(|p| p.get("BatchSize")) {
        None => DEFAULT_SQS_BATCH_SIZE,
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                invalid(format!(
                    "{}: BatchSize must be a positive number",
                    context()
                ))
            })?,
    };
    let report_batch_item_failures = properties
        .and_then(|p| p.get("FunctionResponseTypes"))
        .and_then(Value::as_sequence)
        .is_some_and(|types| {
            types
                .iter()
                .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
        });
    let maximum_concurrency = match properties
        .and_then(|p| p.get("ScalingConfig"))
        .and_then(|s| s.get("MaximumConcurrency"))
    {
        None => None,
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    invalid(format!(
                        "{}: ScalingConfig.MaximumConcurrency must be a positive number",
                        context()
                    ))
                })?,
        ),
    };
    let enabled = properties
        .and_then(|p| p.get("Enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    Ok(SqsEventSource {
        name,
        queue,
        batch_size,
        report_batch_item_failures,
        maximum_concurrency,
        enabled,
    })
}

fn parse_queue(logical_id: &str, resource: &Value) -> Result<Queue, TemplateError> {
    let properties = resource.get("Properties");
    let visibility_timeout = match properties.and_then(|p| p.get("VisibilityTimeout")) {
        None => None,
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "queue {logical_id}: VisibilityTimeout must be a number"
                    ))
                })?,
        ),
    };
    let redrive = match properties.and_then(|p| p.get("RedrivePolicy")) {
        None | Some(Value::Null) => None,
        Some(policy) => {
            let target = policy.get("deadLetterTargetArn").ok_or_else(|| {
                invalid(format!(
                    "queue {logical_id}: RedrivePolicy has no deadLetterTargetArn"
                ))
            })?;
            let dead_letter_queue = match Intrinsic::parse(target) {
                Some(Ok(Intrinsic::GetAtt {
                    resource,
                    attribute,
                })) if attribute == "Arn" => resource,
                _ => {
                    return Err(invalid(format!(
                        "queue {logical_id}: deadLetterTargetArn must be !GetAtt <Queue>.Arn"
                    )))
                }
            };
            let max_receive_count = policy
                .get("maxReceiveCount")
                .and_then(|v| match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                })
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    invalid(format!(
                        "queue {logical_id}: RedrivePolicy.maxReceiveCount must be a positive number"
                    ))
                })?;
            Some(Redrive {
                dead_letter_queue,
                max_receive_count,
            })
        }
    };
    let flag = |name: &str| {
        properties
            .and_then(|p| p.get(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    Ok(Queue {
        logical_id: logical_id.to_string(),
        visibility_timeout,
        redrive,
        fifo: flag("FifoQueue"),
        content_based_deduplication: flag("ContentBasedDeduplication"),
    })
}

/// Orders queues so that each dead-letter queue comes before the queues that redrive to it.
fn order_queues(mut pending: Vec<Queue>) -> Result<Vec<Queue>, TemplateError> {
    let known: Vec<String> = pending.iter().map(|q| q.logical_id.clone()).collect();
    for queue in &pending {
        if let Some(redrive) = &queue.redrive {
            if !known.contains(&redrive.dead_letter_queue) {
                return Err(invalid(format!(
                    "queue {}: dead-letter queue {} is not an AWS::SQS::Queue of this template",
                    queue.logical_id, redrive.dead_letter_queue
                )));
            }
        }
    }
    let mut ordered: Vec<Queue> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending.iter().position(|queue| {
            queue.redrive.as_ref().is_none_or(|r| {
                ordered
                    .iter()
                    .any(|done| done.logical_id == r.dead_letter_queue)
            })
        });
        match ready {
            Some(index) => ordered.push(pending.remove(index)),
            None => {
                let names: Vec<&str> = pending.iter().map(|q| q.logical_id.as_str()).collect();
                return Err(invalid(format!(
                    "queues redrive to each other in a cycle: {}",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_template() -> Template {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
        match Template::load(&path) {
            Ok(template) => template,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn parses_the_workspace_template() {
        let template = workspace_template();
        assert_eq!(template.table.as_deref(), Some("AgreementsTable"));
        assert!(template.functions.len() >= 19);
        let get = template
            .function("GetProviderFunction")
            .unwrap_or_else(|| panic!("GetProviderFunction missing"));
        assert_eq!(get.binary, "get-provider");
        // Without their own settings, functions take Globals'.
        let global = |name: &str| {
            template
                .raw()
                .get("Globals")
                .and_then(|g| g.get("Function"))
                .and_then(|f| f.get(name))
                .and_then(Value::as_u64)
        };
        assert_eq!(Some(get.timeout_secs), global("Timeout"));
        assert_eq!(Some(get.memory_mb), global("MemorySize"));
        assert_eq!(
            get.http_events,
            vec![HttpEvent {
                name: "Api".into(),
                method: "GET".into(),
                path: "/providers/{id}".into(),
                auth: RouteAuth::Jwt {
                    authorizer: "JwtAuthorizer".into()
                },
            }]
        );
        // Globals' variables reach every function.
        for name in ["TABLE_NAME", "CURSOR_SIGNING_KEY", "RUST_LOG"] {
            assert!(get.environment.contains_key(name), "{name}");
        }
        assert_eq!(
            template.parameters["LogLevel"].default.as_deref(),
            Some("info")
        );
        assert_eq!(template.parameters["JwtIssuer"].default, None);
        let table = template
            .resource("AgreementsTable")
            .unwrap_or_else(|| panic!("no raw table"));
        assert_eq!(
            table.get("Type").and_then(Value::as_str),
            Some("AWS::DynamoDB::Table")
        );
        // Every function has a binary and every route a method and path.
        for function in &template.functions {
            assert!(!function.binary.is_empty());
            for event in &function.http_events {
                assert!(
                    event.path.starts_with('/') || event.path == "$default",
                    "{}",
                    event.path
                );
            }
        }
    }

    const SAMPLE: &str = r#"
Parameters:
  Level: { Type: String, Default: debug }
  Count: { Type: Number, Default: 3 }
Globals:
  Function:
    Timeout: 7
    Environment:
      Variables:
        A: global
        B: global
  HttpApi:
    Auth:
      DefaultAuthorizer: Jwt
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
  OpenApi:
    Type: AWS::Serverless::HttpApi
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDlq.Arn
        maxReceiveCount: 3
  WorkDlq:
    Type: AWS::SQS::Queue
  Handler:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: handler
    Properties:
      MemorySize: 512
      Environment:
        Variables:
          B: !Ref Level
          C: { "Fn::GetAtt": [Work, Arn] }
      Events:
        Get:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: get
            Path: /things/{id}
        Health:
          Type: HttpApi
          Properties: { ApiId: { Ref: Api }, Method: GET, Path: /health, Auth: { Authorizer: NONE } }
        Open:
          Type: HttpApi
          Properties: { ApiId: !Ref OpenApi, Method: POST, Path: /open }
        Catch:
          Type: HttpApi
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: { MaximumConcurrency: 4 }
        Dlq:
          Type: SQS
          Properties:
            Queue: { "Fn::GetAtt": WorkDlq.Arn }
        Nightly:
          Type: ScheduleV2
          Properties: { ScheduleExpression: "rate(1 day)" }
"#;

    fn sample() -> Template {
        let value: Value = match serde_yaml::from_str(SAMPLE) {
            Ok(value) => value,
            Err(error) => panic!("{error}"),
        };
        match Template::from_value(value) {
            Ok(template) => template,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn parses_functions_events_and_queues() {
        let template = sample();
        let handler = &template.functions[0];
        assert_eq!(handler.timeout_secs, 7);
        assert_eq!(handler.memory_mb, 512);
        assert_eq!(handler.environment["A"], Value::from("global"));
        assert!(matches!(handler.environment["B"], Value::Tagged(_)));
        let routes: Vec<(&str, &str, &RouteAuth)> = handler
            .http_events
            .iter()
            .map(|e| (e.method.as_str(), e.path.as_str(), &e.auth))
            .collect();
        let jwt = RouteAuth::Jwt {
            authorizer: "Jwt".into(),
        };
        assert!(routes.contains(&("GET", "/things/{id}", &jwt)));
        assert!(routes.contains(&("GET", "/health", &RouteAuth::Public)));
        // An API without its own DefaultAuthorizer falls back to Globals.HttpApi.
        assert!(routes.contains(&("POST", "/open", &jwt)));
        assert!(routes.contains(&("ANY", "$default", &jwt)));
        let jobs = handler
            .sqs_events
            .iter()
            .find(|e| e.name == "Jobs")
            .unwrap_or_else(|| panic!("no Jobs"));
        assert_eq!(jobs.queue, "Work");
        assert_eq!(jobs.batch_size, 5);
        assert!(jobs.report_batch_item_failures);
        assert_eq!(jobs.maximum_concurrency, Some(4));
        let dlq = handler
            .sqs_events
            .iter()
            .find(|e| e.name == "Dlq")
            .unwrap_or_else(|| panic!("no Dlq"));
        assert_eq!(dlq.queue, "WorkDlq");
        assert_eq!(dlq.batch_size, 10);
        assert!(!dlq.report_batch_item_failures);
        assert_eq!(
            template.ignored_events,
            vec![IgnoredEvent {
                function: "Handler".into(),
                name: "Nightly".into(),
                event_type: "ScheduleV2".into()
            }]
        );
        let order: Vec<&str> = template
            .queues
            .iter()
            .map(|q| q.logical_id.as_str())
            .collect();
        assert_eq!(order, ["WorkDlq", "Work"]);
        assert_eq!(
            template.queue("Work").and_then(|q| q.redrive.clone()),
            Some(Redrive {
                dead_letter_queue: "WorkDlq".into(),
                max_receive_count: 3
            })
        );
        assert_eq!(template.parameters["Count"].default.as_deref(), Some("3"));
    }

    #[test]
    fn rejects_a_function_without_binary() {
        let value: Value = serde_yaml::from_str(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {}\n",
        )
        .unwrap_or(Value::Null);
        let error = Template::from_value(value).err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("Binary")),
            "{error:?}"
        );
    }

    #[test]
    fn rejects_a_redrive_cycle_and_unknown_queue() {
        let cycle = "Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: { deadLetterTargetArn: !GetAtt B.Arn, maxReceiveCount: 1 }\n  B:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: { deadLetterTargetArn: !GetAtt A.Arn, maxReceiveCount: 1 }\n";
        let value: Value = serde_yaml::from_str(cycle).unwrap_or(Value::Null);
        assert!(Template::from_value(value).is_err());
        let unknown = "Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: { deadLetterTargetArn: !GetAtt Nope.Arn, maxReceiveCount: 1 }\n";
        let value: Value = serde_yaml::from_str(unknown).unwrap_or(Value::Null);
        assert!(Template::from_value(value).is_err());
    }
}
