//! Agreement exports: staff queue one (`start_export`), the export worker writes it
//! (`run_export`) and staff read how it went, with a download address once it is done
//! (`get_export`).
//!
//! The worker streams: it reads the agreements a page at a time through the list GET /agreements
//! uses, turns each into a row (the account, template and signing contact read once per export
//! through bounded caches), and sends the rows to S3 as a multipart upload, a part whenever 5 MiB
//! have gathered; only one part and one page are ever held.
//!
//! Under redelivery and retries: each attempt takes the export by a conditional write that
//! numbers it (`attempt`) and leases it until its invocation's deadline; it writes an object of
//! its own (`exports/<id>/<attempt>.<ext>`), and only the attempt the record still names may
//! complete the record with that object's key and its row count. A duplicate delivery while an
//! attempt holds the lease does nothing; an attempt that lost (a later one took over after its
//! lease ran out) deletes its object. So the record names one whole file, with its exact count,
//! or fails with a reason.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use serde::Serialize;

use crate::error::{BoxError, Chain, ServiceError, ServiceResult};
use crate::model::{
    Account, AgreementTemplate, Contact, Export, ExportFilter, ExportFormat, ExportStatus,
    ExportView, HistoryAction, Id, Instant, NewExport, Principal,
};
use crate::queue::{ExportMessage, ExportQueue};
use crate::services::{known_id, not_found};
use crate::store::{AgreementWithHistory, PageSpec, Store, StoreError};

/// The smallest part S3 takes (except the last): a part is sent once this much has gathered.
pub const PART_SIZE: usize = 5 * 1024 * 1024;
/// Agreements read per page.
const PAGE: usize = 500;
/// How long a download address works.
pub const URL_VALIDITY: Duration = Duration::from_secs(15 * 60);
/// Entries each lookup cache holds before it starts again (bounds the worker's memory).
const CACHE_ENTRIES: usize = 10_000;
/// Time an attempt keeps before its invocation's deadline to abort and record the outcome.
const DEADLINE_MARGIN: Duration = Duration::from_secs(20);

/// The bucket exports are written to and downloaded from.
#[derive(Clone, Debug)]
pub struct ExportsBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl ExportsBucket {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        ExportsBucket {
            client,
            bucket: bucket.into(),
        }
    }

    /// A presigned GET of `key`, valid for `URL_VALIDITY` from now.
    async fn download_url(&self, key: &str) -> Result<(String, Instant), BoxError> {
        let expires = Instant::from_unix_secs(
            Instant::now().unix_secs() + i64::try_from(URL_VALIDITY.as_secs()).unwrap_or(900),
        )
        .unwrap_or_else(Instant::now);
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(PresigningConfig::expires_in(URL_VALIDITY)?)
            .await?;
        Ok((request.uri().to_string(), expires))
    }
}

/// POST /exports: checks the body, records the queued export and queues it.
pub async fn start_export(
    store: &Store,
    queue: &ExportQueue,
    caller: &Principal,
    input: NewExport,
) -> ServiceResult<Export> {
    caller.require_staff()?;
    let filter = ExportFilter::parse(&input.filter)?;
    let export = Export::queued(input.format, filter, caller.subject(), Instant::now());
    store.create(&export).await?;
    if let Err(e) = queue.send(&ExportMessage::new(export.id.as_str())).await {
        store
            .fail_export(
                &export.id,
                None,
                "the export could not be queued",
                Instant::now(),
            )
            .await?;
        return Err(e.into());
    }
    tracing::info!(export_id = %export.id, format = ?export.format, "export queued");
    Ok(export)
}

/// GET /exports/{id}: the record, with a fresh download address while it is completed.
pub async fn get_export(
    store: &Store,
    bucket: &ExportsBucket,
    caller: &Principal,
    id: &str,
) -> ServiceResult<ExportView> {
    caller.require_staff()?;
    let id = known_id(id, "export")?;
    let export: Export = store
        .by_id(&id)
        .await?
        .ok_or_else(|| not_found("export", &id))?;
    let url = match (&export.status, &export.object_key) {
        (ExportStatus::Completed, Some(key)) => {
            Some(bucket.download_url(key).await.map_err(|e| {
                ServiceError::internal(format!("presigning failed: {}", Chain(&*e)))
            })?)
        }
        _ => None,
    };
    Ok(ExportView::of(export, url))
}

