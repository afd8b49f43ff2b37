//! `export-bench`: the agreement export's code path (`services::exports::run_export`, as the
//! export worker runs it) over N agreements seeded into moto, timed, with the peak resident set
//! of the process that ran it (docs/benchmarks.md, "Exports").
//!
//! `export-bench [--agreements N]` seeds a fresh table and bucket, then runs the export in a
//! child process (`export-bench run …`) so that the peak RSS is the export's alone; the child
//! prints its own `VmHWM` before it exits. `export-bench run --table T --bucket B --export E`
//! runs an export of a seeded table by itself (e.g. under `/usr/bin/time -v`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::StreamExt;
use shared::model::{
    Account, Actor, Agreement, AgreementSource, AgreementTemplate, Contact, Day, Export,
    ExportFilter, ExportFormat, HistoryAction, HistoryEvent, Id, Instant as At, NewAccount,
    NewContact, NewTemplate,
};
use shared::services::exports::{run_export, ExportsBucket};
use shared::store::{to_item, CursorSigner, Store};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The functions' SDK settings (`tune_sdk`), except the operation timeouts: moto answers a
/// Query of an index by sorting the whole table, so at tens of thousands of items one page takes
/// longer than the functions' 8 s (DynamoDB answers in milliseconds whatever the table's size).
async fn sdk() -> Result<aws_config::SdkConfig, Error> {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        return Err(
            "set AWS_ENDPOINT_URL to the moto endpoint (e.g. http://127.0.0.1:5000)".into(),
        );
    }
    Ok(shared::config::tune_sdk(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "bench",
            )),
    )
    .timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(300))
            .operation_timeout(Duration::from_secs(600))
            .build(),
    )
    .load()
    .await)
}

const KEY: &[u8] = b"export-bench: a cursor key of at least 32 bytes";

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("run") {
        return run(&args).await;
    }
    let n: usize = arg(&args, "--agreements")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let format = arg(&args, "--format").unwrap_or_else(|| "csv".into());
    let sdk = sdk().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let s3 = shared::config::s3_client(&sdk);
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let table = format!("export-bench-{suffix}");
    let bucket = format!("export-bench-{suffix}");
    shared::store::schema::create_table(&dynamodb, &table).await?;
    s3.create_bucket().bucket(&bucket).send().await?;
    let store = Store::new(
        dynamodb.clone(),
        &table,
        CursorSigner::new(KEY).ok_or("cursor key")?,
    );
    let seeding = Instant::now();
    let template = seed(&dynamodb, &store, &table, n).await?;
    println!(
        "seeded {n} agreements (and {} accounts with a contact) in {:.1} s",
        n.div_ceil(10),
        seeding.elapsed().as_secs_f64()
    );
    let format = match format.as_str() {
        "jsonl" => ExportFormat::Jsonl,
        _ => ExportFormat::Csv,
    };
    let export = Export::queued(
        format,
        ExportFilter {
            template_id: Some(template.id.clone()),
            ..ExportFilter::default()
        },
        "export-bench",
        At::now(),
    );
    store.create(&export).await?;
    let exe = std::env::current_exe()?;
    let status = tokio::process::Command::new(exe)
        .args([
            "run",
            "--table",
            &table,
            "--bucket",
            &bucket,
            "--export",
            export.id.as_str(),
        ])
        .status()
        .await?;
    if !status.success() {
        return Err(format!("the export run failed: {status}").into());
    }
    if args.iter().any(|a| a == "--keep") {
        println!(
            "kept: --table {table} --bucket {bucket} --export {}",
            export.id
        );
    } else {
        let _ = dynamodb.delete_table().table_name(&table).send().await;
    }
    Ok(())
}

/// The export, as the worker runs it, with its wall time and this process's peak RSS.
async fn run(args: &[String]) -> Result<(), Error> {
    let table = arg(args, "--table").ok_or("--table")?;
    let bucket = arg(args, "--bucket").ok_or("--bucket")?;
    let export_id = arg(args, "--export").ok_or("--export")?;
    let sdk = sdk().await?;
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &table,
        CursorSigner::new(KEY).ok_or("cursor key")?,
    );
    let s3 = shared::config::s3_client(&sdk);
    let exports = ExportsBucket::new(s3.clone(), &bucket);
    let before = peak_rss_kb();
    let started = Instant::now();
    // The worker's Lambda timeout.
    let deadline = std::time::SystemTime::now() + Duration::from_secs(900);
    let outcome = run_export(&store, &exports, &export_id, deadline).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let id = Id::parse(&export_id).ok_or("export id")?;
    let record: Export = store.by_id(&id).await?.ok_or("export record")?;
    let size = match &record.object_key {
        Some(key) => s3
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await?
            .content_length()
            .unwrap_or(0),
        None => 0,
    };
    println!(
        "export {outcome:?}: {} rows, {:.1} MiB in {elapsed:.1} s ({:.0} rows/s); peak RSS (VmHWM) {:.1} MiB (at start {:.1} MiB)",
        record.rows,
        size as f64 / 1048576.0,
        record.rows as f64 / elapsed,
        peak_rss_kb() as f64 / 1024.0,
        before as f64 / 1024.0,
    );
    Ok(())
}

