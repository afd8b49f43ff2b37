//! Reads a SAM template into what the local stack runs: parameters, functions (with Globals
//! merged in) with their HTTP routes and SQS triggers, HTTP APIs, queues, and the table.

mod apis;
mod functions;
mod globals;
mod queues;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

pub use apis::{
    AuthorizerKind, HttpApi, HttpEvent, JwtAuthorizer, LambdaAuthorizer, RouteAuth,
    IMPLICIT_HTTP_API,
};
pub use functions::{Function, IgnoredEvent, SqsEventSource, StreamEventSource};
pub use queues::{Queue, Redrive};

use apis::ApiCatalog;
use globals::Globals;

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

/// A parsed SAM template.
#[derive(Debug, Clone)]
pub struct Template {
    raw: Value,
    pub parameters: BTreeMap<String, Parameter>,
    pub functions: Vec<Function>,
    /// The HTTP APIs: every `AWS::Serverless::HttpApi`, and SAM's implicit API when a route is
    /// on it; each merged with `Globals.HttpApi`.
    pub apis: Vec<HttpApi>,
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
        let globals = Globals::parse(&raw)?;
        let apis = ApiCatalog::new(resources, &globals)?;

        let mut functions = Vec::new();
        let mut queues = Vec::new();
        let mut tables = Vec::new();
        let mut ignored_events = Vec::new();
        for (key, resource) in resources {
            let logical_id = key
                .as_str()
                .ok_or_else(|| invalid("a resource's logical id is not a string"))?;
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::Serverless::Function") => functions.push(functions::parse_function(
                    logical_id,
                    resource,
                    &globals,
                    &apis,
                    &mut ignored_events,
                )?),
                Some("AWS::SQS::Queue") => queues.push(queues::parse_queue(logical_id, resource)?),
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
        let queues = queues::order_queues(queues)?;
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
        let apis = apis.into_apis(functions.iter().flat_map(|f| &f.http_events));
        for api in &apis {
            for (name, kind) in &api.authorizers {
                if let AuthorizerKind::Lambda(authorizer) = kind {
                    if !functions
                        .iter()
                        .any(|f| f.logical_id == authorizer.function)
                    {
                        return Err(invalid(format!(
                            "HTTP API {} authorizer {name}: {} is not an AWS::Serverless::Function of this template",
                            api.logical_id, authorizer.function
                        )));
                    }
                }
            }
        }
        Ok(Self {
            raw,
            parameters,
            functions,
            apis,
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

    /// An HTTP API by logical id.
    pub fn api(&self, logical_id: &str) -> Option<&HttpApi> {
        self.apis.iter().find(|a| a.logical_id == logical_id)
    }

    /// The Lambda authorizer `name` of the API `api`.
    /// A JWT authorizer of an API, by the API's logical id and the authorizer's name.
    pub fn jwt_authorizer(&self, api: &str, name: &str) -> Option<&JwtAuthorizer> {
        match self.api(api)?.authorizers.get(name)? {
            AuthorizerKind::Jwt(authorizer) => Some(authorizer),
            _ => None,
        }
    }

    pub fn lambda_authorizer(&self, api: &str, name: &str) -> Option<&LambdaAuthorizer> {
        match self.api(api)?.authorizers.get(name)? {
            AuthorizerKind::Lambda(authorizer) => Some(authorizer),
            _ => None,
        }
    }

    /// The logical ids of the resources of a CloudFormation type, in template order.
    pub fn resources_of_type<'a>(
        &'a self,
        resource_type: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.raw
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter(move |(_, resource)| {
                resource.get("Type").and_then(Value::as_str) == Some(resource_type)
            })
            .filter_map(|(key, resource)| key.as_str().map(|id| (id, resource)))
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
        };
        assert_eq!(
            Some(get.timeout_secs),
            global("Timeout").and_then(Value::as_u64)
        );
        assert_eq!(
            Some(get.memory_mb),
            global("MemorySize").and_then(Value::as_u64)
        );
        assert_eq!(
            get.http_events,
            vec![HttpEvent {
                name: "Api".into(),
                api: IMPLICIT_HTTP_API.into(),
                method: "GET".into(),
                path: "/providers/{id}".into(),
                auth: RouteAuth::Jwt {
                    authorizer: "JwtAuthorizer".into()
                },
            }]
        );
        // Globals' variables reach every function.
        for name in ["TABLE_NAME", "CURSOR_KEY_SECRET_ARN", "RUST_LOG"] {
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
        // The routes are on the implicit API, whose JWT authorizer and the portal's Lambda
        // authorizer Globals.HttpApi sets up.
        let portal = LambdaAuthorizer {
            function: "PortalAuthorizerFunction".into(),
            identity_headers: vec!["authorization".into()],
            reauthorize_every: Some(
                serde_yaml::from_str("!Ref PortalAuthorizerCacheSeconds").unwrap_or(Value::Null),
            ),
        };
        assert_eq!(
            template.apis,
            vec![HttpApi {
                logical_id: IMPLICIT_HTTP_API.into(),
                implicit: true,
                default_authorizer: Some("JwtAuthorizer".into()),
                authorizers: BTreeMap::from([
                    (
                        "JwtAuthorizer".into(),
                        AuthorizerKind::Jwt(JwtAuthorizer {
                            issuer: Some(
                                serde_yaml::from_str("!Ref JwtIssuer").unwrap_or(Value::Null)
                            ),
                            audience: vec![
                                serde_yaml::from_str("!Ref JwtAudience").unwrap_or(Value::Null)
                            ],
                        })
                    ),
                    (
                        "PortalAuthorizer".into(),
                        AuthorizerKind::Lambda(portal.clone())
                    ),
                ]),
            }]
        );
        assert_eq!(
            template.lambda_authorizer(IMPLICIT_HTTP_API, "PortalAuthorizer"),
            Some(&portal)
        );
        // Every function has a binary and Globals' code, runtime and architecture; every route
        // a method and path, the portal's Lambda authorizer under /portal/, and a JWT elsewhere
        // unless it is the portal page.
        for function in &template.functions {
            assert!(!function.binary.is_empty());
            for name in ["CodeUri", "Runtime", "Architectures", "Handler", "Tracing"] {
                assert!(
                    function.property(name).is_some(),
                    "{}: {name}",
                    function.logical_id
                );
                assert_eq!(
                    function.property(name),
                    global(name),
                    "{}",
                    function.logical_id
                );
            }
            for event in &function.http_events {
                assert!(
                    event.path.starts_with('/') || event.path == "$default",
                    "{}",
                    event.path
                );
                let public = (event.method.as_str(), event.path.as_str()) == ("GET", "/portal");
                let expected = if public {
                    RouteAuth::Public
                } else if event.path.starts_with("/portal/") {
                    RouteAuth::Lambda {
                        authorizer: "PortalAuthorizer".into(),
                    }
                } else {
                    RouteAuth::Jwt {
                        authorizer: "JwtAuthorizer".into(),
                    }
                };
                assert_eq!(event.auth, expected, "{} {}", event.method, event.path);
            }
        }
        // A function's own settings win over Globals'.
        let worker = template
            .function("BulkWorkerFunction")
            .unwrap_or_else(|| panic!("BulkWorkerFunction missing"));
        assert_eq!((worker.timeout_secs, worker.memory_mb), (60, 512));
        assert!(worker.environment.contains_key("BULK_QUEUE_URL"));
        assert!(worker.environment.contains_key("TABLE_NAME"));
    }

    const SAMPLE: &str = r#"
Parameters:
  Level: { Type: String, Default: debug }
  Count: { Type: Number, Default: 3 }
Globals:
  Function:
    CodeUri: .
    Timeout: 7
    Environment:
      Variables:
        A: global
        B: global
  HttpApi:
    Auth:
      DefaultAuthorizer: Jwt
      Authorizers:
        Jwt: { JwtConfiguration: { issuer: !Ref Level } }
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

    fn parse(text: &str) -> Result<Template, TemplateError> {
        let value: Value = match serde_yaml::from_str(text) {
            Ok(value) => value,
            Err(error) => panic!("{error}"),
        };
        Template::from_value(value)
    }

    #[test]
    fn parses_functions_events_and_queues() {
        let template = parse(SAMPLE).unwrap_or_else(|e| panic!("{e}"));
        let handler = &template.functions[0];
        assert_eq!(handler.timeout_secs, 7);
        assert_eq!(handler.memory_mb, 512);
        assert_eq!(handler.property("CodeUri"), Some(&Value::from(".")));
        assert_eq!(handler.environment["A"], Value::from("global"));
        assert!(matches!(handler.environment["B"], Value::Tagged(_)));
        assert!(handler.environment.contains_key("C"));
        let routes: Vec<(&str, &str, &str, &RouteAuth)> = handler
            .http_events
            .iter()
            .map(|e| (e.api.as_str(), e.method.as_str(), e.path.as_str(), &e.auth))
            .collect();
        let jwt = RouteAuth::Jwt {
            authorizer: "Jwt".into(),
        };
        assert!(routes.contains(&("Api", "GET", "/things/{id}", &jwt)));
        assert!(routes.contains(&("Api", "GET", "/health", &RouteAuth::Public)));
        // An API without its own DefaultAuthorizer takes Globals.HttpApi's.
        assert!(routes.contains(&("OpenApi", "POST", "/open", &jwt)));
        assert!(routes.contains(&(IMPLICIT_HTTP_API, "ANY", "$default", &jwt)));
        let api_ids: Vec<&str> = template
            .apis
            .iter()
            .map(|a| a.logical_id.as_str())
            .collect();
        assert_eq!(api_ids, ["Api", "OpenApi", IMPLICIT_HTTP_API]);
        assert!(template.api(IMPLICIT_HTTP_API).is_some_and(|a| a.implicit));
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
    fn without_globals_functions_get_sam_defaults_and_routes_are_public() {
        let template = parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: { BuildProperties: { Binary: f } }\n    Properties:\n      Events:\n        Api: { Type: HttpApi, Properties: { Method: GET, Path: /f } }\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let f = &template.functions[0];
        assert_eq!((f.timeout_secs, f.memory_mb), (3, 128));
        assert!(f.environment.is_empty() && f.property("CodeUri").is_none());
        assert_eq!(f.http_events[0].auth, RouteAuth::Public);
        assert_eq!(f.http_events[0].api, IMPLICIT_HTTP_API);
    }

    #[test]
    fn rejects_a_lambda_authorizer_of_a_missing_function() {
        let error = parse(
            "Globals:\n  HttpApi:\n    Auth:\n      Authorizers:\n        L: { FunctionArn: !GetAtt Gone.Arn, AuthorizerPayloadFormatVersion: '2.0', EnableSimpleResponses: true }\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: { BuildProperties: { Binary: f } }\n    Properties:\n      Events:\n        Api: { Type: HttpApi, Properties: { Method: GET, Path: /f, Auth: { Authorizer: L } } }\n",
        )
        .err()
        .map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("Gone")),
            "{error:?}"
        );
    }

    #[test]
    fn rejects_a_function_without_binary() {
        let error =
            parse("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {}\n")
                .err()
                .map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("Binary")),
            "{error:?}"
        );
    }

    #[test]
    fn rejects_an_sqs_event_on_a_queue_the_template_lacks() {
        let error = parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: { BuildProperties: { Binary: f } }\n    Properties:\n      Events:\n        Q: { Type: SQS, Properties: { Queue: !GetAtt Nope.Arn } }\n",
        )
        .err()
        .map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("Nope")),
            "{error:?}"
        );
    }
}
