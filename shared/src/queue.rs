//! The bulk queue: the versioned message the worker reads, and the one place that sends it.

use serde::{Deserialize, Serialize};

pub const CREATE_AGREEMENTS: &str = "create_agreements";
pub const SYNC_PROVIDER: &str = "sync_provider";
pub const ATTEST_AGREEMENT: &str = "attest_agreement";
pub const SCHEMA: u32 = 1;

/// Every message the worker understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueMessage {
    /// A chunk of a job: "Create Agreements" on a template, or a provider sync.
    Job(BulkMessage),
    /// Attest one accepted agreement to its provider.
    Attest(AttestMessage),
}

/// `{"kind":"attest_agreement","schema":1,"agreement_id":…}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestMessage {
    pub kind: String,
    pub schema: u32,
    pub agreement_id: String,
}

impl AttestMessage {
    pub fn new(agreement_id: &str) -> Self {
        AttestMessage {
            kind: ATTEST_AGREEMENT.into(),
            schema: SCHEMA,
            agreement_id: agreement_id.into(),
        }
    }
}

/// `{"kind":"create_agreements","schema":1,"job_id":…,"template_id":…,"cursor":…|null}`, or
/// `{"kind":"sync_provider","schema":1,"job_id":…,"provider_id":…,"cursor":…|null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkMessage {
    pub kind: String,
    pub schema: u32,
    pub job_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    pub cursor: Option<String>,
}

impl BulkMessage {
    pub fn create_agreements(job_id: &str, template_id: &str, cursor: Option<String>) -> Self {
        BulkMessage {
            kind: CREATE_AGREEMENTS.into(),
            schema: SCHEMA,
            job_id: job_id.into(),
            template_id: Some(template_id.into()),
            provider_id: None,
            cursor,
        }
    }

    pub fn sync_provider(job_id: &str, provider_id: &str, cursor: Option<String>) -> Self {
        BulkMessage {
            kind: SYNC_PROVIDER.into(),
            schema: SCHEMA,
            job_id: job_id.into(),
            template_id: None,
            provider_id: Some(provider_id.into()),
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
pub fn parse(body: &str) -> Result<QueueMessage, MessageError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| MessageError::Malformed(e.to_string()))?;
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .ok_or_else(|| MessageError::Malformed("no `kind`".into()))?
        .to_string();
    if ![CREATE_AGREEMENTS, SYNC_PROVIDER, ATTEST_AGREEMENT].contains(&kind.as_str()) {
        return Err(MessageError::UnknownKind(kind));
    }
    let schema = value
        .get("schema")
        .and_then(|s| s.as_u64())
        .ok_or_else(|| MessageError::Malformed("no numeric `schema`".into()))?;
    if schema != u64::from(SCHEMA) {
        return Err(MessageError::UnknownSchema(kind, schema));
    }
    let malformed = |e: serde_json::Error| MessageError::Malformed(e.to_string());
    if kind == ATTEST_AGREEMENT {
        return serde_json::from_value(value)
            .map(QueueMessage::Attest)
            .map_err(malformed);
    }
    let job: BulkMessage = serde_json::from_value(value).map_err(malformed)?;
    let named = match job.kind.as_str() {
        CREATE_AGREEMENTS => job.template_id.is_some() && job.provider_id.is_none(),
        _ => job.provider_id.is_some() && job.template_id.is_none(),
    };
    if !named {
        return Err(MessageError::Malformed(format!(
            "a `{kind}` message names {}",
            if kind == CREATE_AGREEMENTS {
                "a template_id"
            } else {
                "a provider_id"
            }
        )));
    }
    Ok(QueueMessage::Job(job))
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

    pub async fn send<M: Serialize>(&self, message: &M) -> Result<(), SendError> {
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
        assert_eq!(parse(&text), Ok(QueueMessage::Job(m)));
        let s = BulkMessage::sync_provider("j", "p", None);
        let text = serde_json::to_string(&s).expect("serialises");
        assert_eq!(parse(&text), Ok(QueueMessage::Job(s)));
        let a = AttestMessage::new("a");
        let text = serde_json::to_string(&a).expect("serialises");
        assert_eq!(parse(&text), Ok(QueueMessage::Attest(a)));
        assert!(matches!(
            parse(
                r#"{"kind":"sync_provider","schema":1,"job_id":"j","template_id":"t","cursor":null}"#
            ),
            Err(MessageError::Malformed(_))
        ));
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
