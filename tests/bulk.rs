//! The bulk "Create Agreements" job against the local DynamoDB and a real SQS queue: duplicate
//! and concurrent deliveries, a worker that died half-way, skips, deactivation mid-job, poison.

use std::collections::HashMap;

use integration_tests::bulk::{agreements_of_template, customers, delete, receive, Customers};
use integration_tests::workspace_root;
use shared::connectors::Unconfigured;
use shared::entrypoints::sqs::handle_batch;
use shared::model::{Actor, AgreementSource, BulkJobView, JobStatus, Principal, TemplateState};
use shared::services::agreements::{insert_agreement, AgreementRequest};
use shared::services::jobs::create_agreements::start_create_agreements;
use shared::services::jobs::{get_bulk_job, JobSettings};
use shared::services::templates::set_template_state;

fn staff() -> Principal {
    Principal::Staff {
        subject: "tests".into(),
    }
}

async fn job(c: &Customers, id: &str) -> BulkJobView {
    get_bulk_job(&c.ctx.store, &staff(), id).await.expect("job")
}

/// Every agreement of the template, by account.
async fn agreements_by_account(c: &Customers) -> HashMap<String, usize> {
    let mut by_account = HashMap::new();
    for a in agreements_of_template(c).await {
        assert_eq!(a.source, AgreementSource::Bulk);
        *by_account.entry(a.account_id.to_string()).or_insert(0) += 1;
    }
    by_account
}

/// Queues a "Create Agreements" job of the customers' template.
async fn start(c: &Customers) -> shared::model::BulkJob {
    let queue = c.ctx.bulk_queue().expect("queue");
    start_create_agreements(&c.ctx.store, queue, &staff(), c.template.id.as_str(), false)
        .await
        .expect("job queued")
}

/// A job's status and counts, to compare whole.
fn counts(j: &BulkJobView) -> (JobStatus, Option<u64>, u64, u64, u64) {
    (j.status, j.total, j.created, j.skipped, j.failed)
}

/// Exactly one agreement of the template for each of `n` accounts.
async fn assert_one_agreement_each(c: &Customers, n: usize) {
    let by_account = agreements_by_account(c).await;
    assert_eq!(by_account.len(), n, "one agreement per account");
    assert!(by_account.values().all(|n| *n == 1), "no duplicates");
}

