//! The local stack as the benchmark runs it: the worker's settings (from template.yaml, or a
//! derived copy of it when other settings are asked for), and one bulk job driven over HTTP.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant as Clock, SystemTime, UNIX_EPOCH};

use local_stack::template::Template;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::model::Instant;
use shared::services::jobs::JobSettings;

use crate::error::{Context, Failure, Result};
use crate::rss::PeakRss;

/// The worker's binary, as template.yaml names it.
pub const WORKER_BINARY: &str = "bulk-worker";
/// The functions the benchmark calls: the API's two bulk routes and the worker.
pub const BINARIES: [&str; 3] = ["create-agreements", "get-bulk-job", WORKER_BINARY];

const CHUNK_SIZE: &str = "BULK_CHUNK_SIZE";
const CONCURRENCY: &str = "BULK_CONCURRENCY";
/// How often the job is polled, and progress printed. Each poll is a GetItem the endpoint serves
/// between the worker's requests, so the bench polls no more often than a watching user would.
/// The job's end is its own `finished_at`, and the worker's peak RSS is its high-water mark, so
/// neither depends on this interval.
const POLL_EVERY: Duration = Duration::from_secs(2);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How the worker runs, and the template that makes it run so.
#[derive(Debug)]
pub struct Worker {
    /// The template the stack loads: template.yaml, or a derived copy in a temporary directory.
    pub template: PathBuf,
    derived_dir: Option<PathBuf>,
    pub chunk_size: usize,
    pub concurrency: usize,
    /// The worker's `Timeout`.
    pub timeout_secs: u64,
    /// Whether these are template.yaml's own values.
    pub as_in_template: bool,
    /// `ScalingConfig.MaximumConcurrency` of the worker's queue: concurrent invocations.
    pub pollers: u32,
    /// The worker's queue's `VisibilityTimeout` (at least six times the worker's timeout), which
    /// the stack is given for every queue.
    pub visibility_timeout: u32,
}