/// Why an attempt did not end the export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The message names no export: it can never succeed.
    #[error("unprocessable message: {0}")]
    Poison(String),
    #[error("a store request failed")]
    Store(#[from] StoreError),
    #[error("an S3 request failed: {0}")]
    S3(String, #[source] BoxError),
}

impl ExportError {
    pub fn is_poison(&self) -> bool {
        matches!(self, ExportError::Poison(_))
    }
}

fn s3<E: std::error::Error + Send + Sync + 'static>(what: &str) -> impl FnOnce(E) -> ExportError {
    let what = what.to_string();
    move |e| ExportError::S3(what, Box::new(e))
}

/// What a delivery of an export message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This attempt wrote the file and completed the export with its rows.
    Completed { rows: u64 },
    /// The export failed for good (this attempt recorded why).
    Failed { reason: String },
    /// The export had ended, or another attempt holds it: nothing to do.
    Duplicate,
    /// A later attempt took the export over while this one wrote; its object was deleted.
    Superseded,
}

/// Runs an export: takes it, writes its file, completes it. `deadline` is when the invocation
/// ends (its lease); the attempt stops in time to abort and record the outcome.
pub async fn run_export(
    store: &Store,
    bucket: &ExportsBucket,
    export_id: &str,
    deadline: std::time::SystemTime,
) -> Result<Outcome, ExportError> {
    let id = Id::parse(export_id)
        .ok_or_else(|| ExportError::Poison(format!("`{export_id}` is not an export id")))?;
    let lease_until = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let Some(export) = store
        .start_export_attempt(&id, Instant::now(), lease_until)
        .await?
    else {
        let current: Option<Export> = store.by_id(&id).await?;
        return match current {
            None => Err(ExportError::Poison(format!("export {id} does not exist"))),
            Some(_) => Ok(Outcome::Duplicate),
        };
    };
    let attempt = export.attempt;
    let key = export.object_key_of(attempt);
    let stop_at = deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline);
    tracing::info!(export_id = %id, attempt, key, "export attempt started");
    match write_file(store, bucket, &export, &key, stop_at).await {
        Ok(Written::All(rows)) => {
            if store
                .complete_export(&id, attempt, rows, &key, Instant::now())
                .await?
            {
                tracing::info!(export_id = %id, attempt, rows, "export completed");
                Ok(Outcome::Completed { rows })
            } else {
                delete_quietly(bucket, &key).await;
                Ok(Outcome::Superseded)
            }
        }
        Ok(Written::OutOfTime(rows)) => {
            let reason = format!(
                "the export did not finish within the worker's time: {rows} rows written \
                 before the deadline; narrow the filter"
            );
            store
                .fail_export(&id, Some(attempt), &reason, Instant::now())
                .await?;
            Ok(Outcome::Failed { reason })
        }
        Err(e) => {
            if let Err(release) = store.release_export(&id, attempt).await {
                tracing::warn!(error = %Chain(&release), "the export's lease could not be released");
            }
            Err(e)
        }
    }
}

/// Ends the export of a message that will not be delivered again, with why.
pub async fn give_up(store: &Store, export_id: &str, reason: &str) -> Result<(), ExportError> {
    if let Some(id) = Id::parse(export_id) {
        store.fail_export(&id, None, reason, Instant::now()).await?;
    }
    Ok(())
}

async fn delete_quietly(bucket: &ExportsBucket, key: &str) {
    if let Err(e) = bucket
        .client
        .delete_object()
        .bucket(&bucket.bucket)
        .key(key)
        .send()
        .await
    {
        tracing::warn!(error = %Chain(&e), key, "a superseded export object could not be deleted; the lifecycle rule will");
    }
}

enum Written {
    All(u64),
    OutOfTime(u64),
}

