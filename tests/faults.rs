//! Bulk jobs under faults. The worker runs in-process (`handle_batch`) with DynamoDB and SQS
//! clients that go through a fault-injecting proxy (tests/support/faults.rs); this file plays
//! Lambda's SQS poller against the real queue on moto: it receives batches, deletes the messages
//! the worker did not report, leaves the others to come back after their visibility timeout,
//! and moves a message received more than `MAX_RECEIVES` times to a dead-letter list, as the
//! queue's redrive policy would. Every check reads moto directly.
//!
//! `fault_benchmark` (ignored: a benchmark, see docs/benchmarks.md) is the same run at a larger
//! size, with its size, rate and delays from the environment.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::QueueAttributeName;
use integration_tests::bulk::{agreements_of_template, customers, delete, receive, Customers};
use integration_tests::faults::{Fault, FaultCounts, FaultProxy};
use integration_tests::sqs;
use shared::connectors::Unconfigured;
use shared::entrypoints::sqs::handle_batch;
use shared::model::{BulkJob, BulkJobView, Id, Instant, JobStatus, Principal};
use shared::queue::JobMessage;
use shared::services::jobs::create_agreements::start_create_agreements;
use shared::services::jobs::sweep::{sweep_jobs, SweepSettings};
use shared::services::jobs::{get_bulk_job, JobSettings};
use shared::AppContext;

/// The queue's redrive policy: a message received more than this many times is dead-lettered.
/// The worker's own `max_receives` (default 5) is the same number, as in template.yaml.
const MAX_RECEIVES: u32 = 5;

/// The test queues' visibility timeout: how long a failed message waits before it comes back.
const VISIBILITY: Duration = Duration::from_secs(2);

/// A job not finished with no message in the queue (visible, in flight or delayed) for this
/// long has stalled: nothing will carry it on.
const STALL_AFTER: Duration = Duration::from_secs(4);

fn staff() -> Principal {
    Principal::Staff {
        subject: "fault tests".into(),
    }
}

/// A customer base on a table and queue of its own, and the worker's context, whose requests
/// go through a fault proxy.
struct Scenario {
    c: Customers,
    proxy: FaultProxy,
    worker: AppContext,
}

async fn scenario(accounts: usize, seed: u64, visibility: Duration) -> Scenario {
    let c = customers(accounts).await;
    sqs()
        .await
        .set_queue_attributes()
        .queue_url(&c.queue_url)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.as_secs().max(1).to_string(),
        )
        .send()
        .await
        .expect("visibility timeout");
    let proxy = FaultProxy::start(seed).await;
    let worker = proxy.context(c.ctx.store.table(), &c.queue_url).await;
    Scenario { c, proxy, worker }
}

impl Scenario {
    /// Queues a "Create Agreements" job of the template (directly: starting is not under test).
    async fn start(&self) -> BulkJob {
        let queue = self.c.ctx.bulk_queue().expect("queue");
        start_create_agreements(
            &self.c.ctx.store,
            queue,
            &staff(),
            self.c.template.id.as_str(),
            false,
        )
        .await
        .expect("job queued")
    }

    async fn job(&self, id: &Id) -> BulkJobView {
        get_bulk_job(&self.c.ctx.store, &staff(), id.as_str())
            .await
            .expect("job")
    }

