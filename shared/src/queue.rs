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
    /// A scheduled check of an agreement's enhanced attestation: the `check`-th one of
    /// `attestation_id` (another number, or another attestation, is a stale duplicate).
    FollowAttestation {
        schema: u32,
        agreement_id: String,
        attestation_id: String,
        check: u64,
    },
    /// A part of the rows of a large provider-account import.
    ImportProviderAccounts {
        schema: u32,
        job_id: String,
        cursor: Option<String>,
    },
    /// A chunk of a re-acceptance job: the template's accepted agreements asked to accept its
    /// new document version (the job names it).
    RequestReacceptance {
        schema: u32,
        job_id: String,
        template_id: String,
        cursor: Option<String>,
    },
    /// A chunk of an expiry job: the expired template's pending agreements end.
    ExpireAgreements {
        schema: u32,
        job_id: String,
        template_id: String,
        cursor: Option<String>,
    },
}

/// The kinds a message may name, as written on the wire.
const KINDS: [&str; 7] = [
    "create_agreements",
    "sync_provider",
    "attest_agreement",
    "follow_attestation",
    "import_provider_accounts",
    "request_reacceptance",
    "expire_agreements",
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

    pub fn follow_attestation(agreement_id: &str, attestation_id: &str, check: u64) -> Self {
        JobMessage::FollowAttestation {
            schema: SCHEMA,
            agreement_id: agreement_id.into(),
            attestation_id: attestation_id.into(),
            check,
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
            (JobKind::RequestReacceptance, Some(t)) => JobMessage::RequestReacceptance {
                schema: SCHEMA,
                job_id: job.id.to_string(),
                template_id: t.to_string(),
                cursor,
            },
            (JobKind::ExpireAgreements, Some(t)) => JobMessage::ExpireAgreements {
                schema: SCHEMA,
                job_id: job.id.to_string(),
                template_id: t.to_string(),
                cursor,
            },
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
    parse_checked(body, |kind| KINDS.contains(&kind))
}

/// Reads a body whose kind `known` accepts: the kind and schema are checked before the
/// fields, so a message of a newer schema or an unknown kind is named as such.
fn parse_checked<T: serde::de::DeserializeOwned>(
    body: &str,
    known: impl Fn(&str) -> bool,
) -> Result<T, MessageError> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(MessageError::Malformed)?;
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .ok_or(MessageError::Missing("kind"))?;
    if !known(kind) {
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
        self.send_after(message, 0).await
    }

    /// Sends `message` to be delivered after `delay_seconds` (SQS allows at most 900).
    pub async fn send_after(
        &self,
        message: &JobMessage,
        delay_seconds: u32,
    ) -> Result<(), SendError> {
        let body = serde_json::to_string(message).map_err(|e| SendError(Box::new(e)))?;
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body);
        if delay_seconds > 0 {
            request = request.delay_seconds(i32::try_from(delay_seconds.min(900)).unwrap_or(900));
        }
        request.send().await.map_err(|e| SendError(Box::new(e)))?;
        Ok(())
    }
}

/// A message of the e-mail queue: one step of one agreement's e-mails.
/// `{"kind":"notice","schema":1,"agreement_id":…,"step":"link"|"reminder:3"|"receipt:<version>","job_id":…|null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeMessage {
    pub kind: String,
    pub schema: u32,
    pub agreement_id: String,
    pub step: String,
    /// The bulk job whose `notify` asked for it; its counts record the outcome.
    #[serde(default)]
    pub job_id: Option<String>,
}

pub const NOTICE_KIND: &str = "notice";

impl NoticeMessage {
    pub fn new(agreement_id: &str, step: &crate::model::NoticeStep, job_id: Option<&str>) -> Self {
        NoticeMessage {
            kind: NOTICE_KIND.into(),
            schema: SCHEMA,
            agreement_id: agreement_id.into(),
            step: step.key(),
            job_id: job_id.map(str::to_string),
        }
    }

    /// Reads a body of the e-mail queue, kind and schema first.
    pub fn parse(body: &str) -> Result<NoticeMessage, MessageError> {
        parse_single_kind(body, NOTICE_KIND)
    }
}

/// Reads a body of a queue that carries one kind of message.
fn parse_single_kind<T: serde::de::DeserializeOwned>(
    body: &str,
    expected: &str,
) -> Result<T, MessageError> {
    parse_checked(body, |kind| kind == expected)
}

