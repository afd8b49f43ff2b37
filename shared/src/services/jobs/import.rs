//! A large provider-account import as a job: the request stores the rows in parts in the job's
//! partition and answers 202 at once; the worker imports a part per chunk, counting created,
//! skipped and failed rows exactly once (a redelivered part recognises the provider accounts
//! this job made), the providers' counts following each part as it lands.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};

use super::runner::{queue_job, Chunk, ChunkWork, JobError, JobSettings, FAILURES_PER_CHUNK};
use crate::error::{ServiceError, ServiceResult};
use crate::model::provider_account::specific_id;
use crate::model::{BulkJob, Id, Instant, ItemFailure, JobKind, JobStatus, Principal};
use crate::queue::BulkQueue;
use crate::services::provider_accounts::{
    resolve_row, ImportRow, Resolver, IMPORT_CONCURRENCY, MAX_IMPORT_ROWS,
};
use crate::store::{ChunkCounts, ChunkEnd, ImportPart, ImportPartRow, Store, StoreError};

/// Rows per part: one chunk of the job, one item of about 100 KB at most.
pub const PART_ROWS: usize = 500;
/// How long the parts are kept (DynamoDB's TTL deletes them after).
const PART_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// Stores the rows and queues the job; answers at once. A job imports the rows of one provider
/// (its progress and its `provider_id` are that provider's).
pub async fn start_import(
    store: &Store,
    queue: &BulkQueue,
    caller: &Principal,
    rows: Vec<ImportRow>,
) -> ServiceResult<BulkJob> {
    caller.require_staff()?;
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(ServiceError::PayloadTooLarge(format!(
            "{} rows; an import takes at most {MAX_IMPORT_ROWS}",
            rows.len()
        )));
    }
    let mut providers = rows
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.provider_id.trim());
    let provider = providers.next().unwrap_or_default().to_string();
    if providers.any(|p| p != provider) {
        return Err(ServiceError::Validation(
            "an import of this size runs as a job of one provider: give every row the same \
             `provider_id`, or split the file per provider"
                .into(),
        ));
    }
    let provider = crate::services::providers::require_provider(store, &provider).await?;
    let now = Instant::now();
    let mut job = BulkJob::queued(
        JobKind::ImportProviderAccounts,
        None,
        provider.id,
        caller.subject().to_string(),
        now,
    );
    job.total = Some(rows.len() as u64);
    let ttl = i64::try_from(now.unix_millis() / 1000).unwrap_or(i64::MAX) + PART_TTL_SECONDS;
    // A second row of the same provider account is a skip, as in an import answered at once;
    // told apart here, since a later delivery of a part could not tell it from its own write.
    let mut seen = std::collections::HashSet::new();
    let numbered: Vec<ImportPartRow> = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| match row {
            Ok(input) => {
                let key = specific_id(&input.provider_specific_id).ok();
                let duplicate = key.is_some_and(|k| !seen.insert(k));
                ImportPartRow {
                    row: i + 1,
                    input: (!duplicate).then_some(input),
                    error: None,
                    duplicate,
                }
            }
            Err(detail) => ImportPartRow {
                row: i + 1,
                input: None,
                error: Some(detail),
                duplicate: false,
            },
        })
        .collect();
    // The parts first: a job is only queued once everything it reads is there.
    for (n, rows) in numbered.chunks(PART_ROWS).enumerate() {
        let part = ImportPart {
            job_id: job.id.clone(),
            part: u32::try_from(n).unwrap_or(u32::MAX),
            rows: rows.to_vec(),
            ttl,
        };
        store.create(&part).await?;
    }
    queue_job(store, queue, &job).await?;
    tracing::info!(job_id = %job.id, rows = job.total, "import job queued");
    Ok(job)
}

/// The chunks of an import job: a part of its rows each.
pub struct ImportProviderAccounts<'a> {
    pub store: &'a Store,
    pub settings: JobSettings,
}

