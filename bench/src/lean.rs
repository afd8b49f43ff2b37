//! `lean-bench`: how lean the functions are, each figure beside its goal (docs/benchmarks.md,
//! "Lean functions").
//!
//! 1. Cold start: every function of template.yaml (or `--functions a,b`) and the hello-world
//!    baseline (`bench-hello`) are started `--runs` times each (31 by default), interleaved, each
//!    start a fresh process against an emulated Runtime API; init = exec → first poll for an
//!    event, first response = exec → the answer to its sample event from `events/`, which it
//!    serves against the local endpoint. Each function's medians are divided by the baseline's.
//! 2. Zip sizes: `target/lambda/<function>/bootstrap.zip` as `make package` leaves them (arm64).
//! 3. Write units per agreement: an agreement written as the bulk worker writes it, then accepted
//!    through the portal's own service, each read back and priced by DynamoDB's size rules
//!    against the table's description (`units.rs`).
//! 4. One TLS stack: the crates in the shared crate's dependency tree (`cargo tree`).
//!
//! Options: `--bin-dir DIR` (default target/release), `--runs N`, `--functions a,b`,
//! `--endpoint URL` (default `$AWS_ENDPOINT_URL`, else http://127.0.0.1:5005), `--zips DIR`
//! (default target/lambda). The exit status is 1 when a goal is missed or a figure is missing.

mod cold_start;
mod error;
mod units;
mod worker_item;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::Config;
use shared::model::{
    Account, AgreementTemplate, Contact, Id, Instant, NewAccount, NewContact, NewProvider,
    NewTemplate, Principal, Provider,
};
use shared::services::portal::{confirm_agreement, Origin};
use shared::store::{keys, CursorSigner, Store};

use cold_start::{RuntimeApi, Start, Subject};
use error::{Context, Failure, Result};

const BASELINE: &str = "bench-hello";
/// The baseline answers the same event as one of the functions.
const BASELINE_EVENT: &str = "get-agreement";
const INIT_GOAL: f64 = 1.5;
const RESPONSE_GOAL: f64 = 2.0;
const ZIP_GOAL_BYTES: u64 = 4_000_000;
const UNITS_GOAL: usize = 3;

struct Args {
    bin_dir: PathBuf,
    runs: usize,
    functions: Option<Vec<String>>,
    endpoint: String,
    zips: PathBuf,
}

fn args() -> Result<Args> {
    let mut args = Args {
        bin_dir: PathBuf::from("target/release"),
        runs: 31,
        functions: None,
        endpoint: std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "http://127.0.0.1:5005".into()),
        zips: PathBuf::from("target/lambda"),
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().context(format!("{flag} needs a value"));
        match flag.as_str() {
            "--bin-dir" => args.bin_dir = PathBuf::from(value()?),
            "--runs" => args.runs = value()?.parse().context("--runs")?,
            "--functions" => {
                let list: Vec<String> = value()?
                    .split([',', ' '])
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect();
                args.functions = (!list.is_empty()).then_some(list);
            }
            "--endpoint" => args.endpoint = value()?,
            "--zips" => args.zips = PathBuf::from(value()?),
            other => return Err(Failure::new(format!("unknown option {other}"))),
        }
    }
    if args.runs == 0 {
        return Err(Failure::new("--runs must be at least 1"));
    }
    Ok(args)
}

/// One line of the final table.
struct Row {
    figure: String,
    value: String,
    goal: String,
    met: Option<bool>,
}

impl Row {
    fn new(figure: impl Into<String>, value: impl Into<String>, goal: impl Into<String>) -> Row {
        Row {
            figure: figure.into(),
            value: value.into(),
            goal: goal.into(),
            met: None,
        }
    }

