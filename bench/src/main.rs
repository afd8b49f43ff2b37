//! `bulk-bench`: seeds N provider accounts, runs the bulk Create Agreements job through the local
//! stack and its queue, and reports agreements per second, DynamoDB write requests per agreement,
//! the worker's peak RSS and the ceiling (conditional PutItem per second from a bare loop at the
//! same concurrency against the same endpoint). See docs/benchmarks.md.

mod ceiling;
mod error;
mod proxy;
mod rss;
mod seed;
mod stack;
mod worker_item;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use local_stack::Config;
use proxy::{Counts, Proxy, Service};
use shared::store::Store;

use crate::error::{Context, Failure, Result};

/// The targets.
const TARGET_RATIO: f64 = 0.9;
const TARGET_WRITES_PER_AGREEMENT: f64 = 1.05;
const TARGET_RSS_MB: f64 = 64.0;
/// Rounds of the single-request probe.
const PROBE_ROUNDS: usize = 5;

const USAGE: &str = "\
usage: bulk-bench [--accounts N] [--rounds R] [--endpoint URL] [--chunk-size N]
                  [--concurrency N] [--worker-timeout SECS] [--ceiling-puts N]
                  [--job-timeout SECS] [--bin-dir DIR]

  --accounts N       provider accounts to seed and create agreements for (default 10000)
  --rounds R         bulk jobs to run, 1-20 (default 3), each of a new template of the
                     provider, so each creates N agreements; the ceiling is measured before
                     the first and after every job, each job's ratio is against the ceilings
                     on either side of it, and the result is the median ratio
  --endpoint URL     the moto server (default http://127.0.0.1:5005)
  --chunk-size N     the worker's BULK_CHUNK_SIZE, 1-1000 (default: template.yaml's)
  --concurrency N    the worker's BULK_CONCURRENCY, 1-64, and the ceiling loop's requests in
                     flight (default: template.yaml's)
  --worker-timeout SECS
                     the worker's Timeout, 1-900 (default: template.yaml's); the queue's
                     visibility timeout becomes at least six times it
  --ceiling-puts N   conditional puts per ceiling loop (default: --accounts)
  --job-timeout SECS stop waiting for the job after SECS and report it unfinished (exit 1);
                     a job whose counts do not move for the worker's timeout plus the queue's
                     visibility timeout is reported unfinished too
  --bin-dir DIR      the function binaries (default: <workspace>/target/release)

Build first (the job runs these three functions; --workspace --bins builds them all):
  cargo build --release -p bulk-worker -p create-agreements -p get-bulk-job -p bench";