impl ChunkWork for ImportProviderAccounts<'_> {
    const KIND: JobKind = JobKind::ImportProviderAccounts;

    async fn chunk(&self, job: &BulkJob, cursor: &str) -> Result<Chunk, JobError> {
        let store = self.store;
        let part: u32 = if cursor.is_empty() {
            0
        } else {
            cursor
                .parse()
                .map_err(|_| JobError::Poison("the message's cursor is not a part".into()))?
        };
        if job.status == JobStatus::Queued {
            store
                .start_job(&job.id, job.total.unwrap_or(0), Instant::now())
                .await?;
        }
        let Some(rows) = store.import_part(&job.id, part).await? else {
            return Ok(Chunk::ended(ChunkCounts::default(), ChunkEnd::Complete));
        };
        let (counts, failures) = import_rows(store, &job.id, rows.rows).await?;
        let parts = job.total.unwrap_or(0).div_ceil(PART_ROWS as u64);
        let end = if u64::from(part) + 1 < parts {
            ChunkEnd::Continue((part + 1).to_string())
        } else {
            ChunkEnd::Complete
        };
        let mut chunk = Chunk::ended(counts, end);
        chunk.failures = failures;
        Ok(chunk)
    }
}

/// Imports one part's rows: created (or made by an earlier delivery of this job), skipped (its
/// key held by another), or failed with the reason; then adds the new ones to their providers'
/// counts.
async fn import_rows(
    store: &Store,
    job_id: &Id,
    rows: Vec<ImportPartRow>,
) -> Result<(ChunkCounts, Vec<ItemFailure>), JobError> {
    let resolver = Resolver::new(store);
    let outcomes: Vec<(usize, Result<Written, String>)> = stream::iter(rows)
        .map(|r| {
            let resolver = &resolver;
            async move {
                let outcome = match (r.input, r.error) {
                    _ if r.duplicate => Ok(Written::Taken),
                    (Some(input), _) => write_row(store, resolver, job_id, &input).await,
                    (None, error) => Err(error.unwrap_or_else(|| "an empty row".into())),
                };
                (r.row, outcome)
            }
        })
        .buffer_unordered(IMPORT_CONCURRENCY)
        .collect()
        .await;
    let mut counts = ChunkCounts::default();
    let mut failures = Vec::new();
    let mut new_per_provider: HashMap<Id, u64> = HashMap::new();
    for (row, outcome) in outcomes {
        match outcome {
            Ok(Written::New(provider)) => {
                counts.created += 1;
                *new_per_provider.entry(provider).or_default() += 1;
            }
            Ok(Written::Earlier) => counts.created += 1,
            Ok(Written::Taken) => counts.skipped += 1,
            Err(reason) => {
                counts.failed += 1;
                if failures.len() < FAILURES_PER_CHUNK {
                    failures.push(ItemFailure {
                        item: format!("row {row}"),
                        reason,
                    });
                }
            }
        }
    }
    for (provider, n) in new_per_provider {
        store.add_provider_accounts(&provider, n).await?;
    }
    Ok((counts, failures))
}

enum Written {
    /// Written now, for this provider.
    New(Id),
    /// Written by an earlier delivery of this job.
    Earlier,
    /// The provider already had a provider account of this id, or an earlier row of the import
    /// names it.
    Taken,
}

async fn write_row(
    store: &Store,
    resolver: &Resolver<'_>,
    job_id: &Id,
    input: &crate::model::NewProviderAccount,
) -> Result<Written, String> {
    let mut pa = resolve_row(resolver, input)
        .await
        .map_err(|e| e.to_string())?;
    pa.import_job_id = Some(job_id.clone());
    match store.create_provider_account_or_existing(&pa).await {
        Ok(None) => Ok(Written::New(pa.provider_id)),
        Ok(Some(existing)) if existing.import_job_id.as_ref() == Some(job_id) => {
            Ok(Written::Earlier)
        }
        Ok(Some(_)) | Err(StoreError::ConditionFailed) => Ok(Written::Taken),
        Err(e) => Err(format!(
            "the row could not be written ({}); import it again",
            crate::error::Chain(&e)
        )),
    }
}