    /// Messages in the queue, visible, in flight or delayed.
    async fn queued_messages(&self) -> u64 {
        let out = sqs()
            .await
            .get_queue_attributes()
            .queue_url(&self.c.queue_url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("queue attributes");
        let attributes = out.attributes.unwrap_or_default();
        [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ]
        .iter()
        .filter_map(|a| attributes.get(a))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
    }

    /// Receives a batch and throws it away unprocessed: a message lost for good.
    async fn lose_messages(&self) -> usize {
        let mut lost = 0;
        for _ in 0..5 {
            let (event, receipts) = receive(&self.c.queue_url).await;
            lost += event.records.len();
            for r in receipts {
                delete(&self.c.queue_url, &r).await;
            }
            if lost > 0 && self.queued_messages().await == 0 {
                break;
            }
        }
        lost
    }
}

/// A message's receive count, as the poller hands it to the worker.
fn receives(record: &aws_lambda_events::event::sqs::SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// What playing the poller saw.
#[derive(Debug, Default)]
struct Delivered {
    /// Messages handed to the worker (one per record).
    deliveries: AtomicU64,
    /// Deliveries the worker reported failed.
    failures: AtomicU64,
    /// Deliveries cut short (the worker "killed").
    killed: AtomicU64,
    /// Bodies of the messages the redrive policy took off the queue.
    dead_letters: Mutex<Vec<String>>,
}

impl Delivered {
    fn dead_letters(&self) -> Vec<String> {
        self.dead_letters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// How the poller runs the worker.
#[derive(Debug, Clone, Copy)]
struct Poller {
    settings: JobSettings,
    /// Worker invocations at once.
    workers: usize,
    /// Give up after this long.
    deadline: Duration,
    /// Cut the first `kills` deliveries short after `kill_after`, as if the worker died.
    kills: u64,
    kill_after: Duration,
}

impl Poller {
    fn new(settings: JobSettings, deadline: Duration) -> Self {
        Poller {
            settings,
            workers: 2,
            deadline,
            kills: 0,
            kill_after: Duration::ZERO,
        }
    }
}

/// How a run ended.
#[derive(Debug)]
struct Run {
    job: BulkJobView,
    /// From the start of polling to the moment the job was seen finished.
    wall: Option<Duration>,
    /// The job was neither finished nor had a message in the queue for a while: nothing
    /// would ever carry it on.
    stalled: bool,
    delivered: Delivered,
}

/// Plays Lambda's poller until the job has finished and the queue is empty, the job stalls
/// (not finished, no message left to carry it on), or the deadline passes.
async fn poll(s: &Scenario, job_id: &Id, poller: Poller) -> Run {
    let started = std::time::Instant::now();
    let delivered = Delivered::default();
    let finished_at: Mutex<Option<Duration>> = Mutex::new(None);
    let stalled = std::sync::atomic::AtomicBool::new(false);
    let one_worker = || async {
        let mut empty_since: Option<std::time::Instant> = None;
        while started.elapsed() < poller.deadline && !stalled.load(Ordering::SeqCst) {
            let (event, _) = receive(&s.c.queue_url).await;
            let mut batch = SqsEvent::default();
            for record in event.records {
                if receives(&record) > MAX_RECEIVES {
                    // The redrive policy moves it instead of delivering it.
                    delete(
                        &s.c.queue_url,
                        record.receipt_handle.as_deref().unwrap_or(""),
                    )
                    .await;
                    delivered
                        .dead_letters
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(record.body.clone().unwrap_or_default());
                } else {
                    batch.records.push(record);
                }
            }
            if batch.records.is_empty() {
                let job = s.job(job_id).await;
                if job.status.is_finished() {
                    finished_at
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get_or_insert(started.elapsed());
                }
                if s.queued_messages().await > 0 {
                    empty_since = None;
                    continue;
                }
                if job.status.is_finished() {
                    return;
                }
                let since = *empty_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > STALL_AFTER {
                    stalled.store(true, Ordering::SeqCst);
                    return;
                }
                continue;
            }
            empty_since = None;
            let n = batch.records.len() as u64;
            let kill = delivered.deliveries.fetch_add(n, Ordering::SeqCst) < poller.kills;
            let records = batch.records.clone();
            let work = handle_batch(&s.worker, &Unconfigured, poller.settings, batch);
            let response = if kill {
                match tokio::time::timeout(poller.kill_after, work).await {
                    Ok(response) => response,
                    Err(_) => {
                        // Dead: nothing deleted, nothing reported.
                        delivered.killed.fetch_add(n, Ordering::SeqCst);
                        continue;
                    }
                }
            } else {
                work.await
            };
            let failed: HashSet<String> = response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect();
            delivered
                .failures
                .fetch_add(failed.len() as u64, Ordering::SeqCst);
            for record in records {
                if !failed.contains(record.message_id.as_deref().unwrap_or("")) {
                    delete(
                        &s.c.queue_url,
                        record.receipt_handle.as_deref().unwrap_or(""),
                    )
                    .await;
                }
            }
        }
    };
    futures::future::join_all((0..poller.workers.max(1)).map(|_| one_worker())).await;
    let job = s.job(job_id).await;
    let wall = *finished_at
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Run {
        wall: wall.or_else(|| job.status.is_finished().then(|| started.elapsed())),
        job,
        stalled: stalled.load(Ordering::SeqCst),
        delivered,
    }
}

/// The job's agreements, by account (the customer base has one provider account per account).
async fn agreements_by_account(c: &Customers, job_id: &Id) -> HashMap<String, usize> {
    let mut by_account = HashMap::new();
    for a in agreements_of_template(c).await {
        assert_eq!(
            a.bulk_job_id.as_ref(),
            Some(job_id),
            "an agreement of another job: {a:?}"
        );
        *by_account.entry(a.account_id.to_string()).or_insert(0) += 1;
    }
    by_account
}

fn describe(job: &BulkJobView) -> String {
    format!(
        "status {:?}, total {:?}, created {}, skipped {}, failed {}, reason {:?}, failures {:?}",
        job.status,
        job.total,
        job.created,
        job.skipped,
        job.failed,
        job.failure_reason,
        job.failures
    )
}

/// The checks every run ends with: the job ended; no account has two agreements; a completed
/// job accounted for every provider account, each with exactly one agreement or listed among
/// the failures; the queue is empty.
async fn assert_ended_exactly(s: &Scenario, run: &Run, accounts: usize) {
    let job = &run.job;
    assert!(
        job.status.is_finished(),
        "the job was left {:?} ({}); {}",
        job.status,
        if run.stalled {
            "stalled: no message left in the queue to carry it on"
        } else {
            "the deadline passed"
        },
        describe(job)
    );
    let by_account = agreements_by_account(&s.c, &job.id).await;
    let duplicated: Vec<_> = by_account.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "duplicate agreements: {duplicated:?}"
    );
    if job.status == JobStatus::Completed {
        assert_eq!(
            job.created + job.skipped + job.failed,
            accounts as u64,
            "every provider account counted once: {}",
            describe(job)
        );
        assert_eq!(job.total, Some(accounts as u64), "{}", describe(job));
        // Items counted as failed are listed with their reason (the first ones of each chunk);
        // an account left without an agreement is one of them.
        assert!(
            job.failures.len() as u64 <= job.failed && (job.failed == 0) == job.failures.is_empty(),
            "failed items listed: {}",
            describe(job)
        );
        let without: Vec<&Id> =
            s.c.accounts
                .iter()
                .map(|a| &a.id)
                .filter(|a| !by_account.contains_key(a.as_str()))
                .collect();
        assert!(
            without.len() as u64 <= job.failed,
            "{} accounts have no agreement: {}",
            without.len(),
            describe(job)
        );
        if !without.is_empty() && job.failures.len() as u64 == job.failed {
            let (rows, _) =
                s.c.ctx
                    .store
                    .provider_account_chunk(&s.c.provider.id, "check", "", accounts + 1)
                    .await
                    .expect("provider accounts");
            for account in without {
                let pa = rows
                    .iter()
                    .find(|r| &r.account_id == account)
                    .map(|r| r.id.to_string())
                    .unwrap_or_default();
                assert!(
                    job.failures.iter().any(|f| f.item.contains(&pa)),
                    "account {account} has no agreement and is not among the failures: {}",
                    describe(job)
                );
            }
        }
        if job.failed == 0 {
            assert_eq!(
                by_account.len(),
                accounts,
                "one agreement per provider account"
            );
        }
    } else {
        assert!(
            job.failure_reason
                .as_deref()
                .is_some_and(|r| !r.trim().is_empty()),
            "a failed job says why: {}",
            describe(job)
        );
        assert!(
            by_account.len() as u64 >= job.created,
            "every agreement counted as created exists: {} agreements, {}",
            by_account.len(),
            describe(job)
        );
    }
    assert_eq!(
        s.queued_messages().await,
        0,
        "the queue is empty at the end"
    );
}

fn report(name: &str, accounts: usize, run: &Run, counts: &FaultCounts) {
    let wall = run.wall.map_or("not finished".to_string(), |w| {
        format!("{:.1}s", w.as_secs_f64())
    });
    eprintln!(
        "{name}: {accounts} accounts, job {} ({wall}): {}; {} deliveries, {} reported failed, {} killed, {} dead-lettered; proxy: {counts}",
        run.job.id,
        describe(&run.job),
        run.delivered.deliveries.load(Ordering::SeqCst),
        run.delivered.failures.load(Ordering::SeqCst),
        run.delivered.killed.load(Ordering::SeqCst),
        run.delivered.dead_letters().len(),
    );
}

/// One run of a job at a fault rate on every DynamoDB and SQS call of the worker.
#[derive(Debug, Clone, Copy)]
struct FaultRun {
    accounts: usize,
    rate: f64,
    delay: (Duration, Duration),
    chunk_size: usize,
    concurrency: usize,
    visibility: Duration,
    workers: usize,
    deadline: Duration,
    seed: u64,
    /// Faults the first requests of an operation meet besides the drawn ones.
    scripted: &'static [(&'static str, Fault, u32)],
}

async fn fault_run(name: &str, r: FaultRun) -> (Scenario, Run) {
    let s = scenario(r.accounts, r.seed, r.visibility).await;
    s.proxy.set_kinds(&Fault::ALL);
    s.proxy.set_delay(r.delay.0, r.delay.1);
    s.proxy.set_rate(r.rate);
    for (operation, fault, times) in r.scripted {
        s.proxy.fault_next(operation, *fault, *times);
    }
    let job = s.start().await;
    let settings = JobSettings {
        chunk_size: r.chunk_size,
        concurrency: r.concurrency,
        // Long enough that a message sometimes goes on to the next chunk.
        time_budget: Duration::from_secs(1),
        ..JobSettings::default()
    };
    let mut poller = Poller::new(settings, r.deadline);
    poller.workers = r.workers;
    let run = poll(&s, &job.id, poller).await;
    report(name, r.accounts, &run, &s.proxy.counts());
    (s, run)
}

fn suite_run(rate: f64, seed: u64) -> FaultRun {
    FaultRun {
        accounts: 300,
        rate,
        delay: (Duration::from_millis(200), Duration::from_millis(800)),
        chunk_size: 50,
        concurrency: 8,
        visibility: VISIBILITY,
        workers: 2,
        deadline: Duration::from_secs(90),
        seed,
        scripted: &[],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_survives_faults_on_5_percent_of_the_workers_calls() {
    let (s, run) = fault_run("5%", suite_run(0.05, 5)).await;
    assert!(s.proxy.counts().total_faults() > 0, "faults were injected");
    assert_ended_exactly(&s, &run, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_survives_faults_on_20_percent_of_the_workers_calls() {
    // A job sends few messages: besides the drawn faults, its first continuations are
    // throttled and then sent with their answer lost (so sent twice).
    let r = FaultRun {
        scripted: &[
            ("SendMessage", Fault::Throttle, 1),
            ("SendMessage", Fault::LostAnswer, 1),
        ],
        ..suite_run(0.20, 20)
    };
    let (s, run) = fault_run("20%", r).await;
    let counts = s.proxy.counts();
    for kind in Fault::ALL {
        assert!(
            counts.of_kind(kind) > 0,
            "{kind:?} faults were injected: {counts}"
        );
    }
    assert_ended_exactly(&s, &run, 300).await;
}

/// One delivery of whatever the queue holds, as the poller makes it: the messages the worker
/// did not report are deleted. `cut` ending first kills the worker (nothing is deleted). None
/// when nothing was received or the worker was killed; else the ids of the failed messages.
async fn deliver_once<F>(s: &Scenario, settings: JobSettings, cut: F) -> Option<Vec<String>>
where
    F: std::future::Future<Output = ()>,
{
    let (event, _) = receive(&s.c.queue_url).await;
    if event.records.is_empty() {
        return None;
    }
    let records = event.records.clone();
    let response = tokio::select! {
        response = handle_batch(&s.worker, &Unconfigured, settings, event) => response,
        () = cut => return None,
    };
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    for record in records {
        let id = record.message_id.clone().unwrap_or_default();
        if !failed.contains(&id) {
            delete(
                &s.c.queue_url,
                record.receipt_handle.as_deref().unwrap_or(""),
            )
            .await;
        }
    }
    Some(failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_chunk_leaves_a_job_that_completes_exactly() {
    let accounts = 200;
    let s = scenario(accounts, 7, VISIBILITY).await;
    let job = s.start().await;
    let settings = JobSettings {
        chunk_size: 50,
        concurrency: 4,
        ..JobSettings::default()
    };
    // Slow answers, so the worker can be stopped among its writes.
    s.proxy.set_kinds(&[Fault::Delay]);
    s.proxy
        .set_delay(Duration::from_millis(20), Duration::from_millis(60));
    s.proxy.set_rate(1.0);

    // 1. Killed while it writes the first chunk: ten of its writes have started.
    let puts = s.proxy.counts().requests_of("PutItem");
    let while_writing = async {
        while s.proxy.counts().requests_of("PutItem") < puts + 10 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    assert_eq!(deliver_once(&s, settings, while_writing).await, None);
    let after = s.job(&job.id).await;
    let written = agreements_by_account(&s.c, &job.id).await.len() as u64;
    assert!(
        written > 0 && after.created == 0,
        "killed between writing and counting: {written} agreements, {}",
        describe(&after)
    );

    // 2. Killed after counting the chunk, before its continuation left: every send fails.
    s.proxy.set_rate(0.0);
    s.proxy.only(&["SendMessage"]);
    s.proxy.set_kinds(&[Fault::ServerError]);
    s.proxy.set_rate(1.0);
    let mut counted = s.job(&job.id).await;
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while counted.created == 0 && std::time::Instant::now() < until {
        deliver_once(&s, settings, std::future::pending()).await;
        counted = s.job(&job.id).await;
    }
    assert_eq!(
        (counted.status, counted.created),
        (JobStatus::Running, 50),
        "the first chunk counted, its continuation not sent: {}",
        describe(&counted)
    );

    // 3. Slow answers again, and the next deliveries cut short by a timeout at 300 ms (the
    // first of them re-sends the continuation, well within it); then the job runs to its end.
    s.proxy.set_rate(0.0);
    s.proxy.only(&[]);
    s.proxy.set_kinds(&[Fault::Delay]);
    s.proxy.set_rate(1.0);
    let mut poller = Poller::new(settings, Duration::from_secs(40));
    poller.kills = 3;
    poller.kill_after = Duration::from_millis(300);
    poller.workers = 1;
    let run = poll(&s, &job.id, poller).await;
    report("killed", accounts, &run, &s.proxy.counts());
    assert!(
        run.delivered.killed.load(Ordering::SeqCst) > 0,
        "a delivery was cut short"
    );
    assert_ended_exactly(&s, &run, accounts).await;
    assert_eq!(
        run.job.status,
        JobStatus::Completed,
        "{}",
        describe(&run.job)
    );
    assert_eq!(
        (
            run.job.total,
            run.job.created,
            run.job.skipped,
            run.job.failed
        ),
        (Some(accounts as u64), accounts as u64, 0, 0),
        "counted exactly: {}",
        describe(&run.job)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunk_count_whose_answer_was_lost_still_sends_the_continuation() {
    let accounts = 120;
    let s = scenario(accounts, 29, VISIBILITY).await;
    let job = s.start().await;
    let settings = JobSettings {
        chunk_size: 40,
        concurrency: 8,
        ..JobSettings::default()
    };
    assert_eq!(
        deliver_once(&s, settings, std::future::pending()).await,
        Some(vec![]),
        "the first chunk"
    );
    // The second chunk's count is applied but its answer is lost; the SDK's retry of it then
    // finds the pointer moved on.
    s.proxy.fault_next("UpdateItem", Fault::LostAnswer, 1);
    let second = deliver_once(&s, settings, std::future::pending()).await;
    let job_now = s.job(&job.id).await;
    assert_eq!(
        job_now.created,
        80,
        "the second chunk counted once: {}",
        describe(&job_now)
    );
    assert_eq!(s.proxy.counts().on("UpdateItem"), 1);
    let run = poll(&s, &job.id, Poller::new(settings, Duration::from_secs(30))).await;
    report("lost count answer", accounts, &run, &s.proxy.counts());
    assert_ended_exactly(&s, &run, accounts).await;
    assert_eq!(
        (
            run.job.status,
            run.job.created,
            second.map(|f| f.is_empty())
        ),
        (JobStatus::Completed, accounts as u64, Some(true)),
        "{}",
        describe(&run.job)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_that_fails_on_every_receive_fails_its_job_on_the_last() {
    let accounts = 150;
    let s = scenario(accounts, 11, VISIBILITY).await;
    let job = s.start().await;
    let settings = JobSettings {
        chunk_size: 50,
        concurrency: 8,
        ..JobSettings::default()
    };
    // The first chunk goes through; from then on every chunk Query fails.
    assert_eq!(
        deliver_once(&s, settings, std::future::pending()).await,
        Some(vec![]),
        "the first chunk"
    );
    assert_eq!(s.job(&job.id).await.created, 50);
    s.proxy.only(&["Query"]);
    s.proxy.set_kinds(&[Fault::ServerError]);
    s.proxy.set_rate(1.0);
    let run = poll(&s, &job.id, Poller::new(settings, Duration::from_secs(60))).await;
    report("dead-lettered", accounts, &run, &s.proxy.counts());
    assert_ended_exactly(&s, &run, accounts).await;
    assert_eq!(
        (run.job.status, run.job.created, run.job.skipped),
        (JobStatus::Failed, 50, 0),
        "failed on the message's last receive, keeping the counts so far: {}",
        describe(&run.job)
    );
    assert!(
        s.proxy.counts().on("Query") >= u64::from(MAX_RECEIVES),
        "every receive tried its chunk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_agreement_that_cannot_be_written_is_counted_failed_and_the_chunk_goes_on() {
    let accounts = 30;
    let s = scenario(accounts, 23, VISIBILITY).await;
    let job = s.start().await;
    let settings = JobSettings {
        chunk_size: 50,
        concurrency: 1,
        item_attempts: 2,
        ..JobSettings::default()
    };
    // One write at a time: the first agreement's every attempt (the SDK's 4, twice) fails.
    s.proxy.fault_next("PutItem", Fault::ServerError, 8);
    let run = poll(&s, &job.id, Poller::new(settings, Duration::from_secs(60))).await;
    report("one failed item", accounts, &run, &s.proxy.counts());
    assert_ended_exactly(&s, &run, accounts).await;
    assert_eq!(
        (run.job.status, run.job.created, run.job.failed),
        (JobStatus::Completed, accounts as u64 - 1, 1),
        "{}",
        describe(&run.job)
    );
    let failure = run.job.failures.first().expect("the failed item is listed");
    assert!(
        failure.item.starts_with("provider account ") && !failure.reason.is_empty(),
        "{failure:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_message_naming_an_existing_job_leaves_it_and_the_sweep_ends_it() {
    let accounts = 10;
    let s = scenario(accounts, 13, VISIBILITY).await;
    let job = s.start().await;
    assert_eq!(s.lose_messages().await, 1);
    // It names the job but another template: not the job's message, and no delivery of it can
    // ever succeed. It must not touch the job (anyone who can send to the queue could forge
    // it); it goes to the dead-letter queue.
    let poison = JobMessage::create_agreements(job.id.as_str(), Id::generate().as_str(), None);
    s.c.ctx
        .bulk_queue()
        .expect("queue")
        .send(&poison)
        .await
        .expect("send");
    let run = poll(
        &s,
        &job.id,
        Poller::new(JobSettings::default(), Duration::from_secs(40)),
    )
    .await;
    report("poison", accounts, &run, &s.proxy.counts());
    assert!(
        run.stalled,
        "nothing carries the job on: {}",
        describe(&run.job)
    );
    assert_eq!(run.job.status, JobStatus::Queued, "{}", describe(&run.job));
    let dead = run
        .delivered
        .dead_letters
        .lock()
        .map(|d| d.len())
        .unwrap_or_default();
    assert_eq!(dead, 1, "the poison message went to the dead-letter queue");

    // The job's own message was lost: the sweep carries it on, and it completes exactly.
    let (resumed, failed) = sweep_after_a_while(&s, sweep_settings(3)).await;
    assert_eq!((resumed, failed), (vec![job.id.clone()], vec![]));
    let run = poll(
        &s,
        &job.id,
        Poller::new(JobSettings::default(), Duration::from_secs(40)),
    )
    .await;
    assert_ended_exactly(&s, &run, accounts).await;
    assert_eq!(
        run.job.status,
        JobStatus::Completed,
        "{}",
        describe(&run.job)
    );
}

fn sweep_settings(max_resumes: u32) -> SweepSettings {
    SweepSettings {
        stale_after: Duration::from_secs(1),
        max_resumes,
    }
}

/// Waits out `stale_after`, then sweeps the scenario's table (directly, as the schedule would).
async fn sweep_after_a_while(s: &Scenario, settings: SweepSettings) -> (Vec<Id>, Vec<Id>) {
    tokio::time::sleep(settings.stale_after + Duration::from_millis(200)).await;
    let queue = s.c.ctx.bulk_queue().expect("queue");
    let report = sweep_jobs(&s.c.ctx.store, queue, settings, Instant::now())
        .await
        .expect("sweep");
    (report.resumed, report.failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_resumes_a_job_whose_messages_were_lost_and_it_completes() {
    let accounts = 120;
    let s = scenario(accounts, 17, VISIBILITY).await;
    let job = s.start().await;
    let settings = JobSettings {
        chunk_size: 40,
        concurrency: 8,
        ..JobSettings::default()
    };
    // A job updated a moment ago is not stale.
    let queue = s.c.ctx.bulk_queue().expect("queue");
    let fresh = SweepSettings {
        stale_after: Duration::from_secs(60),
        max_resumes: 3,
    };
    let swept = sweep_jobs(&s.c.ctx.store, queue, fresh, Instant::now())
        .await
        .expect("sweep");
    assert!(
        swept.resumed.is_empty() && swept.failed.is_empty(),
        "{:?} {:?}",
        swept.resumed,
        swept.failed
    );

    // The queued job's first message is lost.
    assert_eq!(s.lose_messages().await, 1);
    let (resumed, failed) = sweep_after_a_while(&s, sweep_settings(3)).await;
    assert_eq!((resumed, failed), (vec![job.id.clone()], vec![]));
    // One chunk goes through; then its continuation is lost.
    assert_eq!(
        deliver_once(&s, settings, std::future::pending()).await,
        Some(vec![])
    );
    let running = s.job(&job.id).await;
    assert_eq!((running.status, running.created), (JobStatus::Running, 40));
    assert_eq!(s.lose_messages().await, 1);
    let (resumed, failed) = sweep_after_a_while(&s, sweep_settings(3)).await;
    assert_eq!((resumed, failed), (vec![job.id.clone()], vec![]));

    let run = poll(&s, &job.id, Poller::new(settings, Duration::from_secs(40))).await;
    report("swept", accounts, &run, &s.proxy.counts());
    assert_ended_exactly(&s, &run, accounts).await;
    assert_eq!(
        (run.job.status, run.job.total, run.job.created),
        (JobStatus::Completed, Some(accounts as u64), accounts as u64),
        "{}",
        describe(&run.job)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_fails_a_job_that_cannot_progress_after_its_resumes() {
    let s = scenario(20, 19, VISIBILITY).await;
    let job = s.start().await;
    let settings = sweep_settings(2);
    for resume in 1..=settings.max_resumes {
        assert_eq!(s.lose_messages().await, 1, "message {resume}");
        let (resumed, failed) = sweep_after_a_while(&s, settings).await;
        assert_eq!(
            (resumed, failed),
            (vec![job.id.clone()], vec![]),
            "resume {resume}"
        );
    }
    assert_eq!(s.lose_messages().await, 1, "the last resume's message");
    let (resumed, failed) = sweep_after_a_while(&s, settings).await;
    assert_eq!((resumed, failed), (vec![], vec![job.id.clone()]));
    let failed = s.job(&job.id).await;
    assert_eq!(failed.status, JobStatus::Failed, "{}", describe(&failed));
    assert!(
        failed
            .failure_reason
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty()),
        "{}",
        describe(&failed)
    );
    assert_eq!(s.queued_messages().await, 0, "nothing left queued");
    // A finished job is no sweep's business.
    let (resumed, failed) = sweep_after_a_while(&s, settings).await;
    assert!(resumed.is_empty() && failed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_proxy_injects_each_fault_where_it_is_told_and_counts_it() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    use aws_sdk_dynamodb::types::AttributeValue;

    let s = scenario(0, 23, VISIBILITY).await;
    // Clients without retries, to see each answer.
    let config = s.proxy.sdk_config_without_retries().await;
    let db = aws_sdk_dynamodb::Client::new(&config);
    let queue = aws_sdk_sqs::Client::new(&config);
    let direct = s.c.ctx.store.client().clone();
    let table = s.c.ctx.store.table().to_string();
    let key = |k: &str| {
        HashMap::from([
            ("PK".to_string(), AttributeValue::S(k.to_string())),
            ("SK".to_string(), AttributeValue::S("x".to_string())),
        ])
    };
    let put = |k: &str| {
        db.put_item()
            .table_name(&table)
            .set_item(Some(key(k)))
            .send()
    };
    let stored = |k: String| {
        let direct = direct.clone();
        let table = table.clone();
        async move {
            direct
                .get_item()
                .table_name(table)
                .set_key(Some(key(&k)))
                .consistent_read(true)
                .send()
                .await
                .expect("direct read")
                .item
                .is_some()
        }
    };
    s.proxy.only(&["PutItem", "SendMessage"]);
    s.proxy.set_rate(1.0);

    s.proxy.set_kinds(&[Fault::ServerError]);
    let e = put("a").await.expect_err("500");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert!(!stored("a".into()).await, "not forwarded");

    s.proxy.set_kinds(&[Fault::Throttle]);
    let e = put("b").await.expect_err("throttled");
    assert_eq!(e.code(), Some("ProvisionedThroughputExceededException"));
    assert!(!stored("b".into()).await, "not forwarded");
    let e = queue
        .send_message()
        .queue_url(&s.c.queue_url)
        .message_body("x")
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(e.code(), Some("ThrottlingException"));
    assert_eq!(s.queued_messages().await, 0, "not forwarded");

    s.proxy.set_kinds(&[Fault::LostAnswer]);
    let e = put("c").await.expect_err("answer lost");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert!(stored("c".into()).await, "applied all the same");

    s.proxy.set_kinds(&[Fault::Delay]);
    s.proxy
        .set_delay(Duration::from_millis(300), Duration::from_millis(300));
    let t = std::time::Instant::now();
    put("d").await.expect("delayed, then forwarded");
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(stored("d".into()).await);

    // Another operation is left alone.
    s.proxy.set_kinds(&[Fault::ServerError]);
    db.get_item()
        .table_name(&table)
        .set_key(Some(key("c")))
        .send()
        .await
        .expect("GetItem is not among the faulted operations");

    let counts = s.proxy.counts();
    assert_eq!(counts.on("PutItem"), 4, "{counts}");
    assert_eq!(counts.on("SendMessage"), 1, "{counts}");
    assert_eq!(counts.on("GetItem"), 0, "{counts}");
    assert_eq!(counts.requests_of("GetItem"), 1, "{counts}");
    for kind in Fault::ALL {
        assert!(counts.of_kind(kind) >= 1, "{kind:?}: {counts}");
    }

    // The same seed draws the same faults for the same requests.
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let proxy = FaultProxy::start(99).await;
        proxy.set_kinds(&[Fault::ServerError, Fault::Throttle]);
        proxy.set_rate(0.5);
        let db = aws_sdk_dynamodb::Client::new(&proxy.sdk_config_without_retries().await);
        let mut seen = Vec::new();
        for _ in 0..30 {
            let r = db
                .get_item()
                .table_name(&table)
                .set_key(Some(key("c")))
                .send()
                .await;
            seen.push(r.err().and_then(|e| e.code().map(str::to_string)));
        }
        outcomes.push(seen);
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert!(outcomes[0].iter().any(Option::is_some) && outcomes[0].iter().any(Option::is_none));
}

/// A number from the environment, or `default`.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The fault benchmark of docs/benchmarks.md: one job under faults at a larger size. Its size,
/// rate, delays and the rest come from `FAULTS_*` variables (defaults: 3,000 accounts, 20%,
/// 2–5 s delays). Run it with
/// `cargo test -p integration-tests --test faults -- --ignored --nocapture fault_benchmark`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark of several minutes (docs/benchmarks.md), not a check of `make test`"]
async fn fault_benchmark() {
    let (min, max) = std::env::var("FAULTS_DELAY_MS")
        .ok()
        .and_then(|v| {
            let (a, b) = v.split_once('-')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .unwrap_or((2000u64, 5000u64));
    let r = FaultRun {
        accounts: env_or("FAULTS_ACCOUNTS", 3000),
        rate: env_or("FAULTS_RATE", 0.2),
        delay: (Duration::from_millis(min), Duration::from_millis(max)),
        chunk_size: env_or("FAULTS_CHUNK", 100),
        concurrency: env_or("FAULTS_CONCURRENCY", 16),
        visibility: Duration::from_secs(env_or("FAULTS_VISIBILITY_S", 15)),
        workers: env_or("FAULTS_WORKERS", 4),
        deadline: Duration::from_secs(env_or("FAULTS_DEADLINE_S", 1800)),
        seed: env_or("FAULTS_SEED", 1),
        scripted: &[],
    };
    eprintln!("fault benchmark: {r:?}");
    let (s, run) = fault_run("benchmark", r).await;
    assert_ended_exactly(&s, &run, r.accounts).await;
}