    fn met(mut self, met: bool) -> Row {
        self.met = Some(met);
        self
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("lean-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool> {
    let args = args()?;
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let table = format!("lean-{suffix}");
    let config = Config {
        port: 0,
        endpoint: args.endpoint.clone(),
        table_name: table.clone(),
        queue_prefix: format!("lean-{suffix}"),
        bin_dir: args.bin_dir.clone(),
        reset_table: true,
        params: BTreeMap::from([("LogLevel".to_string(), "warn".to_string())]),
        ..Config::default()
    };
    let template =
        local_stack::template::Template::load(&config.template).context("template.yaml")?;
    let functions: Vec<String> = match &args.functions {
        Some(list) => list.clone(),
        None => {
            let mut all: Vec<String> = template
                .functions
                .iter()
                .map(|f| f.binary.clone())
                .collect();
            all.sort();
            all
        }
    };
    println!("starting the local stack on {} ...", args.endpoint);
    let stack = local_stack::start(config)
        .await
        .context("the local stack did not start")?;
    let outcome = measure(&args, &stack, &functions).await;
    let sdk = shared_sdk(&args.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queues: Vec<String> = template
        .queues
        .iter()
        .filter_map(|q| stack.queue_url(&q.logical_id).map(str::to_string))
        .collect();
    stack.shutdown().await;
    for queue in queues {
        let _ = sqs.delete_queue().queue_url(queue).send().await;
    }
    let _ = aws_sdk_dynamodb::Client::new(&sdk)
        .delete_table()
        .table_name(&table)
        .send()
        .await;
    let rows = outcome?;
    print_table(&rows);
    Ok(rows.iter().all(|r| r.met != Some(false)))
}

async fn shared_sdk(endpoint: &str) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await
}

async fn measure(
    args: &Args,
    stack: &local_stack::RunningStack,
    functions: &[String],
) -> Result<Vec<Row>> {
    let mut rows = cold_starts(args, stack, functions).await?;
    rows.extend(zip_sizes(&args.zips, functions));
    rows.extend(write_units(&args.endpoint, stack.table_name()).await?);
    rows.extend(tls_stack());
    Ok(rows)
}

async fn cold_starts(
    args: &Args,
    stack: &local_stack::RunningStack,
    functions: &[String],
) -> Result<Vec<Row>> {
    let events = Path::new("events");
    let mut subjects = vec![Subject {
        name: BASELINE.into(),
        executable: args.bin_dir.join(BASELINE),
        environment: BTreeMap::new(),
        event: cold_start::event_of(events, BASELINE_EVENT)?,
    }];
    for name in functions {
        let spec = stack
            .function(name)
            .context(format!("{name} is no function of template.yaml"))?;
        subjects.push(Subject {
            name: name.clone(),
            executable: spec.executable,
            environment: spec.environment,
            event: cold_start::event_of(events, name)?,
        });
    }
    for subject in &subjects {
        if !subject.executable.is_file() {
            return Err(Failure::new(format!(
                "{} is not built: run `cargo build --release -p {}`",
                subject.executable.display(),
                subject.name
            )));
        }
    }
    for subject in &mut subjects {
        if let Ok(path) = std::env::var("PATH") {
            subject.environment.insert("PATH".into(), path);
        }
    }
    let api = RuntimeApi::start().await?;
    // One start of each, not counted: the binaries' pages are in the page cache from then on.
    for subject in &subjects {
        api.run(subject, 0).await?;
    }
    let mut starts: Vec<Vec<Start>> = vec![Vec::new(); subjects.len()];
    for round in 0..args.runs {
        // Interleaved, each round starting one further along, so drift touches all alike.
        for k in 0..subjects.len() {
            let i = (round + k) % subjects.len();
            let start = api.run(&subjects[i], round + 1).await?;
            starts[i].push(start);
        }
        if (round + 1) % 5 == 0 || round + 1 == args.runs {
            println!("cold starts: round {} of {}", round + 1, args.runs);
        }
    }
    let medians: Vec<(Duration, Duration, usize)> = starts
        .iter()
        .map(|runs| {
            let mut init: Vec<Duration> = runs.iter().map(|s| s.init).collect();
            let mut first: Vec<Duration> = runs.iter().map(|s| s.first_response).collect();
            let errored = runs.iter().filter(|s| s.errored).count();
            (
                cold_start::median(&mut init),
                cold_start::median(&mut first),
                errored,
            )
        })
        .collect();
    let (base_init, base_first, _) = medians[0];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!();
    println!(
        "cold starts, medians of {} interleaved runs (baseline {BASELINE}: init {:.2} ms, first response {:.2} ms)",
        args.runs,
        ms(base_init),
        ms(base_first)
    );
    println!(
        "{:<26} {:>9} {:>7} {:>11} {:>7}  invocation errors",
        "function", "init ms", "×base", "1st resp ms", "×base"
    );
    let mut rows = Vec::new();
    let mut worst_init = (String::new(), 0.0f64);
    let mut worst_first = (String::new(), 0.0f64);
    for (subject, (init, first, errored)) in subjects.iter().zip(&medians).skip(1) {
        let init_ratio = ms(*init) / ms(base_init);
        let first_ratio = ms(*first) / ms(base_first);
        println!(
            "{:<26} {:>9.2} {:>7.2} {:>11.2} {:>7.2}  {errored}/{}",
            subject.name,
            ms(*init),
            init_ratio,
            ms(*first),
            first_ratio,
            args.runs
        );
        if init_ratio > worst_init.1 {
            worst_init = (subject.name.clone(), init_ratio);
        }
        if first_ratio > worst_first.1 {
            worst_first = (subject.name.clone(), first_ratio);
        }
        rows.push(
            Row::new(
                format!("init {}", subject.name),
                format!("{:.2} ms = {init_ratio:.2}× base", ms(*init)),
                format!("≤ {INIT_GOAL}×"),
            )
            .met(init_ratio <= INIT_GOAL),
        );
        rows.push(
            Row::new(
                format!("first response {}", subject.name),
                format!("{:.2} ms = {first_ratio:.2}× base", ms(*first)),
                format!("≤ {RESPONSE_GOAL}×"),
            )
            .met(first_ratio <= RESPONSE_GOAL),
        );
    }
    println!(
        "slowest: init {} {:.2}×, first response {} {:.2}×",
        worst_init.0, worst_init.1, worst_first.0, worst_first.1
    );
    Ok(rows)
}

fn zip_sizes(dir: &Path, functions: &[String]) -> Vec<Row> {
    functions
        .iter()
        .map(|name| {
            let path = dir.join(name).join("bootstrap.zip");
            match std::fs::metadata(&path) {
                Ok(meta) => Row::new(
                    format!("zip {name}"),
                    format!("{} bytes", meta.len()),
                    format!("≤ {ZIP_GOAL_BYTES} bytes"),
                )
                .met(meta.len() <= ZIP_GOAL_BYTES),
                Err(_) => Row::new(
                    format!("zip {name}"),
                    format!("missing: {} (make package)", path.display()),
                    format!("≤ {ZIP_GOAL_BYTES} bytes"),
                )
                .met(false),
            }
        })
        .collect()
}

/// An agreement as the bulk worker writes it, then accepted through the portal's service; each
/// read back and priced.
async fn write_units(endpoint: &str, table: &str) -> Result<Vec<Row>> {
    let sdk = shared_sdk(endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let store = Store::new(
        client.clone(),
        table,
        CursorSigner::new(b"lean-bench: no list is paged here").context("cursor key")?,
    );
    let description = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .context("DescribeTable")?
        .table
        .context("DescribeTable gave no table")?;
    let shape = units::Shape::of(&description);

    let provider: NewProvider = serde_json::from_value(serde_json::json!({
        "name": "Contoso Cloud Reseller Terms", "kind": "manual"
    }))
    .context("provider")?;
    let provider = Provider::create(provider, Instant::now()).context("provider")?;
    store.create(&provider).await.context("put provider")?;
    let template: NewTemplate = serde_json::from_value(serde_json::json!({
        "name": "Microsoft Customer Agreement", "template_id": "mca",
        "provider_id": provider.id.as_str(), "document_version": "2024-01",
        "effective_date": "2024-01-01", "agreement_link": "https://www.microsoft.com/licensing/docs/customeragreement",
        "portal_instructions": "Read the agreement, then confirm it on behalf of your organisation."
    }))
    .context("template")?;
    let provider_id = Id::parse(template.provider_id.as_str()).context("provider id")?;
    let template =
        AgreementTemplate::create(template, provider_id, Instant::now()).context("template")?;
    store.create(&template).await.context("put template")?;
    let account = Account::create(
        NewAccount {
            name: "Contoso Pharmaceuticals Ltd".into(),
            email_domain: Some("contoso.example".into()),
            country: Some("GB".into()),
            language: Some("en-GB".into()),
        },
        Instant::now(),
    )
    .context("account")?;
    store.create(&account).await.context("put account")?;
    let contact = Contact::create(
        account.id.clone(),
        NewContact {
            first_name: "Alexandra".into(),
            last_name: "Montgomery-Whitfield".into(),
            email: "alexandra.montgomery-whitfield@contoso.example".into(),
            phone: Some("+44 20 7946 0958".into()),
        },
        Instant::now(),
    )
    .context("contact")?;
    store.create(&contact).await.context("put contact")?;

    let job = Id::generate();
    let (agreement, created) = worker_item::agreement_item(&template, account.id.clone(), &job)?;
    let taken = store
        .put_agreement_in_slot(&agreement, &[created])
        .await
        .context("put agreement")?;
    if taken.is_some() {
        return Err(Failure::new("a fresh agreement key was taken"));
    }
    let read = |client: aws_sdk_dynamodb::Client, id: Id| async move {
        client
            .get_item()
            .table_name(table)
            .key("PK", AttributeValue::S(keys::agreement(&id)))
            .key("SK", AttributeValue::S(keys::META.into()))
            .consistent_read(true)
            .send()
            .await
            .context("GetItem")?
            .item
            .context("the agreement is not in the table")
    };
    let pending = read(client.clone(), agreement.id.clone()).await?;
    let caller = Principal::Customer {
        subject: "lean-bench".into(),
        account_id: account.id.clone(),
        contact_id: contact.id.clone(),
    };
    let origin = Origin {
        source_ip: Some("203.0.113.54".into()),
        user_agent: Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0".into(),
        ),
    };
    confirm_agreement(&store, None, None, &caller, agreement.id.as_str(), &origin)
        .await
        .map_err(|e| Failure::new(format!("confirm: {e}")))?;
    let accepted = read(client, agreement.id.clone()).await?;

    for (what, item) in [("created", &pending), ("accepted", &accepted)] {
        let mut sizes: Vec<(usize, &String)> = item
            .iter()
            .map(|(k, v)| (k.len() + units::value_size(v), k))
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let top: Vec<String> = sizes
            .iter()
            .take(8)
            .map(|(bytes, name)| format!("{name} {bytes}"))
            .collect();
        println!(
            "largest attributes of the {what} item (bytes): {}",
            top.join(", ")
        );
    }
    let create = units::write_cost(None, &pending, &shape);
    let accept = units::write_cost(Some(&pending), &accepted, &shape);
    let after = units::write_cost(Some(&accepted), &accepted_again(&accepted), &shape);
    let describe = |cost: &units::WriteCost| {
        let indexes: Vec<String> = cost
            .indexes
            .iter()
            .map(|w| format!("{} {} B {} WCU", w.index, w.bytes, w.units))
            .collect();
        format!(
            "{} WCU: item {} B {} WCU; {}",
            cost.total(),
            cost.item_bytes,
            cost.item_units,
            indexes.join(", ")
        )
    };
    println!();
    println!("write units (DynamoDB's size rules, on the items read back):");
    println!("  created agreement:  {}", describe(&create));
    println!("  its acceptance:     {}", describe(&accept));
    println!("  a change after it:  {}", describe(&after));
    Ok(vec![
        Row::new(
            "WCU per created agreement",
            describe(&create),
            format!("≤ {UNITS_GOAL}"),
        )
        .met(create.total() <= UNITS_GOAL),
        Row::new("WCU of its acceptance", describe(&accept), "(recorded)"),
        Row::new(
            "WCU of a later change (status only)",
            describe(&after),
            "(recorded)",
        ),
    ])
}

/// The accepted item with one more change that moves its version and `updated_at` only, as a
/// scheduled check or a reminder's record does.
fn accepted_again(item: &units::Item) -> units::Item {
    let mut next = item.clone();
    if let Some(AttributeValue::N(v)) = item.get("version") {
        let v: u64 = v.parse().unwrap_or(0);
        next.insert("version".into(), AttributeValue::N((v + 1).to_string()));
    }
    next.insert(
        "updated_at".into(),
        AttributeValue::S("2026-12-08T00:00:00.000000000Z".into()),
    );
    next
}

/// The TLS and crypto crates in the shared crate's dependency tree (normal dependencies).
fn tls_stack() -> Vec<Row> {
    let output = std::process::Command::new("cargo")
        .args([
            "tree",
            "-p",
            "shared",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output();
    let text = match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            return vec![Row::new(
                "TLS / crypto crates",
                format!(
                    "cargo tree failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
                "one of each",
            )
            .met(false)]
        }
        Err(e) => {
            return vec![Row::new(
                "TLS / crypto crates",
                format!("cargo tree: {e}"),
                "one of each",
            )
            .met(false)]
        }
    };
    let mut versions: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        for watched in [
            "rustls",
            "ring",
            "aws-lc-rs",
            "aws-lc-sys",
            "openssl",
            "native-tls",
        ] {
            if name == watched {
                versions
                    .entry(watched)
                    .or_default()
                    .insert(version.to_string());
            }
        }
    }
    let found: Vec<String> = versions
        .iter()
        .map(|(name, v)| format!("{name} {}", v.iter().cloned().collect::<Vec<_>>().join("+")))
        .collect();
    let one_stack = versions.get("rustls").is_some_and(|v| v.len() == 1)
        && versions.get("aws-lc-rs").is_some_and(|v| v.len() == 1)
        && !versions.contains_key("ring")
        && !versions.contains_key("openssl")
        && !versions.contains_key("native-tls");
    vec![Row::new(
        "TLS / crypto crates (shared)",
        found.join(", "),
        "one rustls, one aws-lc-rs, no ring/openssl",
    )
    .met(one_stack)]
}

fn print_table(rows: &[Row]) {
    println!();
    println!("{:<44} {:<12} value", "figure", "goal");
    let mut missed = 0;
    for row in rows {
        let mark = match row.met {
            Some(true) => "pass",
            Some(false) => {
                missed += 1;
                "FAIL"
            }
            None => "    ",
        };
        println!("{mark} {:<39} {:<12} {}", row.figure, row.goal, row.value);
    }
    let judged = rows.iter().filter(|r| r.met.is_some()).count();
    println!("{} of {judged} goals met", judged - missed);
}
