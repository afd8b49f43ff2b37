//! The template's `AWS::SQS::Queue`s: visibility timeout, FIFO settings and redrive policy, put
//! in the order they can be created in (a dead-letter queue before the queues that redrive to it).

use serde_yaml::Value;

use super::{invalid, TemplateError};
use crate::intrinsics::Intrinsic;

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

pub(super) fn parse_queue(logical_id: &str, resource: &Value) -> Result<Queue, TemplateError> {
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
pub(super) fn order_queues(mut pending: Vec<Queue>) -> Result<Vec<Queue>, TemplateError> {
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

    fn queues(template: &str) -> Result<Vec<Queue>, TemplateError> {
        let raw: Value = serde_yaml::from_str(template).unwrap_or(Value::Null);
        let mut queues = Vec::new();
        for (key, resource) in raw
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
        {
            queues.push(parse_queue(key.as_str().unwrap_or_default(), resource)?);
        }
        order_queues(queues)
    }

    #[test]
    fn orders_dead_letter_queues_first() {
        let template = "Resources:\n  Work:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 60\n      FifoQueue: true\n      RedrivePolicy: { deadLetterTargetArn: !GetAtt WorkDlq.Arn, maxReceiveCount: '3' }\n  WorkDlq:\n    Type: AWS::SQS::Queue\n";
        let queues = queues(template).unwrap_or_else(|e| panic!("{e}"));
        let order: Vec<&str> = queues.iter().map(|q| q.logical_id.as_str()).collect();
        assert_eq!(order, ["WorkDlq", "Work"]);
        assert_eq!(
            queues[1],
            Queue {
                logical_id: "Work".into(),
                visibility_timeout: Some(60),
                redrive: Some(Redrive {
                    dead_letter_queue: "WorkDlq".into(),
                    max_receive_count: 3
                }),
                fifo: true,
                content_based_deduplication: false,
            }
        );
    }

    #[test]
    fn rejects_a_redrive_cycle_and_unknown_queue() {
        let cycle = "Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: { deadLetterTargetArn: !GetAtt B.Arn, maxReceiveCount: 1 }\n  B:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: { deadLetterTargetArn: !GetAtt A.Arn, maxReceiveCount: 1 }\n";
        assert!(queues(cycle).is_err());
        let unknown = "Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: { deadLetterTargetArn: !GetAtt Nope.Arn, maxReceiveCount: 1 }\n";
        assert!(queues(unknown).is_err());
    }
}