/// Plays the worker: every batch is handled by two workers at once and then once more, as if
/// delivered three times, before it is deleted. `between` runs after each batch.
async fn drive<F, Fut>(
    c: &Customers,
    job_id: &str,
    settings: JobSettings,
    mut between: F,
) -> BulkJobView
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for round in 0..200 {
        let (event, receipts) = receive(&c.queue_url).await;
        if event.records.is_empty() {
            let j = job(c, job_id).await;
            if j.status.is_finished() {
                return j;
            }
            continue;
        }
        let (a, b) = tokio::join!(
            handle_batch(&c.ctx, &Unconfigured, settings, event.clone()),
            handle_batch(&c.ctx, &Unconfigured, settings, event.clone())
        );
        let again = handle_batch(&c.ctx, &Unconfigured, settings, event).await;
        for r in [a, b, again] {
            assert!(
                r.batch_item_failures.is_empty(),
                "{:?}",
                r.batch_item_failures
            );
        }
        for r in receipts {
            delete(&c.queue_url, &r).await;
        }
        between(round).await;
    }
    panic!("the job did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_and_concurrent_deliveries_create_each_agreement_once_and_count_exactly() {
    let c = customers(250).await;
    let started = start(&c).await;
    assert_eq!(started.status, JobStatus::Queued);
    let settings = JobSettings {
        chunk_size: 40,
        concurrency: 8,
        ..JobSettings::default()
    };
    let done = drive(&c, started.id.as_str(), settings, |_| async {}).await;
    assert_eq!(counts(&done), (JobStatus::Completed, Some(250), 250, 0, 0));
    assert!(done.started_at.is_some() && done.finished_at.is_some());
    assert_one_agreement_each(&c, 250).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_message_goes_on_through_the_following_chunks_within_its_time_budget() {
    let c = customers(130).await;
    let started = start(&c).await;
    let settings = JobSettings {
        chunk_size: 20,
        concurrency: 8,
        time_budget: std::time::Duration::from_secs(60),
        ..JobSettings::default()
    };
    // One worker, one delivery per message: the first message does all 7 chunks.
    let mut messages = 0;
    loop {
        let (event, receipts) = receive(&c.queue_url).await;
        if event.records.is_empty() {
            break;
        }
        messages += event.records.len();
        let r = handle_batch(&c.ctx, &Unconfigured, settings, event).await;
        assert!(
            r.batch_item_failures.is_empty(),
            "{:?}",
            r.batch_item_failures
        );
        for r in receipts {
            delete(&c.queue_url, &r).await;
        }
    }
    assert_eq!(messages, 1, "no continuation was needed");
    let done = job(&c, started.id.as_str()).await;
    assert_eq!(counts(&done), (JobStatus::Completed, Some(130), 130, 0, 0));
    assert_one_agreement_each(&c, 130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_deliveries_of_messages_that_go_on_past_their_chunk_count_exactly() {
    let c = customers(150).await;
    let started = start(&c).await;
    // A budget that runs out after a chunk or two, so messages both go on and hand on.
    let settings = JobSettings {
        chunk_size: 20,
        concurrency: 4,
        time_budget: std::time::Duration::from_millis(30),
        ..JobSettings::default()
    };
    let done = drive(&c, started.id.as_str(), settings, |_| async {}).await;
    assert_eq!(counts(&done), (JobStatus::Completed, Some(150), 150, 0, 0));
    assert_one_agreement_each(&c, 150).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunk_half_written_by_a_dead_worker_is_counted_once() {
    let c = customers(120).await;
    let started = start(&c).await;
    // The dead worker: it wrote the agreements of half of the first chunk, then no counts.
    let stored: shared::model::BulkJob = c
        .ctx
        .store
        .by_id(&started.id)
        .await
        .expect("read")
        .expect("job");
    let (first_chunk, _) = c
        .ctx
        .store
        .provider_account_chunk(&c.provider.id, "a test's", "", 25)
        .await
        .expect("chunk");
    for pa in &first_chunk {
        let request = AgreementRequest {
            account_id: pa.account_id.clone(),
            name: None,
            executed_on: None,
            source: AgreementSource::Bulk,
            actor: Actor::system("the worker that died"),
            bulk: Some((stored.id.clone(), pa.id.clone())),
        };
        insert_agreement(&c.ctx.store, &c.template, request)
            .await
            .expect("half-written agreement");
    }
    let settings = JobSettings {
        chunk_size: 50,
        concurrency: 8,
        ..JobSettings::default()
    };
    let done = drive(&c, started.id.as_str(), settings, |_| async {}).await;
    assert_eq!(counts(&done), (JobStatus::Completed, Some(120), 120, 0, 0));
    assert_one_agreement_each(&c, 120).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accounts_with_an_open_agreement_are_skipped() {
    let c = customers(60).await;
    for account in c.accounts.iter().take(10) {
        let request = AgreementRequest {
            account_id: account.id.clone(),
            name: None,
            executed_on: None,
            source: AgreementSource::Bulk,
            actor: Actor::system("an earlier job"),
            bulk: None,
        };
        insert_agreement(&c.ctx.store, &c.template, request)
            .await
            .expect("existing agreement");
    }
    let started = start(&c).await;
    let done = drive(&c, started.id.as_str(), JobSettings::default(), |_| async {
    })
    .await;
    assert_eq!(counts(&done), (JobStatus::Completed, Some(60), 50, 10, 0));
    assert!(agreements_by_account(&c).await.values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_template_deactivated_mid_job_stops_it_failed_with_the_counts_so_far() {
    let c = customers(200).await;
    let started = start(&c).await;
    let settings = JobSettings {
        chunk_size: 50,
        concurrency: 8,
        ..JobSettings::default()
    };
    let store = c.ctx.store.clone();
    let template = c.template.id.to_string();
    let done = drive(&c, started.id.as_str(), settings, |round| {
        let store = store.clone();
        let template = template.clone();
        async move {
            if round == 0 {
                set_template_state(&store, &staff(), &template, TemplateState::Inactive, None)
                    .await
                    .expect("deactivate");
            }
        }
    })
    .await;
    assert!(
        done.failure_reason
            .as_deref()
            .unwrap_or_default()
            .contains("deactivated"),
        "{:?}",
        done.failure_reason
    );
    assert_eq!(counts(&done), (JobStatus::Failed, Some(200), 50, 0, 0));
    assert_eq!(agreements_by_account(&c).await.len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deactivation_stops_a_chunk_while_it_writes() {
    // One chunk of 600 written one at a time takes seconds; the template is deactivated 300 ms
    // in, and the chunk's own periodic re-read of the template has to stop it.
    let c = customers(600).await;
    let started = start(&c).await;
    let settings = JobSettings {
        chunk_size: 600,
        concurrency: 1,
        ..JobSettings::default()
    };
    let (event, receipts) = receive(&c.queue_url).await;
    assert_eq!(event.records.len(), 1);
    let worker = handle_batch(&c.ctx, &Unconfigured, settings, event);
    let deactivate = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        set_template_state(
            &c.ctx.store,
            &staff(),
            c.template.id.as_str(),
            TemplateState::Inactive,
            None,
        )
        .await
        .expect("deactivate");
    };
    let (response, ()) = tokio::join!(worker, deactivate);
    assert!(response.batch_item_failures.is_empty());
    for r in receipts {
        delete(&c.queue_url, &r).await;
    }
    let done = job(&c, started.id.as_str()).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert!(
        done.failure_reason
            .as_deref()
            .unwrap_or_default()
            .contains("deactivated"),
        "{:?}",
        done.failure_reason
    );
    assert!(
        done.created > 0 && done.created < 600,
        "stopped part-way: {} created",
        done.created
    );
    assert_eq!(
        agreements_by_account(&c).await.len() as u64,
        done.created,
        "the counts are those of the agreements written"
    );
}

#[tokio::test]
async fn an_inactive_template_queues_no_job() {
    let c = customers(1).await;
    set_template_state(
        &c.ctx.store,
        &staff(),
        c.template.id.as_str(),
        TemplateState::Inactive,
        None,
    )
    .await
    .expect("deactivate");
    let queue = c.ctx.bulk_queue().expect("queue");
    let refused =
        start_create_agreements(&c.ctx.store, queue, &staff(), c.template.id.as_str(), false).await;
    assert!(matches!(
        refused,
        Err(shared::ServiceError::Conflict { .. })
    ));
    let (event, _) = receive(&c.queue_url).await;
    assert!(event.records.is_empty(), "nothing was queued");
}

#[tokio::test]
async fn the_poison_fixture_is_reported_message_by_message() {
    let c = customers(0).await;
    let text = std::fs::read_to_string(workspace_root().join("events/bulk-worker-poison.json"))
        .expect("fixture");
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&text).expect("an SQS event");
    let ids: Vec<String> = event
        .records
        .iter()
        .map(|r| r.message_id.clone().unwrap_or_default())
        .collect();
    let response = handle_batch(&c.ctx, &Unconfigured, JobSettings::default(), event).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed, ids,
        "every poison message is reported, none is swallowed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn giving_up_on_a_stale_duplicate_leaves_the_job_to_the_message_that_carries_it() {
    use shared::queue::JobMessage;
    use shared::services::jobs::give_up;

    let c = customers(40).await;
    let started = start(&c).await;
    let settings = JobSettings {
        chunk_size: 20,
        concurrency: 4,
        ..JobSettings::default()
    };
    // One delivery of the first message: the first chunk is counted and the second is due.
    let (event, receipts) = receive(&c.queue_url).await;
    let r = handle_batch(&c.ctx, &Unconfigured, settings, event).await;
    assert!(r.batch_item_failures.is_empty());
    for receipt in receipts {
        delete(&c.queue_url, &receipt).await;
    }
    let template = started.template_id.clone().expect("template");
    let stale = JobMessage::create_agreements(started.id.as_str(), template.as_str(), None);
    give_up(&c.ctx.store, &stale, "a stale duplicate gave up")
        .await
        .expect("give up");
    let running = job(&c, started.id.as_str()).await;
    assert_eq!(running.status, JobStatus::Running, "{running:?}");
    assert_eq!(running.created, 20);

    // The message that carries the job (the continuation now in the queue) does fail it.
    let (event, _) = receive(&c.queue_url).await;
    let body = event.records[0].body.clone().unwrap_or_default();
    let carrier = shared::queue::parse(&body).expect("a job message");
    give_up(&c.ctx.store, &carrier, "the carrier gave up")
        .await
        .expect("give up");
    let failed = job(&c, started.id.as_str()).await;
    assert_eq!(
        (
            failed.status,
            failed.created,
            failed.failure_reason.as_deref()
        ),
        (JobStatus::Failed, 20, Some("the carrier gave up"))
    );
}