/// The multipart upload of one object, started when the first part is due.
struct Upload<'a> {
    bucket: &'a ExportsBucket,
    key: &'a str,
    content_type: &'static str,
    id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl Upload<'_> {
    async fn part(&mut self, body: Vec<u8>) -> Result<(), ExportError> {
        let upload_id = match &self.id {
            Some(id) => id.clone(),
            None => {
                let out = self
                    .bucket
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket.bucket)
                    .key(self.key)
                    .content_type(self.content_type)
                    .send()
                    .await
                    .map_err(s3("CreateMultipartUpload"))?;
                let id = out.upload_id().unwrap_or_default().to_string();
                self.id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let out = self
            .bucket
            .client
            .upload_part()
            .bucket(&self.bucket.bucket)
            .key(self.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(s3("UploadPart"))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_string))
                .build(),
        );
        Ok(())
    }

    /// The last part (any size) and the whole object; a file smaller than one part is one Put.
    async fn finish(mut self, rest: Vec<u8>) -> Result<(), ExportError> {
        if self.id.is_none() {
            self.bucket
                .client
                .put_object()
                .bucket(&self.bucket.bucket)
                .key(self.key)
                .content_type(self.content_type)
                .body(ByteStream::from(rest))
                .send()
                .await
                .map_err(s3("PutObject"))?;
            return Ok(());
        }
        if !rest.is_empty() {
            self.part(rest).await?;
        }
        self.bucket
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket.bucket)
            .key(self.key)
            .upload_id(self.id.clone().unwrap_or_default())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await
            .map_err(s3("CompleteMultipartUpload"))?;
        Ok(())
    }

    async fn abort(self) {
        if let Some(id) = &self.id {
            if let Err(e) = self
                .bucket
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket.bucket)
                .key(self.key)
                .upload_id(id)
                .send()
                .await
            {
                tracing::warn!(error = %Chain(&e), "an export's upload could not be aborted; the lifecycle rule will");
            }
        }
    }
}

async fn write_file(
    store: &Store,
    bucket: &ExportsBucket,
    export: &Export,
    key: &str,
    stop_at: std::time::SystemTime,
) -> Result<Written, ExportError> {
    let mut upload = Upload {
        bucket,
        key,
        content_type: export.format.content_type(),
        id: None,
        parts: Vec::new(),
    };
    match write_rows(store, &mut upload, export, stop_at).await {
        Ok((Written::All(rows), rest)) => match upload.finish(rest).await {
            Ok(()) => Ok(Written::All(rows)),
            Err(e) => Err(e),
        },
        Ok((out_of_time, _)) => {
            upload.abort().await;
            Ok(out_of_time)
        }
        Err(e) => {
            upload.abort().await;
            Err(e)
        }
    }
}

