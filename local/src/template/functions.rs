//! The template's `AWS::Serverless::Function`s as the local stack runs them: each function's
//! properties merged with `Globals.Function`, its cargo binary, and its HTTP and SQS events.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::apis::{ApiCatalog, HttpEvent};
use super::globals::Globals;
use super::{invalid, TemplateError};
use crate::intrinsics::Intrinsic;

/// SAM's own defaults, used when neither the function nor `Globals.Function` sets a value.
const SAM_DEFAULT_TIMEOUT_SECS: u64 = 3;
const SAM_DEFAULT_MEMORY_MB: u64 = 128;
/// Lambda's default for an SQS event source mapping.
const DEFAULT_SQS_BATCH_SIZE: u32 = 10;

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

/// A `DynamoDB` event of a function: a stream event source mapping on the template's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEventSource {
    pub name: String,
    pub batch_size: u32,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// `BisectBatchOnFunctionError`.
    pub bisect_on_error: bool,
    /// `MaximumRetryAttempts`, when given.
    pub maximum_retry_attempts: Option<u32>,
    /// Logical id of the `DestinationConfig.OnFailure` queue, when there is one.
    pub on_failure_queue: Option<String>,
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
    /// `Properties` merged over `Globals.Function` the way SAM merges them (`CodeUri`,
    /// `Runtime`, `Environment`, ...), unresolved.
    pub properties: Mapping,
    /// `Environment.Variables` of [`Self::properties`], unresolved.
    pub environment: BTreeMap<String, Value>,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    pub http_events: Vec<HttpEvent>,
    pub sqs_events: Vec<SqsEventSource>,
    pub stream_events: Vec<StreamEventSource>,
}

impl Function {
    /// One of the function's merged properties, e.g. `CodeUri`.
    pub fn property(&self, name: &str) -> Option<&Value> {
        self.properties.get(name)
    }
}

fn number_setting(
    function: &str,
    name: &str,
    properties: &Mapping,
    default: u64,
) -> Result<u64, TemplateError> {
    let Some(value) = properties.get(name) else {
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

fn environment_of(
    logical_id: &str,
    properties: &Mapping,
) -> Result<BTreeMap<String, Value>, TemplateError> {
    let variables = match properties
        .get("Environment")
        .and_then(|e| e.get("Variables"))
    {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            return Err(invalid(format!(
                "function {logical_id}: Environment.Variables is not a mapping"
            )))
        }
    };
    let mut environment = BTreeMap::new();
    for (key, value) in variables {
        let name = key.as_str().ok_or_else(|| {
            invalid(format!(
                "function {logical_id}: an environment variable name is not a string"
            ))
        })?;
        environment.insert(name.to_string(), value.clone());
    }
    Ok(environment)
}

pub(super) fn parse_function(
    logical_id: &str,
    resource: &Value,
    globals: &Globals,
    apis: &ApiCatalog,
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
    let properties = globals
        .function(resource.get("Properties"))
        .map_err(|e| invalid(format!("function {logical_id}: {e}")))?;
    let environment = environment_of(logical_id, &properties)?;
    let timeout_secs =
        number_setting(logical_id, "Timeout", &properties, SAM_DEFAULT_TIMEOUT_SECS)?;
    let memory_mb = number_setting(logical_id, "MemorySize", &properties, SAM_DEFAULT_MEMORY_MB)?;

    let mut http_events = Vec::new();
    let mut sqs_events = Vec::new();
    let mut stream_events = Vec::new();
    if let Some(events) = properties.get("Events").and_then(Value::as_mapping) {
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
                "HttpApi" => {
                    http_events.push(apis.http_event(logical_id, name, event_properties)?)
                }
                "SQS" => sqs_events.push(parse_sqs_event(logical_id, name, event_properties)?),
                "DynamoDB" => {
                    stream_events.push(parse_stream_event(logical_id, name, event_properties)?)
                }
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
        properties,
        environment,
        timeout_secs,
        memory_mb,
        http_events,
        sqs_events,
        stream_events,
    })
}

/// A positive whole number of an event's properties, if it is there.
fn positive(
    value: Option<&Value>,
    message: impl FnOnce() -> String,
) -> Result<Option<u32>, TemplateError> {
    value
        .map(|value| {
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(message()))
        })
        .transpose()
}

fn parse_stream_event(
    function: &str,
    name: String,
    properties: Option<&Value>,
) -> Result<StreamEventSource, TemplateError> {
    let context = || format!("function {function} event {name}");
    let property = |key: &str| properties.and_then(|p| p.get(key));
    let batch_size = positive(property("BatchSize"), || {
        format!("{}: BatchSize must be a positive number", context())
    })?
    .unwrap_or(100);
    let report_batch_item_failures = property("FunctionResponseTypes")
        .and_then(Value::as_sequence)
        .is_some_and(|types| {
            types
                .iter()
                .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
        });
    let maximum_retry_attempts = property("MaximumRetryAttempts")
        .and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let on_failure_queue = match property("DestinationConfig")
        .and_then(|d| d.get("OnFailure"))
        .and_then(|o| o.get("Destination"))
    {
        None => None,
        Some(value) => match Intrinsic::parse(value) {
            Some(Ok(Intrinsic::GetAtt {
                resource,
                attribute,
            })) if attribute == "Arn" => Some(resource),
            _ => {
                return Err(invalid(format!(
                    "{}: DestinationConfig.OnFailure.Destination must be !GetAtt <Queue>.Arn",
                    context()
                )))
            }
        },
    };
    Ok(StreamEventSource {
        name,
        batch_size,
        report_batch_item_failures,
        bisect_on_error: property("BisectBatchOnFunctionError")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        maximum_retry_attempts,
        on_failure_queue,
        enabled: property("Enabled").and_then(Value::as_bool).unwrap_or(true),
    })
}

fn parse_sqs_event(
    function: &str,
    name: String,
    properties: Option<&Value>,
) -> Result<SqsEventSource, TemplateError> {
    let context = || format!("function {function} event {name}");
    let property = |key: &str| properties.and_then(|p| p.get(key));
    let queue_value = property("Queue")
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
    let batch_size = positive(property("BatchSize"), || {
        format!("{}: BatchSize must be a positive number", context())
    })?
    .unwrap_or(DEFAULT_SQS_BATCH_SIZE);
    let report_batch_item_failures = property("FunctionResponseTypes")
        .and_then(Value::as_sequence)
        .is_some_and(|types| {
            types
                .iter()
                .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
        });
    let maximum_concurrency = positive(
        property("ScalingConfig").and_then(|s| s.get("MaximumConcurrency")),
        || {
            format!(
                "{}: ScalingConfig.MaximumConcurrency must be a positive number",
                context()
            )
        },
    )?;
    let enabled = property("Enabled").and_then(Value::as_bool).unwrap_or(true);
    Ok(SqsEventSource {
        name,
        queue,
        batch_size,
        report_batch_item_failures,
        maximum_concurrency,
        enabled,
    })
}
