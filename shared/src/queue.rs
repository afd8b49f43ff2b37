//! The bulk queue: the versioned message the worker reads, and the one place that sends it.

use serde::{Deserialize, Serialize};

pub const CREATE_AGREEMENTS: &str = "create_agreements";
pub const SCHEMA: u32 = 1;

/// `{"kind":"create_agreements","schema":1,"job_id":…,"template_id":…,"cursor":…|null}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkMessage {
    pub kind: String,
    pub schema: u32,
    pub job_id: String,
    pub template_id: String,
    pub cursor: Option<String>,
}

impl BulkMessage {
    pub fn create_agreements(job_id: &str, template_id: &str, cursor: Option<String>) -> Self {
        BulkMessage {
            kind: CREATE_AGREEMENTS.into(),
            schema: SCHEMA,
            job_id: job_id.into(),
            template_id: template_id.into(),
            cursor,
        }
    }
}

/// Why a message body cannot be processed, ever: it goes to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("the message is not JSON of the expected shape: {0}")]
    Malformed(String),
    #[error("unknown message kind `{0}`")]
    UnknownKind(String),
    #[error("unknown schema {1} of kind `{0}`")]
    UnknownSchema(String, u64),
}

/// Reads a message body; the kind and schema are checked before the fields, so a message of a
/// newer schema is named as such rather than as malformed.
pub fn parse(body: &str) -> Result<BulkMessage, MessageError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| MessageError::Malformed(e.to_string()))?;
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .ok_or_else(|| MessageError::Malformed("no `kind`".into()))?
        .to_string();
    if kind != CREATE_AGREEMENTS {
        return Err(MessageError::UnknownKind(kind));
    }
    let schema = value
        .get("schema")
        .and_then(|s| s.as_u64())
        .ok_or_else(|| MessageError::Malformed("no numeric `schema`".into()))?;
    if schema != u64::from(SCHEMA) {
        return Err(MessageError::UnknownSchema(kind, schema));
    }
    serde_json::from_value(value).map_err(|e| MessageError::Malformed(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
#[error("the bulk queue refused the message: {0}")]
pub struct SendError(String);

/// The bulk queue, for the functions allowed to send to it.
#[derive(Clone, Debug)]
pub struct BulkQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl BulkQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        BulkQueue {
            client,
            url: url.into(),
        }
    }

    pub async fn send(&self, message: &BulkMessage) -> Result<(), SendError> {
        let body = serde_json::to_string(message).map_err(|e| SendError(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_sqs::error::ProvideErrorMetadata;
                SendError(format!(
                    "{}: {}",
                    e.code().unwrap_or("unknown"),
                    e.message().unwrap_or_default()
                ))
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = BulkMessage::create_agreements("j", "t", Some("c".into()));
        let text = serde_json::to_string(&m).expect("serialises");
        assert_eq!(parse(&text), Ok(m));
    }

    #[test]
    fn poison_is_named() {
        assert!(matches!(
            parse("{not json"),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(parse("[]"), Err(MessageError::Malformed(_))));
        assert!(matches!(
            parse(r#"{"kind":"delete_everything","schema":1}"#),
            Err(MessageError::UnknownKind(_))
        ));
        assert!(matches!(
            parse(r#"{"kind":"create_agreements","schema":2,"job_id":"j"}"#),
            Err(MessageError::UnknownSchema(_, 2))
        ));
        assert!(matches!(
            parse(
                r#"{"kind":"create_agreements","schema":1,"job_id":5,"template_id":"t","cursor":null}"#
            ),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            parse(
                r#"{"kind":"create_agreements","schema":1,"job_id":"j","template_id":"t","cursor":null,"extra":1}"#
            ),
            Err(MessageError::Malformed(_))
        ));
    }
}