impl Worker {
    /// Removes the derived template, if any.
    pub fn cleanup(&self) {
        if let Some(dir) = &self.derived_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn setting(template: &Template, logical_id: &str, name: &str, default: usize) -> Result<usize> {
    let function = template
        .function(logical_id)
        .context(format!("function {logical_id} vanished"))?;
    match function.environment.get(name) {
        None => Ok(default),
        Some(value) => {
            let text = match value {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Number(n) => n.to_string(),
                other => {
                    return Err(Failure::new(format!(
                        "{logical_id} {name} is not a literal: {other:?}"
                    )))
                }
            };
            text.parse()
                .context(format!("{logical_id} {name} = `{text}` is not a number"))
        }
    }
}

/// Settings asked for on the command line; `None` keeps the template's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub chunk_size: Option<usize>,
    pub concurrency: Option<usize>,
    pub timeout_secs: Option<u64>,
}

/// Reads the worker's settings from `template_path`; when the overrides differ from them, writes
/// a copy of the template with the worker's `BULK_CHUNK_SIZE`, `BULK_CONCURRENCY` and `Timeout`
/// set (the only differences) and runs that.
pub fn worker(template_path: &Path, asked: Overrides) -> Result<Worker> {
    let template = Template::load(template_path).context("template")?;
    let function = template
        .functions
        .iter()
        .find(|f| f.binary == WORKER_BINARY)
        .context(format!(
            "{}: no function has binary {WORKER_BINARY}",
            template_path.display()
        ))?;
    let logical_id = function.logical_id.clone();
    let own_timeout = function.timeout_secs;
    let event = function.sqs_events.first().context(format!(
        "{logical_id} has no SQS event: nothing would run the job"
    ))?;
    let pollers = event
        .maximum_concurrency
        .unwrap_or(local_stack::sqs::DEFAULT_POLLERS);
    let own_visibility = template
        .queue(&event.queue)
        .and_then(|q| q.visibility_timeout)
        .unwrap_or(30);
    let defaults = JobSettings::default();
    let own_chunk = setting(&template, &logical_id, CHUNK_SIZE, defaults.chunk_size)?;
    let own_concurrency = setting(&template, &logical_id, CONCURRENCY, defaults.concurrency)?;
    let chunk_size = asked.chunk_size.unwrap_or(own_chunk);
    let concurrency = asked.concurrency.unwrap_or(own_concurrency);
    let timeout_secs = asked.timeout_secs.unwrap_or(own_timeout);
    // Lambda wants a queue's visibility timeout to be at least the function's timeout; the
    // template has six times it.
    let visibility_timeout =
        own_visibility.max(u32::try_from(timeout_secs.saturating_mul(6)).unwrap_or(u32::MAX));
    let mut worker = Worker {
        template: template_path.to_path_buf(),
        derived_dir: None,
        chunk_size,
        concurrency,
        timeout_secs,
        as_in_template: true,
        pollers,
        visibility_timeout,
    };
    if (chunk_size, concurrency, timeout_secs) == (own_chunk, own_concurrency, own_timeout) {
        return Ok(worker);
    }

    let mut raw = template.raw().clone();
    let properties = raw
        .get_mut("Resources")
        .and_then(|r| r.get_mut(logical_id.as_str()))
        .and_then(|f| f.get_mut("Properties"))
        .and_then(serde_yaml::Value::as_mapping_mut)
        .context(format!("{logical_id} has no Properties"))?;
    properties.insert("Timeout".into(), timeout_secs.into());
    let variables = properties
        .get_mut("Environment")
        .and_then(|e| e.get_mut("Variables"))
        .and_then(serde_yaml::Value::as_mapping_mut)
        .context(format!(
            "{logical_id} has no Properties.Environment.Variables to set {CHUNK_SIZE} in"
        ))?;
    variables.insert(CHUNK_SIZE.into(), chunk_size.to_string().into());
    variables.insert(CONCURRENCY.into(), concurrency.to_string().into());
    let dir = std::env::temp_dir().join(format!("bulk-bench-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).context(format!("creating {}", dir.display()))?;
    worker.derived_dir = Some(dir.clone());
    worker.as_in_template = false;
    let path = dir.join("template.yaml");
    worker.template = path.clone();
    let written = serde_yaml::to_string(&raw)
        .context("writing the derived template")
        .and_then(|text| std::fs::write(&path, text).context(format!("writing {}", path.display())))
        .and_then(|()| Template::load(&path).context("the derived template"));
    let derived = match written {
        Ok(derived) => derived,
        Err(e) => {
            worker.cleanup();
            return Err(e);
        }
    };
    // The copy must say what was asked, and nothing else may have changed in the round trip.
    let read_back = (
        setting(&derived, &logical_id, CHUNK_SIZE, 0).ok(),
        setting(&derived, &logical_id, CONCURRENCY, 0).ok(),
        derived.function(&logical_id).map(|f| f.timeout_secs),
    );
    if read_back != (Some(chunk_size), Some(concurrency), Some(timeout_secs))
        || derived.functions.len() != template.functions.len()
        || derived.queues != template.queues
    {
        worker.cleanup();
        return Err(Failure::new(
            "the derived template does not read back as written",
        ));
    }
    Ok(worker)
}

/// A staff token of the local JWT authorizer, valid for an hour.
pub fn staff_token() -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + 3600;
    local_stack::jwt::mint(
        &json!({"sub": "bench", "scope": "agreements.admin", "exp": exp,
                "iss": local_stack::intrinsics::LOCAL_JWT_ISSUER,
                "aud": local_stack::intrinsics::LOCAL_JWT_AUDIENCE}),
        local_stack::DEFAULT_JWT_SECRET,
    )
}

/// How a job ended.
#[derive(Debug)]
pub struct JobRun {
    /// The job as `GET /bulk-jobs/{id}` last answered it.
    pub job: Value,
    /// From just before the POST to the job's `finished_at`.
    pub elapsed: Duration,
    /// Status polls made (each one GetItem through the stack).
    pub polls: u64,
    /// Why the job was left unfinished: the time limit, or no progress for too long.
    pub unfinished: Option<String>,
}

fn count(job: &Value, field: &str) -> u64 {
    job[field].as_u64().unwrap_or(0)
}

fn epoch_ms(t: SystemTime) -> i128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i128::try_from(d.as_millis()).unwrap_or(i128::MAX))
        .unwrap_or(0)
}