#[derive(Debug)]
struct Args {
    accounts: usize,
    rounds: usize,
    endpoint: String,
    overrides: stack::Overrides,
    ceiling_puts: Option<usize>,
    job_timeout: Option<Duration>,
    bin_dir: PathBuf,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn number(flag: &str, value: &str, range: std::ops::RangeInclusive<usize>) -> Result<usize> {
    let n: usize = value
        .replace('_', "")
        .parse()
        .context(format!("{flag} {value}: not a number"))?;
    if !range.contains(&n) {
        return Err(Failure::new(format!(
            "{flag} {n}: must be {}-{}",
            range.start(),
            range.end()
        )));
    }
    Ok(n)
}

/// `None` when help was asked for.
fn parse_args(raw: impl Iterator<Item = String>) -> Result<Option<Args>> {
    let mut args = Args {
        accounts: 10_000,
        rounds: 3,
        endpoint: "http://127.0.0.1:5005".into(),
        overrides: stack::Overrides::default(),
        ceiling_puts: None,
        job_timeout: None,
        bin_dir: workspace_root().join("target").join("release"),
    };
    let mut raw = raw.peekable();
    while let Some(arg) = raw.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = match inline {
            Some(v) => v,
            None => raw.next().context(format!("{flag} needs a value"))?,
        };
        match flag.as_str() {
            "--accounts" => args.accounts = number(&flag, &value, 1..=10_000_000)?,
            "--rounds" => args.rounds = number(&flag, &value, 1..=20)?,
            "--endpoint" => args.endpoint = value,
            "--chunk-size" => args.overrides.chunk_size = Some(number(&flag, &value, 1..=1000)?),
            "--concurrency" => args.overrides.concurrency = Some(number(&flag, &value, 1..=64)?),
            "--worker-timeout" => {
                let secs = number(&flag, &value, 1..=900)?;
                args.overrides.timeout_secs = Some(secs as u64);
            }
            "--ceiling-puts" => args.ceiling_puts = Some(number(&flag, &value, 1..=10_000_000)?),
            "--job-timeout" => {
                let secs = number(&flag, &value, 1..=86_400)?;
                args.job_timeout = Some(Duration::from_secs(secs as u64));
            }
            "--bin-dir" => args.bin_dir = PathBuf::from(value),
            other => return Err(Failure::new(format!("unknown argument {other}\n\n{USAGE}"))),
        }
    }
    Ok(Some(args))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    // The stack's start-up warnings name every function binary not built (the
                    // benchmark needs three); its processes' timeouts and the pollers' failures
                    // are shown.
                    "warn,local_stack=error,local_stack::lambda=warn,local_stack::sqs=warn",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bulk-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args).await {
        Ok(report) if report.counts_ok() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("bulk-bench: the job's counts are not N (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bulk-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One bulk job and the ceiling measured after it.
struct Round {
    job: serde_json::Value,
    elapsed: Duration,
    polls: u64,
    unfinished: Option<String>,
    /// The requests the job made, through the proxy.
    counts: Counts,
    ceiling_after: Duration,
}

impl Round {
    fn count(&self, field: &str) -> u64 {
        self.job[field].as_u64().unwrap_or(0)
    }

    fn rate(&self) -> f64 {
        self.count("created") as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Everything measured in one run.
struct Report {
    accounts: usize,
    ceiling_puts: usize,
    /// The ceiling before the first job.
    ceiling_first: Duration,
    rounds: Vec<Round>,
    peak_rss_kb: Option<u64>,
    instances: usize,
    probe: ceiling::Probe,
    table_items: usize,
}

impl Report {
    fn counts_ok(&self) -> bool {
        let n = self.accounts as u64;
        !self.rounds.is_empty()
            && self.rounds.iter().all(|r| {
                r.unfinished.is_none()
                    && r.job["status"] == "completed"
                    && r.count("created") == n
                    && r.count("total") == n
            })
    }

    /// The ceiling (PutItem/s) before round `i`, and after it.
    fn ceilings(&self, i: usize) -> (f64, f64) {
        let before = match i {
            0 => self.ceiling_first,
            _ => self.rounds[i - 1].ceiling_after,
        };
        (
            rate(self.ceiling_puts, before),
            rate(self.ceiling_puts, self.rounds[i].ceiling_after),
        )
    }

    /// Round `i`'s agreements per second over the mean of the ceilings on either side of it.
    fn ratio(&self, i: usize) -> f64 {
        let (before, after) = self.ceilings(i);
        self.rounds[i].rate() / ((before + after) / 2.0).max(f64::EPSILON)
    }

    /// The median of the rounds' ratios (the lower middle one of an even number).
    fn median_ratio(&self) -> f64 {
        let mut ratios: Vec<f64> = (0..self.rounds.len()).map(|i| self.ratio(i)).collect();
        ratios.sort_by(f64::total_cmp);
        ratios
            .get(ratios.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0.0)
    }

    fn created(&self) -> u64 {
        self.rounds.iter().map(|r| r.count("created")).sum()
    }

    fn counts(&self) -> Counts {
        let mut total = Counts::default();
        for round in &self.rounds {
            total.add(&round.counts);
        }
        total
    }
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// Whether a target was met, and how much the answer is worth.
fn verdict(met: bool, created: u64, finished: bool) -> String {
    let word = if met { "met" } else { "NOT met" };
    match (created, finished) {
        (0, _) => "n/a (nothing was created)".to_string(),
        (_, true) => word.to_string(),
        (_, false) => format!("{word} (of the part done)"),
    }
}

async fn run(args: &Args) -> Result<Report> {
    let template_path = workspace_root().join("template.yaml");
    let worker = stack::worker(&template_path, args.overrides)?;
    let outcome = run_with(args, &worker).await;
    worker.cleanup();
    outcome
}

async fn run_with(args: &Args, worker: &stack::Worker) -> Result<Report> {
    for binary in stack::BINARIES {
        let path = args.bin_dir.join(binary);
        if !path.is_file() {
            return Err(Failure::new(format!(
                "{} is missing: run `cargo build --release -p bulk-worker -p create-agreements -p get-bulk-job` (or `--workspace --bins`) first",
                path.display()
            )));
        }
    }
    let direct = aws_sdk_dynamodb::Client::new(&seed::sdk_config(&args.endpoint).await);
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let table = format!("bench-{suffix}");
    let ceiling_table = format!("bench-{suffix}-ceiling");
    println!(
        "bulk-bench: {} provider accounts, endpoint {}, table {table}",
        args.accounts, args.endpoint
    );
    seed::create_table(&direct, &table).await?;
    let outcome = match seed::create_table(&direct, &ceiling_table).await {
        Ok(()) => measure(args, worker, &direct, &table, &ceiling_table).await,
        Err(e) => Err(e),
    };
    seed::delete_table(&direct, &table).await;
    seed::delete_table(&direct, &ceiling_table).await;
    let report = outcome?;
    print_report(worker, &report);
    Ok(report)
}

async fn measure(
    args: &Args,
    worker: &stack::Worker,
    direct: &aws_sdk_dynamodb::Client,
    table: &str,
    ceiling_table: &str,
) -> Result<Report> {
    let n = args.accounts;
    println!("seeding (not timed)...");
    let store = seed::store(direct.clone(), table)?;
    let seeded = seed::seed(&store, n).await?;

    let proxy = Proxy::start(&args.endpoint).await?;
    let through_proxy = aws_sdk_dynamodb::Client::new(&seed::sdk_config(proxy.url()).await);
    let ceiling_store: Store = seed::store(through_proxy.clone(), ceiling_table)?;
    let ceiling_puts = args.ceiling_puts.unwrap_or(n);
    let measure_ceiling = |when: String| {
        let ceiling_store = &ceiling_store;
        let template = &seeded.template;
        async move {
            println!(
                "ceiling {when}: {ceiling_puts} conditional PutItem, {} in flight...",
                worker.concurrency
            );
            let took =
                ceiling::ceiling(ceiling_store, template, ceiling_puts, worker.concurrency).await?;
            println!("  {:.1} PutItem/s", rate(ceiling_puts, took));
            Ok::<_, Failure>(took)
        }
    };

    let ceiling_first = measure_ceiling("before the first job".into()).await?;
    let mut rss = rss::PeakRss::new(&args.bin_dir.join(stack::WORKER_BINARY));
    let mut rounds = Vec::with_capacity(args.rounds);
    for round in 1..=args.rounds {
        let template = match round {
            1 => seeded.template.clone(),
            _ => {
                seed::template(
                    &store,
                    &seeded.template.provider_id,
                    &format!("round-{round}"),
                )
                .await?
            }
        };
        let job = job_round(args, worker, &proxy, table, &template, round, &mut rss).await?;
        let finished = job.unfinished.is_none();
        let ceiling_after = measure_ceiling(format!("after job {round}")).await?;
        rounds.push(Round {
            ceiling_after,
            ..job
        });
        if !finished {
            break;
        }
    }

    let probe = ceiling::probe(
        &ceiling_store,
        &seed::store(through_proxy, table)?,
        &seeded.template,
        worker.chunk_size,
        PROBE_ROUNDS,
    )
    .await?;
    let table_items = direct
        .describe_table()
        .table_name(table)
        .send()
        .await
        .ok()
        .and_then(|d| d.table)
        .and_then(|t| t.item_count)
        .and_then(|c| usize::try_from(c).ok())
        .unwrap_or(0);
    Ok(Report {
        accounts: n,
        ceiling_puts,
        ceiling_first,
        rounds,
        peak_rss_kb: rss.max_kb(),
        instances: rss.instances(),
        probe,
        table_items,
    })
}

/// One bulk job on `template` through a local stack of its own, which is stopped before the
/// ceiling after it is measured (its ceiling is left as a placeholder).
async fn job_round(
    args: &Args,
    worker: &stack::Worker,
    proxy: &Proxy,
    table: &str,
    template: &shared::model::AgreementTemplate,
    round: usize,
    rss: &mut rss::PeakRss,
) -> Result<Round> {
    println!(
        "starting the local stack (functions from {})...",
        args.bin_dir.display()
    );
    let config = Config {
        template: worker.template.clone(),
        port: 0,
        endpoint: proxy.url().to_string(),
        table_name: table.to_string(),
        queue_prefix: format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase()),
        bin_dir: args.bin_dir.clone(),
        // The template's own timeout: the local default (5 s) would redeliver slow chunks.
        visibility_timeout: worker.visibility_timeout,
        params: BTreeMap::from([("LogLevel".to_string(), "warn".to_string())]),
        ..Config::default()
    };
    let running = local_stack::start(config)
        .await
        .context("the local stack did not start")?;
    let queues: Vec<String> = ["BulkQueue", "BulkDeadLetterQueue"]
        .iter()
        .filter_map(|q| running.queue_url(q).map(str::to_string))
        .collect();
    println!(
        "bulk job {round} of {} through the local queue (timed)...",
        args.rounds
    );
    let before = proxy.snapshot();
    let job = stack::run_job(
        running.base_url(),
        template.id.as_str(),
        rss,
        args.job_timeout,
        // Long enough for a timed-out chunk to come back and be retried.
        Duration::from_secs(worker.timeout_secs + u64::from(worker.visibility_timeout) + 30),
    )
    .await;
    let counts = proxy.snapshot().since(&before);
    rss.sample();
    running.shutdown().await;
    let sqs = aws_sdk_sqs::Client::new(&seed::sdk_config(&args.endpoint).await);
    for queue in queues {
        let _ = sqs.delete_queue().queue_url(queue).send().await;
    }
    let job = job?;
    if let Some(reason) = &job.unfinished {
        println!("  job {round} unfinished ({reason}): no further rounds");
    }
    Ok(Round {
        job: job.job,
        elapsed: job.elapsed,
        polls: job.polls,
        unfinished: job.unfinished,
        counts,
        ceiling_after: Duration::ZERO,
    })
}

fn print_report(worker: &stack::Worker, r: &Report) {
    let n = r.accounts;
    let created = r.created();
    let finished = r.rounds.iter().all(|round| round.unfinished.is_none());
    let judge = |met: bool| verdict(met, created, finished);
    let per = |x: u64| x as f64 / (created.max(1) as f64);
    let per_text = |x: u64| {
        if created == 0 {
            "n/a".to_string()
        } else {
            format!("{:.4}", per(x))
        }
    };
    let counts = r.counts();
    let polls: u64 = r.rounds.iter().map(|round| round.polls).sum();
    let writes = counts.dynamodb_writes();
    let reads = counts.dynamodb_reads();
    let own_reads = reads.saturating_sub(polls);
    let ops = |service: Service, keep: fn(&proxy::Operation) -> bool| {
        counts
            .0
            .iter()
            .filter(|(op, _)| op.service == service && keep(op))
            .map(|(op, s)| format!("{} {}", op.name, s.requests))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let source = if worker.as_in_template {
        "template.yaml"
    } else {
        "derived from template.yaml"
    };
    let line = |label: &str, value: String| println!("{label:<34}{value}");

    println!();
    println!("== bulk-bench result ==");
    line("provider accounts (N)", n.to_string());
    line(
        "worker settings",
        format!(
            "chunk size {}, concurrency {}, timeout {} s ({source}); up to {} concurrent invocations",
            worker.chunk_size, worker.concurrency, worker.timeout_secs, worker.pollers
        ),
    );
    line(
        "ceiling",
        format!(
            "{} conditional PutItem from a bare loop, {} in flight, before the first job and after each",
            r.ceiling_puts, worker.concurrency
        ),
    );
    println!();
    println!(
        "  {:<6}{:<46}{:>11}{:>13}{:>17}{:>17}{:>8}",
        "job", "status", "elapsed s", "agreements/s", "ceiling before", "ceiling after", "ratio"
    );
    for (i, round) in r.rounds.iter().enumerate() {
        let (before, after) = r.ceilings(i);
        let status = format!(
            "{} {}/{} (skipped {}, failed {}){}",
            round.job["status"].as_str().unwrap_or("?"),
            round.count("created"),
            round.job["total"],
            round.count("skipped"),
            round.count("failed"),
            if round.unfinished.is_some() {
                " INCOMPLETE"
            } else {
                ""
            }
        );
        println!(
            "  {:<6}{status:<46}{:>11.2}{:>13.1}{before:>17.1}{after:>17.1}{:>8.3}",
            i + 1,
            round.elapsed.as_secs_f64(),
            round.rate(),
            r.ratio(i)
        );
    }
    for round in r.rounds.iter().filter(|round| round.unfinished.is_some()) {
        println!(
            "  unfinished: {}; its rates are of the part done",
            round.unfinished.as_deref().unwrap_or("?")
        );
    }
    println!();
    let ratio = r.median_ratio();
    line(
        "ratio (bulk / ceilings around it)",
        format!(
            "{ratio:.3}, the median of {} job(s)  target >= {TARGET_RATIO}: {}",
            r.rounds.len(),
            judge(ratio >= TARGET_RATIO)
        ),
    );
    line(
        "DynamoDB write requests",
        format!(
            "{writes} = {} per agreement  target <= {TARGET_WRITES_PER_AGREEMENT}: {}",
            per_text(writes),
            judge(per(writes) <= TARGET_WRITES_PER_AGREEMENT)
        ),
    );
    line(
        "",
        ops(Service::DynamoDb, proxy::Operation::is_dynamodb_write),
    );
    line(
        "DynamoDB read requests",
        format!(
            "{own_reads} = {} per agreement (without the bench's {} status polls)",
            per_text(own_reads),
            polls
        ),
    );
    line(
        "",
        ops(Service::DynamoDb, proxy::Operation::is_dynamodb_read),
    );
    line(
        "SQS requests",
        format!(
            "{} ({})",
            counts.of_service(Service::Sqs),
            ops(Service::Sqs, |_| true)
        ),
    );
    match r.peak_rss_kb {
        Some(kb) => {
            let mib = kb as f64 / 1024.0;
            let target = if n >= 100_000 {
                format!(
                    "target <= {TARGET_RSS_MB} MB at 100,000: {}",
                    judge(mib <= TARGET_RSS_MB)
                )
            } else {
                format!("(target <= {TARGET_RSS_MB} MB applies at 100,000)")
            };
            line(
                "worker peak RSS (VmHWM)",
                format!(
                    "{mib:.1} MiB, max over {} instance(s)  {target}",
                    r.instances
                ),
            );
        }
        None => line(
            "worker peak RSS (VmHWM)",
            "no worker process was seen".into(),
        ),
    }
    line(
        "single-request service times",
        format!(
            "PutItem {:.1} ms; chunk Query ({} items, table of {} items) {:.1} ms",
            r.probe.put.as_secs_f64() * 1e3,
            worker.chunk_size,
            r.table_items,
            r.probe.chunk_query.as_secs_f64() * 1e3
        ),
    );
    println!();
    println!("requests during the jobs, through the proxy:");
    println!(
        "  {:<10}{:<26}{:>9}{:>8}{:>10}",
        "service", "operation", "requests", "errors", "mean ms"
    );
    for (op, s) in &counts.0 {
        let service = match op.service {
            Service::DynamoDb => "DynamoDB",
            Service::Sqs => "SQS",
            Service::Other => "other",
        };
        let mean_ms = s.time.as_secs_f64() * 1e3 / (s.requests.max(1) as f64);
        println!(
            "  {service:<10}{:<26}{:>9}{:>8}{mean_ms:>10.2}",
            op.name, s.requests, s.errors
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(created: u64, secs: u64, ceiling_secs: u64) -> Round {
        Round {
            job: serde_json::json!({"status": "completed", "created": created, "total": created}),
            elapsed: Duration::from_secs(secs),
            polls: 0,
            unfinished: None,
            counts: Counts::default(),
            ceiling_after: Duration::from_secs(ceiling_secs),
        }
    }

    fn report(ceiling_first_secs: u64, rounds: Vec<Round>) -> Report {
        Report {
            accounts: 1000,
            ceiling_puts: 1000,
            ceiling_first: Duration::from_secs(ceiling_first_secs),
            rounds,
            peak_rss_kb: None,
            instances: 0,
            probe: ceiling::Probe {
                put: Duration::ZERO,
                chunk_query: Duration::ZERO,
            },
            table_items: 0,
        }
    }

    #[test]
    fn each_job_is_compared_with_the_ceilings_on_either_side_of_it() {
        // Ceilings 100/s, 50/s, 25/s; jobs at 75/s and 30/s.
        let r = report(10, vec![round(1500, 20, 20), round(900, 30, 40)]);
        assert_eq!(r.ceilings(0), (100.0, 50.0));
        assert_eq!(r.ceilings(1), (50.0, 25.0));
        assert!((r.ratio(0) - 1.0).abs() < 1e-9);
        assert!((r.ratio(1) - 0.8).abs() < 1e-9);
        assert_eq!(r.created(), 2400);
    }

    #[test]
    fn the_run_ratio_is_the_median_and_the_lower_middle_of_an_even_count() {
        // Every ceiling 100/s; jobs at 90/s, 50/s, 100/s.
        let odd = report(
            10,
            vec![round(900, 10, 10), round(500, 10, 10), round(1000, 10, 10)],
        );
        assert!((odd.median_ratio() - 0.9).abs() < 1e-9);
        let even = report(10, vec![round(900, 10, 10), round(500, 10, 10)]);
        assert!((even.median_ratio() - 0.5).abs() < 1e-9);
        assert_eq!(report(10, vec![]).median_ratio(), 0.0);
    }

    #[test]
    fn a_run_is_good_only_when_every_job_created_all() {
        assert!(report(10, vec![round(1000, 10, 10), round(1000, 10, 10)]).counts_ok());
        assert!(!report(10, vec![round(1000, 10, 10), round(999, 10, 10)]).counts_ok());
        let mut unfinished = round(1000, 10, 10);
        unfinished.unfinished = Some("stalled".into());
        assert!(!report(10, vec![unfinished]).counts_ok());
        assert!(!report(10, vec![]).counts_ok());
    }
}
