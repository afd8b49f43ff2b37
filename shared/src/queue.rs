//! The bulk queue: the one typed message the worker reads, a variant per kind of work, and the
//! one place that sends it.

use serde::{Deserialize, Serialize};

use crate::model::{BulkJob, JobKind};

/// The version of the message format this code writes and reads.
pub const SCHEMA: u32 = 1;

/// Every message of the bulk queue: `{"kind": …, "schema": 1, …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobMessage {
    /// A chunk of a "Create Agreements" job on a template.
    CreateAgreements {
        schema: u32,
        job_id: String,
        template_id: String,
        cursor: Option<String>,
    },
    /// A page of a provider sync job.
    SyncProvider {
        schema: u32,
        job_id: String,
        provider_id: String,
        cursor: Option<String>,
    },
    /// The attestation of one accepted agreement to its provider.
    AttestAgreement { schema: u32, agreement_id: String },
    /// A part of the rows of a large provider-account import.
    ImportProviderAccounts {
        schema: u32,
        job_id: String,
        cursor: Option<String>,
    },
}

/// The kinds a message may name, as written on the wire.
const KINDS: [&str; 4] = [
    "create_agreements",
    "sync_provider",
    "attest_agreement",
    "import_provider_accounts",
];

impl JobMessage {
    pub fn create_agreements(job_id: &str, template_id: &str, cursor: Option<String>) -> Self {
        JobMessage::CreateAgreements {
            schema: SCHEMA,
            job_id: job_id.into(),
            template_id: template_id.into(),
            cursor,
        }
    }

    pub fn sync_provider(job_id: &str, provider_id: &str, cursor: Option<String>) -> Self {
        JobMessage::SyncProvider {
            schema: SCHEMA,
            job_id: job_id.into(),
            provider_id: provider_id.into(),
            cursor,
        }
    }

    pub fn attest_agreement(agreement_id: &str) -> Self {
        JobMessage::AttestAgreement {
            schema: SCHEMA,
            agreement_id: agreement_id.into(),
        }
    }

    pub fn import_provider_accounts(job_id: &str, cursor: Option<String>) -> Self {
        JobMessage::ImportProviderAccounts {
            schema: SCHEMA,
            job_id: job_id.into(),
            cursor,
        }
    }

    /// The message that carries a job on from `cursor` (None: its first chunk).
    pub fn chunk_of(job: &BulkJob, cursor: Option<String>) -> Self {
        match (job.kind, &job.template_id) {
            (JobKind::CreateAgreements, Some(t)) => {
                Self::create_agreements(job.id.as_str(), t.as_str(), cursor)
            }
            (JobKind::ImportProviderAccounts, _) => {
                Self::import_provider_accounts(job.id.as_str(), cursor)
            }
            _ => Self::sync_provider(job.id.as_str(), job.provider_id.as_str(), cursor),
        }
    }
}

/// Why a message body cannot be processed, ever: it goes to the dead-letter queue.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("the message is not JSON of the expected shape")]
    Malformed(#[source] serde_json::Error),
    #[error("the message has no `{0}`")]
    Missing(&'static str),
    #[error("unknown message kind `{0}`")]
    UnknownKind(String),
    #[error("unknown schema {1} of kind `{0}`")]
    UnknownSchema(String, u64),
}

/// Reads a message body. The kind and schema are checked before the fields, so a message of a
/// newer schema or an unknown kind is named as such rather than as malformed.
pub fn parse(body: &str) -> Result<JobMessage, MessageError> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(MessageError::Malformed)?;
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .ok_or(MessageError::Missing("kind"))?;
    if !KINDS.contains(&kind) {
        return Err(MessageError::UnknownKind(kind.to_string()));
    }
    let schema = value
        .get("schema")
        .and_then(|s| s.as_u64())
        .ok_or(MessageError::Missing("schema"))?;
    if schema != u64::from(SCHEMA) {
        return Err(MessageError::UnknownSchema(kind.to_string(), schema));
    }
    serde_json::from_value(value).map_err(MessageError::Malformed)
}

#[derive(Debug, thiserror::Error)]
#[error("the bulk queue refused the message")]
pub struct SendError(#[source] Box<dyn std::error::Error + Send + Sync>);

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

    pub async fn send(&self, message: &JobMessage) -> Result<(), SendError> {
        let body = serde_json::to_string(message).map_err(|e| SendError(Box::new(e)))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| SendError(Box::new(e)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(m: JobMessage) {
        let text = serde_json::to_string(&m).expect("serialises");
        assert_eq!(parse(&text).expect("parses"), m, "{text}");
    }

    #[test]
    fn messages_round_trip() {
        round_trip(JobMessage::create_agreements("j", "t", Some("c".into())));
        round_trip(JobMessage::sync_provider("j", "p", None));
        round_trip(JobMessage::attest_agreement("a"));
        round_trip(JobMessage::import_provider_accounts("j", Some("3".into())));
        let text = serde_json::to_string(&JobMessage::create_agreements("j", "t", None))
            .expect("serialises");
        assert_eq!(
            text,
            r#"{"kind":"create_agreements","schema":1,"job_id":"j","template_id":"t","cursor":null}"#
        );
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
        assert!(matches!(parse("[]"), Err(MessageError::Missing("kind"))));
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