/// Presses "Create Agreements" on the template and waits for the job to finish, sampling the
/// worker's memory on every poll. Answers the job unfinished after `limit`, or when its counts
/// have not moved for `stall_after`.
pub async fn run_job(
    base_url: &str,
    template_id: &str,
    rss: &mut PeakRss,
    limit: Option<Duration>,
    stall_after: Duration,
) -> Result<JobRun> {
    let http = reqwest::Client::new();
    let token = staff_token();
    let sent_at = SystemTime::now();
    let clock = Clock::now();
    let answer = http
        .post(format!(
            "{base_url}/agreement-templates/{template_id}/create-agreements"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .context("POST create-agreements")?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    if status != StatusCode::ACCEPTED {
        return Err(Failure::new(format!(
            "POST create-agreements answered {status}: {body}"
        )));
    }
    let job_id = body["job_id"]
        .as_str()
        .context(format!("no job_id in {body}"))?
        .to_string();
    println!("  job {job_id} queued");

    let mut polls = 0u64;
    let mut last_progress = Clock::now();
    let mut last_done = 0u64;
    let mut last_change = Clock::now();
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        rss.sample();
        polls += 1;
        let answer = http
            .get(format!("{base_url}/bulk-jobs/{job_id}"))
            .bearer_auth(&token)
            .send()
            .await
            .context("GET bulk job")?;
        let status = answer.status();
        let job: Value = answer.json().await.unwrap_or(Value::Null);
        if status != StatusCode::OK {
            return Err(Failure::new(format!(
                "GET /bulk-jobs/{job_id} answered {status}: {job}"
            )));
        }
        let done = count(&job, "created") + count(&job, "skipped") + count(&job, "failed");
        let finished = matches!(job["status"].as_str(), Some("completed" | "failed"));
        if finished {
            // The job's own finish time, not the poll that saw it.
            let elapsed = serde_json::from_value::<Instant>(job["finished_at"].clone())
                .ok()
                .map(|t| t.unix_millis() - epoch_ms(sent_at))
                .and_then(|ms| u64::try_from(ms).ok())
                .map_or_else(|| clock.elapsed(), Duration::from_millis);
            return Ok(JobRun {
                job,
                elapsed,
                polls,
                unfinished: None,
            });
        }
        if done != last_done {
            last_done = done;
            last_change = Clock::now();
        }
        let unfinished = if limit.is_some_and(|limit| clock.elapsed() >= limit) {
            Some(format!(
                "still {} at the time limit",
                job["status"].as_str().unwrap_or("?")
            ))
        } else if last_change.elapsed() >= stall_after {
            Some(format!(
                "stalled: {} and its counts did not move for {} s",
                job["status"].as_str().unwrap_or("?"),
                stall_after.as_secs()
            ))
        } else {
            None
        };
        if let Some(reason) = unfinished {
            println!("  stopping: job {job_id} is {reason}");
            return Ok(JobRun {
                job,
                elapsed: clock.elapsed(),
                polls,
                unfinished: Some(reason),
            });
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Clock::now();
            let secs = clock.elapsed().as_secs_f64();
            let total = job["total"]
                .as_u64()
                .map_or_else(|| "?".to_string(), |t| t.to_string());
            println!(
                "  [{secs:6.1} s] {} {done}/{total} ({:.0} agreements/s)",
                job["status"].as_str().unwrap_or("?"),
                done as f64 / secs.max(f64::EPSILON),
            );
        }
    }
}