/// A template and `n` of its agreements, ten per account, a third accepted with evidence,
/// written with BatchWriteItem a batch at a time (never all in memory).
async fn seed(
    client: &aws_sdk_dynamodb::Client,
    store: &Store,
    table: &str,
    n: usize,
) -> Result<AgreementTemplate, Error> {
    let input: NewTemplate = serde_json::from_value(serde_json::json!({
        "name": "Microsoft Customer Agreement", "template_id": "mca",
        "provider_id": Id::generate().as_str(), "document_version": "2024-01",
        "effective_date": "2024-01-01", "agreement_link": "https://example.com/mca"
    }))?;
    let provider_id = Id::parse(input.provider_id.as_str()).ok_or("provider id")?;
    let template = AgreementTemplate::create(input, provider_id, At::now())?;
    store.create(&template).await?;
    let base = Day::parse("2026-01-01").ok_or("day")?;
    let accounts = n.div_ceil(10);
    let template = &template;
    futures::stream::iter(0..accounts)
        .map(|a| async move {
            let mut items = Vec::with_capacity(12);
            let account = Account::create(
                NewAccount {
                    name: format!("Customer {a}"),
                    email_domain: None,
                    country: None,
                    language: None,
                },
                At::now(),
            )?;
            let contact = Contact::create(
                account.id.clone(),
                NewContact {
                    first_name: "Pat".into(),
                    last_name: format!("Signer {a}"),
                    email: format!("signer-{a}@customer{a}.example"),
                    phone: None,
                },
                At::now(),
            )?;
            items.push(to_item(&account)?);
            items.push(to_item(&contact)?);
            for i in (a * 10)..((a * 10 + 10).min(n)) {
                let now = At::now();
                let pending = Agreement::pending(
                    Id::generate(),
                    template,
                    account.id.clone(),
                    None,
                    None,
                    AgreementSource::Manual,
                    now,
                )?;
                let mut history = vec![HistoryEvent::of_change(
                    None,
                    &pending,
                    HistoryAction::Created,
                    Actor::system("seed"),
                    AgreementSource::Manual,
                )];
                let agreement = if i % 3 == 0 {
                    let accepted = pending.accepted(
                        contact.id.clone(),
                        base.plus_days((i % 60) as i64),
                        now,
                    )?;
                    let mut event = HistoryEvent::of_change(
                        Some(&pending),
                        &accepted,
                        HistoryAction::Accepted,
                        Actor::system("seed"),
                        AgreementSource::Manual,
                    );
                    event.details = Some(serde_json::json!({
                        "who": {"contact_id": contact.id, "name": contact.full_name(), "email": contact.email},
                        "when": now,
                        "from": {"source_ip": "198.51.100.7", "user_agent": "Mozilla/5.0 (bench)"},
                        "what": {"template_id": template.id, "template_version": "2024-01"},
                    }));
                    history.push(event);
                    accepted
                } else {
                    pending
                };
                let mut item = to_item(&agreement)?;
                item.insert(
                    "history".into(),
                    serde_dynamo::to_attribute_value::<_, AttributeValue>(&history)?,
                );
                items.push(item);
            }
            write(client, table, items).await
        })
        .buffer_unordered(4)
        .collect::<Vec<Result<(), Error>>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>, Error>>()?;
    Ok(template.clone())
}

async fn write(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<HashMap<String, AttributeValue>>,
) -> Result<(), Error> {
    for batch in items.chunks(25) {
        let mut pending: Vec<WriteRequest> = batch
            .iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
            })
            .collect::<Result<_, _>>()?;
        for _ in 0..10 {
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
        }
        if !pending.is_empty() {
            return Err("BatchWriteItem left items unprocessed ten times".into());
        }
    }
    Ok(())
}
