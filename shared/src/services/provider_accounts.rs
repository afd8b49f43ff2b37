//! Provider accounts: create one, import many (JSON or CSV), list by provider or account.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use std::sync::Arc;
use tokio::sync::OnceCell;

use crate::error::{ServiceError, ServiceResult};
use crate::model::provider_account::specific_id;
use crate::model::{
    Account, Id, Instant, NewProviderAccount, Principal, Provider, ProviderAccount,
};
use crate::services::{filter_id, not_found, PageRequest};
use crate::store::{Page, ProviderAccountsOf, Store, StoreError};

pub const MAX_IMPORT_ROWS: usize = 10_000;
/// Rows written between two updates of their providers' counts.
const WRITE_BATCH: usize = 500;
/// Conditional puts in flight during an import (measured in docs/benchmarks.md).
pub const IMPORT_CONCURRENCY: usize = 32;

pub async fn create_provider_account(
    store: &Store,
    caller: &Principal,
    input: NewProviderAccount,
) -> ServiceResult<ProviderAccount> {
    caller.require_staff()?;
    let resolver = Resolver::new(store);
    let provider = resolver.provider(&input.provider_id).await?;
    let account = resolver.account(&input).await?;
    let pa = ProviderAccount::create(provider, account, &input, Instant::now())?;
    match store.create_provider_account(&pa).await {
        Ok(()) => {
            tracing::info!(provider_account_id = %pa.id, "provider account created");
            Ok(pa)
        }
        Err(StoreError::ConditionFailed) => {
            let existing = store
                .provider_account(&pa.provider_id, &pa.provider_specific_id)
                .await?;
            Err(ServiceError::Conflict {
                detail: format!(
                    "provider {} already has a provider account with provider_specific_id `{}`",
                    pa.provider_id, pa.provider_specific_id
                ),
                existing_id: existing.map(|e| e.id.to_string()),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// One row that did not land, and why: the row's own fault, or a write that failed (then the row
/// can be imported again; the rows that landed are counted, nothing is half-written).
#[derive(Debug)]
pub struct RowFailure {
    /// 1 for the first row of data (the CSV header is not a row).
    pub row: usize,
    pub error: ServiceError,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub created: usize,
    pub skipped: usize,
    pub failed: Vec<RowFailure>,
}

/// A row as it came: parsed, or already failed.
pub type ImportRow = Result<NewProviderAccount, String>;

/// Imports rows independently: one bad row fails alone, a row already present is skipped, and
/// the providers' counts follow the writes batch by batch.
pub async fn import_provider_accounts(
    store: &Store,
    caller: &Principal,
    rows: Vec<ImportRow>,
) -> ServiceResult<ImportReport> {
    caller.require_staff()?;
    if rows.len() > MAX_IMPORT_ROWS {
        return Err(ServiceError::PayloadTooLarge(format!(
            "{} rows; an import takes at most {MAX_IMPORT_ROWS}",
            rows.len()
        )));
    }
    let resolver = Resolver::new(store);
    // First every row is checked and resolved (lookups shared between rows), then the rows
    // that hold are written in order, in transactions that carry their providers' counts.
    let mut resolved: Vec<(usize, Result<ProviderAccount, ServiceError>)> =
        stream::iter(rows.into_iter().enumerate())
            .map(|(i, row)| {
                let resolver = &resolver;
                async move {
                    let result = match row {
                        Err(detail) => Err(ServiceError::Validation(detail)),
                        Ok(input) => resolve_row(resolver, &input).await,
                    };
                    (i + 1, result)
                }
            })
            .buffer_unordered(IMPORT_CONCURRENCY)
            .collect()
            .await;
    resolved.sort_by_key(|(row, _)| *row);
    let mut report = ImportReport::default();
    let mut to_write: Vec<(usize, ProviderAccount)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (row, result) in resolved {
        match result {
            // A second row of the same provider account is a skip, as a re-import would be.
            Ok(pa) if !seen.insert((pa.provider_id.clone(), pa.provider_specific_id.clone())) => {
                report.skipped += 1;
            }
            Ok(pa) => to_write.push((row, pa)),
            Err(error) => report.failed.push(RowFailure { row, error }),
        }
    }
    // Written a batch at a time, each batch's new provider accounts added to their providers'
    // counts as soon as it is written: a request cut short (a timeout, a crash) leaves at most
    // one batch uncounted, not the whole import.
    for batch in to_write.chunks(WRITE_BATCH) {
        let written: Vec<(usize, Id, Result<(), StoreError>)> = stream::iter(batch.to_vec())
            .map(|(row, pa)| async move {
                let result = store.create(&pa).await;
                (row, pa.provider_id, result)
            })
            .buffer_unordered(IMPORT_CONCURRENCY)
            .collect()
            .await;
        let mut per_provider: HashMap<Id, u64> = HashMap::new();
        for (row, provider, result) in written {
            match result {
                Ok(()) => {
                    report.created += 1;
                    *per_provider.entry(provider).or_default() += 1;
                }
                Err(StoreError::ConditionFailed) => report.skipped += 1,
                // The row did not land: it can be imported again.
                Err(e) => {
                    let error = ServiceError::from(e);
                    tracing::warn!(row, error = %crate::error::Chain(&error), "an import row could not be written");
                    report.failed.push(RowFailure {
                        row,
                        error: ServiceError::internal(
                            "the row could not be written; import it again",
                        ),
                    });
                }
            }
        }
        for (provider, n) in per_provider {
            store.add_provider_accounts(&provider, n).await?;
        }
    }
    report.failed.sort_by_key(|f| f.row);
    tracing::info!(
        created = report.created,
        skipped = report.skipped,
        failed = report.failed.len(),
        "provider accounts imported"
    );
    Ok(report)
}

/// A row as the provider account it describes, once its provider and account are known.
pub(crate) async fn resolve_row(
    resolver: &Resolver<'_>,
    input: &NewProviderAccount,
) -> ServiceResult<ProviderAccount> {
    let provider = resolver.provider(&input.provider_id).await?;
    specific_id(&input.provider_specific_id)?;
    let account = resolver.account(input).await?;
    ProviderAccount::create(provider, account, input, Instant::now())
}

/// Remembers one lookup per key for the length of a request; concurrent rows that name the
/// same key wait for the one lookup instead of repeating it.
type Lookup = Arc<OnceCell<Result<Id, Arc<ServiceError>>>>;

#[derive(Default)]
struct Memo {
    cells: std::sync::Mutex<HashMap<String, Lookup>>,
}

impl Memo {
    async fn get_or<F>(&self, key: &str, lookup: F) -> ServiceResult<Id>
    where
        F: std::future::Future<Output = ServiceResult<Id>>,
    {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            cells.entry(key.to_string()).or_default().clone()
        };
        replay(
            cell.get_or_init(|| async { lookup.await.map_err(Arc::new) })
                .await,
        )
    }
}

/// The one lookup's answer, for each row that asked for it.
fn replay(r: &Result<Id, Arc<ServiceError>>) -> Result<Id, ServiceError> {
    match r {
        Ok(id) => Ok(id.clone()),
        Err(e) => Err(match e.as_ref() {
            ServiceError::NotFound(d) => ServiceError::NotFound(d.clone()),
            ServiceError::Validation(d) => ServiceError::Validation(d.clone()),
            ServiceError::Conflict { detail, .. } => ServiceError::conflict(detail.clone()),
            _ => ServiceError::because("a lookup shared by several rows failed", Arc::clone(e)),
        }),
    }
}

/// Looks up providers, accounts and e-mail domains once per request, however many rows name them.
pub(crate) struct Resolver<'s> {
    store: &'s Store,
    providers: Memo,
    accounts: Memo,
    domains: Memo,
}

impl<'s> Resolver<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Resolver {
            store,
            providers: Memo::default(),
            accounts: Memo::default(),
            domains: Memo::default(),
        }
    }

    async fn provider(&self, raw: &str) -> ServiceResult<Id> {
        self.providers
            .get_or(raw, async {
                let id = Id::parse(raw).ok_or_else(|| not_found("provider", raw))?;
                let found: Option<Provider> = self.store.by_id(&id).await?;
                found
                    .map(|p| p.id)
                    .ok_or_else(|| not_found("provider", &id))
            })
            .await
    }

    /// The account a row names: by id, or else the one account of its e-mail domain.
    async fn account(&self, input: &NewProviderAccount) -> ServiceResult<Id> {
        let by_id = input
            .account_id
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let by_domain = input
            .email_domain
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty());
        match (by_id, by_domain) {
            (Some(raw), _) => {
                self.accounts
                    .get_or(raw, async {
                        let id = Id::parse(raw).ok_or_else(|| not_found("account", raw))?;
                        let found: Option<Account> = self.store.by_id(&id).await?;
                        found.map(|a| a.id).ok_or_else(|| not_found("account", &id))
                    })
                    .await
            }
            (None, Some(domain)) => {
                let domain = crate::model::validate::domain("email_domain", domain)?;
                self.domains
                    .get_or(&domain, async {
                        let matches = self.store.accounts_by_domain(&domain, 2).await?;
                        match matches.as_slice() {
                            [one] => Ok(one.clone()),
                            [] => Err(ServiceError::Validation(format!(
                                "no account has the e-mail domain `{domain}`"
                            ))),
                            _ => Err(ServiceError::conflict(format!(
                                "several accounts have the e-mail domain `{domain}`; give account_id"
                            ))),
                        }
                    })
                    .await
            }
            (None, None) => Err(ServiceError::Validation(
                "give `account_id`, or `email_domain` to match an account".into(),
            )),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ProviderAccountFilter {
    pub provider_id: Option<String>,
    pub account_id: Option<String>,
}

pub async fn list_provider_accounts(
    store: &Store,
    caller: &Principal,
    filter: &ProviderAccountFilter,
    page: &PageRequest,
) -> ServiceResult<Page<ProviderAccount>> {
    caller.require_staff()?;
    let provider = filter_id(filter.provider_id.as_deref(), "provider_id")?;
    let account = filter_id(filter.account_id.as_deref(), "account_id")?;
    let of = match (&provider, &account) {
        (Some(provider), account) => ProviderAccountsOf::Provider {
            provider,
            account: account.as_ref(),
        },
        (None, Some(a)) => ProviderAccountsOf::Account(a),
        (None, None) => {
            return Err(ServiceError::Validation(
                "give `provider_id` or `account_id`".into(),
            ))
        }
    };
    Ok(store.provider_accounts(of, page.spec()).await?)
}

/// The CSV columns an import understands (the fields of the JSON form).
pub const CSV_COLUMNS: [&str; 5] = [
    "provider_id",
    "provider_specific_id",
    "name",
    "account_id",
    "email_domain",
];

/// Reads a CSV import: a header row naming columns of `CSV_COLUMNS`, then one row per provider
/// account. A UTF-8 BOM is ignored; a broken row fails alone; a bad header fails the request.
pub fn parse_csv(body: &[u8]) -> ServiceResult<Vec<ImportRow>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| ServiceError::Validation(format!("the CSV header cannot be read: {e}")))?
        .clone();
    let mut columns = Vec::new();
    for h in headers.iter() {
        let name = h.to_ascii_lowercase();
        if !CSV_COLUMNS.contains(&name.as_str()) {
            return Err(ServiceError::Validation(format!(
                "unknown CSV column `{h}`; the columns are {}",
                CSV_COLUMNS.join(", ")
            )));
        }
        if columns.contains(&name) {
            return Err(ServiceError::Validation(format!(
                "CSV column `{h}` appears twice"
            )));
        }
        columns.push(name);
    }
    for required in ["provider_id", "provider_specific_id", "name"] {
        if !columns.iter().any(|c| c == required) {
            return Err(ServiceError::Validation(format!(
                "the CSV has no `{required}` column"
            )));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        if rows.len() > MAX_IMPORT_ROWS {
            break;
        }
        let row = match record {
            Err(e) => Err(format!("the row cannot be read: {e}")),
            Ok(r) if r.iter().all(str::is_empty) => continue,
            Ok(r) if r.len() != columns.len() => Err(format!(
                "the row has {} fields; the header has {}",
                r.len(),
                columns.len()
            )),
            Ok(r) => {
                let mut input = NewProviderAccount::default();
                for (column, value) in columns.iter().zip(r.iter()) {
                    let value = value.to_string();
                    match column.as_str() {
                        "provider_id" => input.provider_id = value,
                        "provider_specific_id" => input.provider_specific_id = value,
                        "name" => input.name = value,
                        "account_id" => input.account_id = Some(value),
                        _ => input.email_domain = Some(value),
                    }
                }
                Ok(input)
            }
        };
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_quotes_and_bad_rows() {
        let body = "\u{FEFF}provider_id,provider_specific_id,name,email_domain\n\
                    P1,T1,\"Contoso, Ltd\",contoso.com\n\
                    P1,T2,Fabrikam\n\
                    \n\
                    P1,T3,\"Tailspin \"\"Toys\"\"\",tailspin.com\n";
        let rows = parse_csv(body.as_bytes()).expect("header is fine");
        assert_eq!(rows.len(), 3);
        let first = rows[0].as_ref().expect("row 1 parses");
        assert_eq!(first.name, "Contoso, Ltd");
        assert_eq!(first.email_domain.as_deref(), Some("contoso.com"));
        assert!(rows[1].is_err(), "row 2 lacks a field");
        assert_eq!(rows[2].as_ref().expect("row 3").name, "Tailspin \"Toys\"");
    }

    #[test]
    fn csv_headers_are_checked() {
        assert!(parse_csv(b"provider_id,tenant,name\n").is_err());
        assert!(parse_csv(b"provider_id,name\n").is_err());
        assert!(parse_csv(b"provider_id,provider_specific_id,name,name\n").is_err());
        assert!(parse_csv(b"PROVIDER_ID,Provider_Specific_Id,NAME\nP,T,N\n").is_ok());
    }
}