/// Reads the pages and sends every full part; answers the rows and what is left for the last.
async fn write_rows(
    store: &Store,
    upload: &mut Upload<'_>,
    export: &Export,
    stop_at: std::time::SystemTime,
) -> Result<(Written, Vec<u8>), ExportError> {
    let filter = export.filter.agreements();
    let mut lookups = Lookups::default();
    let mut buffer: Vec<u8> = Vec::with_capacity(PART_SIZE + PART_SIZE / 8);
    if export.format == ExportFormat::Csv {
        write_csv_record(&mut buffer, COLUMNS.iter().copied());
    }
    let mut rows = 0u64;
    let mut cursor: Option<String> = None;
    loop {
        if std::time::SystemTime::now() >= stop_at {
            return Ok((Written::OutOfTime(rows), buffer));
        }
        let page = store
            .agreements_with_history(
                &filter,
                PageSpec {
                    limit: PAGE,
                    cursor: cursor.as_deref(),
                },
            )
            .await?;
        for item in &page.items {
            let row = lookups.row(store, item).await?;
            match export.format {
                ExportFormat::Csv => {
                    write_csv_record(&mut buffer, row.cells().iter().map(String::as_str))
                }
                ExportFormat::Jsonl => {
                    serde_json::to_writer(&mut buffer, &row).map_err(|e| {
                        ExportError::Store(StoreError::Corrupt(format!(
                            "a row could not be written: {e}"
                        )))
                    })?;
                    buffer.push(b'\n');
                }
            }
            rows += 1;
            if buffer.len() >= PART_SIZE {
                let part =
                    std::mem::replace(&mut buffer, Vec::with_capacity(PART_SIZE + PART_SIZE / 8));
                upload.part(part).await?;
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok((Written::All(rows), buffer));
        }
    }
}

/// The file's columns, in order (CSV header; JSON Lines keys).
pub const COLUMNS: [&str; 22] = [
    "agreement_id",
    "name",
    "account_id",
    "account_name",
    "template_id",
    "template_name",
    "provider_id",
    "document_version",
    "accepted_document_version",
    "status",
    "signed_by",
    "signer_name",
    "signer_email",
    "signed_on",
    "executed_on",
    "accepted_at",
    "accepted_ip",
    "accepted_user_agent",
    "attestation_status",
    "declined_on",
    "created_at",
    "source",
];

/// One agreement's row: the agreement, its account, template and signing contact, and the
/// evidence its acceptance recorded (the `accepted` history event's details).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Row {
    pub agreement_id: String,
    pub name: String,
    pub account_id: String,
    pub account_name: Option<String>,
    pub template_id: String,
    pub template_name: Option<String>,
    pub provider_id: String,
    pub document_version: String,
    pub accepted_document_version: Option<String>,
    pub status: String,
    pub signed_by: Option<String>,
    pub signer_name: Option<String>,
    pub signer_email: Option<String>,
    pub signed_on: Option<String>,
    pub executed_on: Option<String>,
    pub accepted_at: Option<String>,
    pub accepted_ip: Option<String>,
    pub accepted_user_agent: Option<String>,
    pub attestation_status: Option<String>,
    pub declined_on: Option<String>,
    pub created_at: String,
    pub source: String,
}

impl Row {
    /// The cells in `COLUMNS` order (absent values empty).
    pub fn cells(&self) -> [String; 22] {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            self.agreement_id.clone(),
            self.name.clone(),
            self.account_id.clone(),
            o(&self.account_name),
            self.template_id.clone(),
            o(&self.template_name),
            self.provider_id.clone(),
            self.document_version.clone(),
            o(&self.accepted_document_version),
            self.status.clone(),
            o(&self.signed_by),
            o(&self.signer_name),
            o(&self.signer_email),
            o(&self.signed_on),
            o(&self.executed_on),
            o(&self.accepted_at),
            o(&self.accepted_ip),
            o(&self.accepted_user_agent),
            o(&self.attestation_status),
            o(&self.declined_on),
            self.created_at.clone(),
            self.source.clone(),
        ]
    }
}

fn text_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn json_text<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Per-export caches of what many rows share; each starts again when full, so memory stays
/// bounded whatever the export's size.
#[derive(Default)]
struct Lookups {
    accounts: HashMap<Id, Option<Account>>,
    templates: HashMap<Id, Option<AgreementTemplate>>,
    contacts: HashMap<(Id, Id), Option<Contact>>,
}

fn bounded<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if map.len() >= CACHE_ENTRIES {
        map.clear();
    }
}

impl Lookups {
    async fn row(&mut self, store: &Store, item: &AgreementWithHistory) -> Result<Row, StoreError> {
        let a = &item.agreement;
        if !self.accounts.contains_key(&a.account_id) {
            bounded(&mut self.accounts);
            let account: Option<Account> = store.by_id(&a.account_id).await?;
            self.accounts.insert(a.account_id.clone(), account);
        }
        if !self.templates.contains_key(&a.template_id) {
            bounded(&mut self.templates);
            let template: Option<AgreementTemplate> = store.by_id(&a.template_id).await?;
            self.templates.insert(a.template_id.clone(), template);
        }
        let contact = match &a.signed_by {
            Some(c) => {
                let key = (a.account_id.clone(), c.clone());
                if !self.contacts.contains_key(&key) {
                    bounded(&mut self.contacts);
                    let contact = store.contact(&a.account_id, c).await?;
                    self.contacts.insert(key.clone(), contact);
                }
                self.contacts.get(&key).cloned().flatten()
            }
            None => None,
        };
        let account = self.accounts.get(&a.account_id).cloned().flatten();
        let template = self.templates.get(&a.template_id).cloned().flatten();
        Ok(row_of(
            item,
            account.as_ref(),
            template.as_ref(),
            contact.as_ref(),
        ))
    }
}