/// The e-mail queue, for the functions that ask for e-mails.
#[derive(Clone, Debug)]
pub struct EmailQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl EmailQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        EmailQueue {
            client,
            url: url.into(),
        }
    }

    /// Sends the messages ten to a request (SQS's batch), `SEND_BATCHES_IN_FLIGHT` requests at a
    /// time; answers how many the queue took. Entries the queue refused are named in the error;
    /// the caller decides whether to retry (a retry may queue some messages twice: the e-mail
    /// sender sends each step once however often it is asked).
    pub async fn send_all(&self, messages: &[NoticeMessage]) -> Result<usize, SendError> {
        use futures::stream::{self, StreamExt};
        // The requests as a list first: a stream over a closure of borrowed batches is not
        // `Send` for every lifetime, which a handler's future must be.
        let requests: Vec<_> = messages
            .chunks(10)
            .map(|batch| self.send_batch(batch))
            .collect();
        let mut answers = stream::iter(requests).buffer_unordered(SEND_BATCHES_IN_FLIGHT);
        let mut sent = 0;
        while let Some(answer) = answers.next().await {
            sent += answer?;
        }
        Ok(sent)
    }

    async fn send_batch(&self, batch: &[NoticeMessage]) -> Result<usize, SendError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let mut entries = Vec::with_capacity(batch.len());
        for (i, message) in batch.iter().enumerate() {
            let body = serde_json::to_string(message).map_err(|e| SendError(Box::new(e)))?;
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| SendError(Box::new(e)))?,
            );
        }
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| SendError(Box::new(e)))?;
        if !out.failed().is_empty() {
            let reasons: Vec<String> = out
                .failed()
                .iter()
                .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or_default()))
                .collect();
            return Err(SendError(reasons.join("; ").into()));
        }
        Ok(batch.len())
    }
}

/// A message of the export queue: one export to write.
/// `{"kind":"export","schema":1,"export_id":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportMessage {
    pub kind: String,
    pub schema: u32,
    pub export_id: String,
}

pub const EXPORT_KIND: &str = "export";

impl ExportMessage {
    pub fn new(export_id: &str) -> Self {
        ExportMessage {
            kind: EXPORT_KIND.into(),
            schema: SCHEMA,
            export_id: export_id.into(),
        }
    }

    /// Reads a body of the export queue, kind and schema first.
    pub fn parse(body: &str) -> Result<ExportMessage, MessageError> {
        parse_single_kind(body, EXPORT_KIND)
    }
}

/// The export queue, for the function that queues exports.
#[derive(Clone, Debug)]
pub struct ExportQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl ExportQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        ExportQueue {
            client,
            url: url.into(),
        }
    }

    pub async fn send(&self, message: &ExportMessage) -> Result<(), SendError> {
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

/// SendMessageBatch requests `EmailQueue::send_all` keeps in flight: a bulk chunk's thousand
/// link e-mails are queued in a tenth of the time one request after another takes.
const SEND_BATCHES_IN_FLIGHT: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_messages_are_checked_kind_and_schema_first() {
        let m = NoticeMessage::new("a", &crate::model::NoticeStep::Reminder(3), Some("j"));
        let text = serde_json::to_string(&m).expect("serialises");
        assert_eq!(
            text,
            r#"{"kind":"notice","schema":1,"agreement_id":"a","step":"reminder:3","job_id":"j"}"#
        );
        assert_eq!(NoticeMessage::parse(&text).expect("parses"), m);
        assert!(matches!(
            NoticeMessage::parse(r#"{"kind":"create_agreements","schema":1}"#),
            Err(MessageError::UnknownKind(_))
        ));
        assert!(matches!(
            NoticeMessage::parse(r#"{"kind":"notice","schema":2}"#),
            Err(MessageError::UnknownSchema(_, 2))
        ));
        assert!(matches!(
            NoticeMessage::parse(r#"{"kind":"notice","schema":1,"agreement_id":"a"}"#),
            Err(MessageError::Malformed(_))
        ));
    }

    #[test]
    fn export_messages_are_checked_kind_and_schema_first() {
        let m = ExportMessage::new("e");
        let text = serde_json::to_string(&m).expect("serialises");
        assert_eq!(text, r#"{"kind":"export","schema":1,"export_id":"e"}"#);
        assert_eq!(ExportMessage::parse(&text).expect("parses"), m);
        assert!(matches!(
            ExportMessage::parse(r#"{"kind":"notice","schema":1}"#),
            Err(MessageError::UnknownKind(_))
        ));
        assert!(matches!(
            ExportMessage::parse(r#"{"kind":"export","schema":2,"export_id":"e"}"#),
            Err(MessageError::UnknownSchema(_, 2))
        ));
        assert!(matches!(
            ExportMessage::parse(r#"{"kind":"export","schema":1,"export_id":"e","x":1}"#),
            Err(MessageError::Malformed(_))
        ));
    }

    fn round_trip(m: JobMessage) {
        let text = serde_json::to_string(&m).expect("serialises");
        assert_eq!(parse(&text).expect("parses"), m, "{text}");
    }

    #[test]
    fn messages_round_trip() {
        round_trip(JobMessage::create_agreements("j", "t", Some("c".into())));
        round_trip(JobMessage::sync_provider("j", "p", None));
        round_trip(JobMessage::attest_agreement("a"));
        round_trip(JobMessage::follow_attestation("a", "b", 3));
        assert_eq!(
            serde_json::to_string(&JobMessage::follow_attestation("a", "b", 3)).expect("json"),
            r#"{"kind":"follow_attestation","schema":1,"agreement_id":"a","attestation_id":"b","check":3}"#
        );
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
