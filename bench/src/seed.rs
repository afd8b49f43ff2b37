//! The data the job runs over, written straight to the endpoint (not through the proxy, not
//! timed): a provider, an active template, and N accounts with one provider account each.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures::stream::{self, StreamExt, TryStreamExt};
use shared::model::{
    Account, AgreementTemplate, Id, Instant, NewAccount, NewProvider, NewProviderAccount,
    NewTemplate, Provider, ProviderAccount, ProviderKind,
};
use shared::store::{to_item, CursorSigner, Store};

use crate::error::{Context, Failure, Result};

/// BatchWriteItem's limit.
const BATCH: usize = 25;
/// Batches in flight while seeding (moto serialises them anyway).
const SEED_CONCURRENCY: usize = 4;
/// Rounds of UnprocessedItems retries before giving up.
const BATCH_ATTEMPTS: u32 = 10;

/// SDK configuration for a local endpoint with the dummy credentials moto accepts.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .load()
        .await
}

/// A store over `table`; the benchmark never pages lists, so the cursor key is arbitrary.
pub fn store(client: Client, table: &str) -> Result<Store> {
    let signer = CursorSigner::new(b"bench: cursors are never used")
        .context("cursor signer of an empty key")?;
    Ok(Store::new(client, table, signer))
}

pub async fn create_table(client: &Client, table: &str) -> Result<()> {
    shared::store::schema::create_table(client, table)
        .await
        .map_err(|e| Failure::new(format!("CreateTable {table}: {}", DisplayErrorContext(e))))
}

/// Deletes a table so moto frees its memory; failures are reported, not fatal.
pub async fn delete_table(client: &Client, table: &str) {
    if let Err(e) = client.delete_table().table_name(table).send().await {
        eprintln!(
            "warning: DeleteTable {table} failed: {}",
            DisplayErrorContext(e)
        );
    }
}

/// What was seeded.
pub struct Seeded {
    pub template: AgreementTemplate,
}

/// A provider with an active template, and `n` accounts with one provider account each.
pub async fn seed(store: &Store, n: usize) -> Result<Seeded> {
    let now = Instant::now();
    let provider = Provider::create(
        NewProvider {
            name: "Microsoft Partner Center".into(),
            kind: ProviderKind::Automatic,
            platform: Some("microsoft_partner_center".into()),
            syncs_agreements: false,
            attestation_method: Default::default(),
        },
        now,
    )
    .context("provider")?;
    store
        .create(&provider)
        .await
        .context("writing the provider")?;
    let template = template(store, &provider.id, "2024-01").await?;

    // Each batch holds whole (account, provider account) pairs, built when it is sent.
    let pairs_per_batch = BATCH / 2;
    let batches = n.div_ceil(pairs_per_batch);
    let progress_every = (batches / 10).max(1);
    let provider_id = &provider.id;
    stream::iter(0..batches)
        .map(|b| async move {
            let first = b * pairs_per_batch;
            let last = (first + pairs_per_batch).min(n);
            let mut items = Vec::with_capacity(BATCH);
            for i in first..last {
                let (account, pa) = customer(provider_id, i)?;
                items.push(to_item(&account).context("account item")?);
                items.push(to_item(&pa).context("provider account item")?);
            }
            write_batch(store, items).await?;
            if (b + 1) % progress_every == 0 {
                println!("  seeded {last} of {n} accounts");
            }
            Ok::<_, Failure>(())
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .try_collect::<()>()
        .await?;
    Ok(Seeded { template })
}

/// A new active template of the provider, of document version `version`: each bulk job of the
/// benchmark presses "Create Agreements" on a template of its own, so every job creates one
/// agreement per provider account.
pub async fn template(store: &Store, provider: &Id, version: &str) -> Result<AgreementTemplate> {
    let input: NewTemplate = serde_json::from_value(serde_json::json!({
        "name": "Microsoft Customer Agreement", "template_id": "mca",
        "provider_id": provider.as_str(), "document_version": version,
        "effective_date": "2024-01-01", "agreement_link": "https://example.com/mca"
    }))
    .context("template input")?;
    let template =
        AgreementTemplate::create(input, provider.clone(), Instant::now()).context("template")?;
    store
        .create(&template)
        .await
        .context("writing the template")?;
    Ok(template)
}

/// The i-th customer: an account and its provider account of the provider.
fn customer(provider: &Id, i: usize) -> Result<(Account, ProviderAccount)> {
    let now = Instant::now();
    let account = Account::create(
        NewAccount {
            name: format!("Customer {i}"),
            email_domain: None,
            country: None,
            language: None,
        },
        now,
    )
    .context("account")?;
    let pa = ProviderAccount::create(
        provider.clone(),
        account.id.clone(),
        &NewProviderAccount {
            provider_specific_id: format!("tenant-{i:07}"),
            name: format!("Customer {i}"),
            ..NewProviderAccount::default()
        },
        now,
    )
    .context("provider account")?;
    Ok((account, pa))
}

/// One BatchWriteItem, retrying what comes back unprocessed.
async fn write_batch(store: &Store, items: Vec<HashMap<String, AttributeValue>>) -> Result<()> {
    let mut requests = items
        .into_iter()
        .map(|item| {
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
                .context("put request")
        })
        .collect::<Result<Vec<_>>>()?;
    for attempt in 0..BATCH_ATTEMPTS {
        if requests.is_empty() {
            return Ok(());
        }
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
        }
        let out = store
            .client()
            .batch_write_item()
            .request_items(store.table(), requests)
            .send()
            .await
            .map_err(|e| Failure::new(format!("BatchWriteItem: {}", DisplayErrorContext(e))))?;
        requests = out
            .unprocessed_items
            .and_then(|mut unprocessed| unprocessed.remove(store.table()))
            .unwrap_or_default();
    }
    if requests.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "BatchWriteItem: {} items still unprocessed after {BATCH_ATTEMPTS} attempts",
            requests.len()
        )))
    }
}