/// The row of one agreement; the acceptance evidence is the latest `accepted` event's.
pub fn row_of(
    item: &AgreementWithHistory,
    account: Option<&Account>,
    template: Option<&AgreementTemplate>,
    contact: Option<&Contact>,
) -> Row {
    let a = &item.agreement;
    let accepted = item
        .history
        .iter()
        .rev()
        .find(|e| e.action == HistoryAction::Accepted);
    let details = accepted.and_then(|e| e.details.as_ref());
    let at = |path: &[&str]| -> Option<String> {
        let mut v = details?;
        for p in path {
            v = v.get(*p)?;
        }
        text_of(v)
    };
    Row {
        agreement_id: a.id.to_string(),
        name: a.name.clone(),
        account_id: a.account_id.to_string(),
        account_name: account.map(|x| x.name.clone()),
        template_id: a.template_id.to_string(),
        template_name: template.map(|t| t.name.clone()),
        provider_id: a.provider_id.to_string(),
        document_version: a.document_version.clone(),
        accepted_document_version: at(&["what", "template_version"])
            .or_else(|| accepted.map(|_| a.document_version.clone())),
        status: a.status.as_str().to_string(),
        signed_by: a.signed_by.as_ref().map(Id::to_string),
        signer_name: contact
            .map(Contact::full_name)
            .or_else(|| at(&["who", "name"])),
        signer_email: contact
            .map(|c| c.email.clone())
            .or_else(|| at(&["who", "email"])),
        signed_on: a.signed_on.map(|d| d.to_string()),
        executed_on: a.executed_on.map(|d| d.to_string()),
        accepted_at: at(&["when"]).or_else(|| accepted.map(|e| e.at.to_string())),
        accepted_ip: at(&["from", "source_ip"]),
        accepted_user_agent: at(&["from", "user_agent"]),
        attestation_status: a.attestation.as_ref().map(|x| json_text(&x.status)),
        declined_on: a.declined_on.map(|d| d.to_string()),
        created_at: a.created_at.to_string(),
        source: json_text(&a.source),
    }
}

/// Appends one CSV record (RFC 4180: every cell quoted, `"` doubled, CRLF after the record).
/// A cell that a spreadsheet would read as a formula — starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return — is neutralised by a leading `'` inside its quotes.
pub fn write_csv_record<'a>(out: &mut Vec<u8>, cells: impl Iterator<Item = &'a str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            out.push(b'\'');
        }
        for b in cell.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cells: &[&str]) -> String {
        let mut out = Vec::new();
        write_csv_record(&mut out, cells.iter().copied());
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(record(&["a", "b c", ""]), "\"a\",\"b c\",\"\"\r\n");
        assert_eq!(record(&["say \"hi\""]), "\"say \"\"hi\"\"\"\r\n");
        assert_eq!(
            record(&["line\nbreak, comma"]),
            "\"line\nbreak, comma\"\r\n"
        );
        for dangerous in ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            let text = record(&[dangerous]);
            assert_eq!(text, format!("\"'{dangerous}\"\r\n"), "{dangerous:?}");
        }
        assert_eq!(
            record(&["=HYPERLINK(\"http://x\")"]),
            "\"'=HYPERLINK(\"\"http://x\"\")\"\r\n"
        );
        // Not at the start: left alone.
        assert_eq!(record(&["a=1", "x-y"]), "\"a=1\",\"x-y\"\r\n");
    }

    #[test]
    fn a_record_reads_back_with_a_csv_reader() {
        let text = record(&["=cmd|' /C calc'!A0", "plain", "q\"uote"]);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let rec = reader
            .records()
            .next()
            .expect("a record")
            .expect("valid csv");
        assert_eq!(&rec[0], "'=cmd|' /C calc'!A0");
        assert_eq!(&rec[1], "plain");
        assert_eq!(&rec[2], "q\"uote");
    }
}
