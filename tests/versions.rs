//! Template versions and re-acceptance, and template expiry, through the local stack: a new
//! document version asks every accepted agreement to accept again (each flagged once, the
//! earlier acceptance standing), the customer re-accepts on the portal (both acceptances in the
//! history), and an expired template makes no agreements and ends its pending ones.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::api::{customer_token, id, Api};
use integration_tests::{dynamodb, put_items, sqs};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::model::{
    Account, Agreement, AgreementSource, AgreementTemplate, Day, Id, Instant, NewAccount,
};
use shared::store::to_item;
use shared::AppContext;

/// The tests of this file run one at a time: the 1,000-agreement one keeps the local endpoint
/// busy, and the others' answers need not wait behind it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Accepted agreements written straight to the table: `n` accounts, each with an agreement of
/// `template` accepted on its first version.
async fn seed_accepted(api: &Api, template: &Value, n: usize) -> Vec<String> {
    let template: AgreementTemplate = serde_json::from_value(template.clone()).expect("template");
    let now = Instant::now();
    let mut items = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let account = Account::create(
            NewAccount {
                name: format!("Accepted {i:05}"),
                email_domain: None,
                country: None,
                language: None,
            },
            now,
        )
        .expect("account");
        let agreement = Agreement::pending(
            Id::generate(),
            &template,
            account.id.clone(),
            None,
            None,
            AgreementSource::Bulk,
            now,
        )
        .expect("pending")
        .accepted(Id::generate(), Day::today(), now)
        .expect("accepted");
        let mut item = to_item(&agreement).expect("agreement item");
        item.insert("history".into(), AttributeValue::L(vec![]));
        items.push(to_item(&account).expect("account item"));
        items.push(item);
        ids.push(agreement.id.to_string());
    }
    put_items(api.stack.table_name(), items).await;
    ids
}

/// Every agreement item's history actions, by agreement id (read straight from the table).
async fn histories(api: &Api) -> HashMap<String, Vec<String>> {
    let client = dynamodb().await;
    let mut start = None;
    let mut found = HashMap::new();
    loop {
        let out = client
            .scan()
            .table_name(api.stack.table_name())
            .filter_expression("#t = :agreement")
            .expression_attribute_names("#t", "type")
            .expression_attribute_values(":agreement", AttributeValue::S("agreement".into()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan");
        for item in out.items.unwrap_or_default() {
            let id = item["id"].as_s().expect("id").clone();
            let actions = item
                .get("history")
                .and_then(|h| h.as_l().ok())
                .map(|events| {
                    events
                        .iter()
                        .filter_map(|e| e.as_m().ok()?.get("action")?.as_s().ok().cloned())
                        .collect()
                })
                .unwrap_or_default();
            found.insert(id, actions);
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return found;
        }
    }
}

fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_requires_reacceptance_flags_every_accepted_agreement_once() {
    const N: usize = 1000;
    let _serial = SERIAL.lock().await;
    let api = Api::start().await;
    let b = api.basics().await;
    let template = id(&b.template);

    // One customer on the portal: accepts the first version, then the second.
    let account = id(&b.account);
    let contact = id(&b.contact);
    let mine = id(&api
        .create(
            "/agreements",
            json!({"template_id": template, "account_id": account}),
        )
        .await);
    let token = customer_token(&account, &contact);
    let confirm = format!("/portal/agreements/{mine}/confirm");
    let first = api
        .call(reqwest::Method::POST, &confirm, Some(&token), None)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["accepted_document_version"], "2024-01");
    let seeded = seed_accepted(&api, &b.template, N).await;
    // A pending agreement is not asked to accept again (it has accepted nothing yet).
    let (other_account, pending) = {
        let a = api
            .create("/accounts", json!({"name": "Pending Ltd"}))
            .await;
        let p = api
            .create(
                "/agreements",
                json!({"template_id": template, "account_id": id(&a)}),
            )
            .await;
        (id(&a), id(&p))
    };

    let versions = format!("/agreement-templates/{template}/versions");
    let body = json!({
        "document_version": "2025-06",
        "agreement_link": "https://example.com/mca-2025-06",
        "effective_date": "2025-06-01",
        "change_summary": "New data processing terms",
        "requires_reacceptance": true
    });
    let published = api.post(&versions, body.clone()).await;
    assert_eq!(
        published.status,
        StatusCode::CREATED,
        "{:?}",
        published.body
    );
    assert_eq!(published.body["template"]["document_version"], "2025-06");
    assert_eq!(
        published.body["template"]["change_summary"],
        "New data processing terms"
    );
    let job_id = published.body["job_id"]
        .as_str()
        .expect("a job")
        .to_string();

    // The same version again is a conflict; an unknown field is refused; neither changes a thing.
    api.post(&versions, body.clone())
        .await
        .assert_problem(409, "conflict");
    let mut odd = body.clone();
    odd["document_version"] = json!("2026-01");
    odd["colour"] = json!("red");
    api.post(&versions, odd)
        .await
        .assert_problem(400, "validation_failed");

    let job = api.wait_for_job(&job_id).await;
    assert_eq!(job["status"], "completed", "{job:?}");
    assert_eq!(job["kind"], "request_reacceptance");
    assert_eq!(job["document_version"], "2025-06");
    assert_eq!(job["created"], N as u64 + 1, "{job:?}");
    assert_eq!(job["failed"], 0, "{job:?}");
    assert_eq!(
        job["total"],
        job["created"].as_u64().unwrap() + job["skipped"].as_u64().unwrap()
    );

    // Every accepted agreement flagged exactly once; the pending one not at all.
    let flagged = api
        .all(&format!(
            "/agreements?template_id={template}&awaiting_reacceptance=true"
        ))
        .await;
    assert_eq!(flagged.len(), N + 1);
    assert!(flagged
        .iter()
        .all(|a| a["awaiting_document_version"] == "2025-06" && a["status"] == "accepted"));
    let history = histories(&api).await;
    for id in seeded.iter().chain([&mine]) {
        assert_eq!(
            count(&history[id], "reacceptance_requested"),
            1,
            "{id}: {:?}",
            history[id]
        );
    }
    assert_eq!(count(&history[&pending], "reacceptance_requested"), 0);

    // A redelivered first chunk changes nothing and counts nothing.
    let ctx = AppContext::with_client(
        dynamodb().await,
        api.stack.table_name().to_string(),
        b"versions-test-cursor-key-0123456789abcdef",
    )
    .expect("context");
    let queue = shared::queue::BulkQueue::new(
        integration_tests::sqs().await,
        api.stack.queue_url("BulkQueue").expect("bulk queue"),
    );
    let again = shared::services::jobs::handle(
        &ctx.store,
        &queue,
        None,
        &shared::connectors::Unconfigured,
        shared::services::jobs::JobSettings::default(),
        &shared::queue::JobMessage::chunk_of(
            &ctx.store
                .by_id(&Id::parse(&job_id).expect("id"))
                .await
                .expect("read")
                .expect("job"),
            None,
        ),
    )
    .await
    .expect("handled");
    assert!(
        matches!(
            again,
            shared::services::jobs::Handled::Chunk(
                shared::services::jobs::ChunkReport::JobFinished
                    | shared::services::jobs::ChunkReport::AlreadyCounted
            )
        ),
        "{again:?}"
    );
    let after = api.get(&format!("/bulk-jobs/{job_id}")).await;
    assert_eq!(after.body["created"], job["created"]);
    assert_eq!(histories(&api).await, history);

    // The customer sees what changed, and accepts again: both acceptances are kept.
    let seen = api
        .call(
            reqwest::Method::GET,
            &format!("/portal/agreements/{mine}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{:?}", seen.body);
    assert_eq!(seen.body["status"], "accepted");
    assert_eq!(seen.body["awaiting_document_version"], "2025-06");
    assert_eq!(seen.body["change_summary"], "New data processing terms");
    assert_eq!(
        seen.body["agreement_link"],
        "https://example.com/mca-2025-06"
    );
    let second = api
        .call(reqwest::Method::POST, &confirm, Some(&token), None)
        .await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    assert_eq!(second.body["accepted_document_version"], "2025-06");
    assert_eq!(second.body["awaiting_document_version"], Value::Null);
    let events = api.all(&format!("/agreements/{mine}/history")).await;
    let accepted: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "accepted")
        .collect();
    assert_eq!(accepted.len(), 2, "{events:?}");
    assert_eq!(
        accepted[0]["details"]["what"]["template_version"],
        "2024-01"
    );
    assert_eq!(
        accepted[1]["details"]["what"]["template_version"],
        "2025-06"
    );
    // Accepted once more is a conflict: nothing awaits.
    api.call(reqwest::Method::POST, &confirm, Some(&token), None)
        .await
        .assert_problem(409, "conflict");
    let still = api
        .all(&format!(
            "/agreements?template_id={template}&awaiting_reacceptance=true"
        ))
        .await;
    assert_eq!(still.len(), N);

    // New agreements start on the current version; the versions are listed oldest first.
    let newer = api.create("/accounts", json!({"name": "Newer Ltd"})).await;
    let fresh = api
        .create(
            "/agreements",
            json!({"template_id": template, "account_id": id(&newer)}),
        )
        .await;
    assert_eq!(fresh["document_version"], "2025-06");
    let listed = api.all(&versions).await;
    let names: Vec<&Value> = listed.iter().map(|v| &v["document_version"]).collect();
    assert_eq!(names, vec!["2024-01", "2025-06"]);
    assert_eq!(listed[1]["job_id"], job_id.as_str());
    assert_eq!(listed[1]["requires_reacceptance"], true);
    let _ = other_account;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reacceptance_with_no_accepted_agreements_completes_with_zero() {
    let _serial = SERIAL.lock().await;
    let api = Api::start().await;
    let b = api.basics().await;
    let template = id(&b.template);
    let published = api
        .post(
            &format!("/agreement-templates/{template}/versions"),
            json!({"document_version": "2025-01", "agreement_link": "https://example.com/v2",
                   "effective_date": "2025-01-01", "requires_reacceptance": true}),
        )
        .await;
    assert_eq!(
        published.status,
        StatusCode::CREATED,
        "{:?}",
        published.body
    );
    let job = api
        .wait_for_job(published.body["job_id"].as_str().expect("job"))
        .await;
    assert_eq!(job["status"], "completed");
    assert_eq!(
        (job["created"].as_u64(), job["total"].as_u64()),
        (Some(0), Some(0))
    );
    // Without re-acceptance there is no job.
    let quiet = api
        .post(
            &format!("/agreement-templates/{template}/versions"),
            json!({"document_version": "2025-02", "agreement_link": "https://example.com/v3",
                   "effective_date": "2025-02-01", "requires_reacceptance": false}),
        )
        .await;
    assert_eq!(quiet.status, StatusCode::CREATED, "{:?}", quiet.body);
    assert_eq!(quiet.body["job_id"], Value::Null);
    // A document version set by PATCH is recorded too, without what changed in the last one;
    // a PATCH that keeps the version records none.
    let staff = integration_tests::api::staff_token();
    let patched = api
        .call(
            reqwest::Method::PATCH,
            &format!("/agreement-templates/{template}"),
            Some(&staff),
            Some(
                json!({"document_version": "2025-03", "agreement_link": "https://example.com/v4"}),
            ),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["change_summary"], Value::Null);
    let renamed = api
        .call(
            reqwest::Method::PATCH,
            &format!("/agreement-templates/{template}"),
            Some(&staff),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    let versions = api
        .all(&format!("/agreement-templates/{template}/versions"))
        .await;
    let listed: Vec<(&str, &str, bool)> = versions
        .iter()
        .map(|v| {
            (
                v["document_version"].as_str().unwrap_or_default(),
                v["agreement_link"].as_str().unwrap_or_default(),
                v["requires_reacceptance"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    assert_eq!(listed.len(), 4, "{versions:?}");
    assert_eq!(
        &listed[1..],
        &[
            ("2025-01", "https://example.com/v2", true),
            ("2025-02", "https://example.com/v3", false),
            ("2025-03", "https://example.com/v4", false),
        ]
    );
    api.post(
        &format!("/agreement-templates/{}/versions", ulid::Ulid::new()),
        json!({"document_version": "x", "agreement_link": "https://example.com/x",
               "effective_date": "2025-02-01"}),
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_template_makes_no_agreements_and_ends_its_pending_ones() {
    let _serial = SERIAL.lock().await;
    let api = Api::start().await;
    let b = api.basics().await;
    let provider = id(&b.provider);
    let template_body = |name: &str, expires_on: Day| {
        json!({"name": name, "template_id": name, "provider_id": provider,
               "document_version": "1", "effective_date": "2020-01-01",
               "expires_on": expires_on.to_string(), "agreement_link": "https://example.com/t"})
    };
    // Brought over already past its expiry: expired at once, and closed to new agreements.
    let old = api
        .create(
            "/agreement-templates",
            template_body("Old terms", Day::today().plus_days(-1)),
        )
        .await;
    assert_eq!(old["expired"], true, "{old:?}");
    let account = id(&b.account);
    let before = api.item_count().await;
    api.post(
        "/agreements",
        json!({"template_id": id(&old), "account_id": account}),
    )
    .await
    .assert_problem(409, "conflict");
    api.post(
        &format!("/agreement-templates/{}/create-agreements", id(&old)),
        json!({}),
    )
    .await
    .assert_problem(409, "conflict");
    api.post(
        &format!("/agreement-templates/{}/activate", id(&old)),
        json!({}),
    )
    .await
    .assert_problem(409, "conflict");
    assert_eq!(api.item_count().await, before, "refusals wrote nothing");

    // Good through five days from now: three pending agreements and one accepted.
    let soon = api
        .create(
            "/agreement-templates",
            template_body("Expiring terms", Day::today().plus_days(5)),
        )
        .await;
    assert_eq!(soon["expired"], false);
    let soon_id = id(&soon);
    let mut pending = Vec::new();
    for n in 0..3 {
        let a = api
            .create("/accounts", json!({"name": format!("Customer {n}")}))
            .await;
        let agreement = api
            .create(
                "/agreements",
                json!({"template_id": soon_id, "account_id": id(&a)}),
            )
            .await;
        pending.push(id(&agreement));
    }
    let signed = api
        .create(
            "/agreements",
            json!({"template_id": soon_id, "account_id": account}),
        )
        .await;
    let confirmed = api
        .call(
            reqwest::Method::POST,
            &format!("/portal/agreements/{}/confirm", id(&signed)),
            Some(&customer_token(&account, &id(&b.contact))),
            None,
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);

    // The daily run on the sixth day, twice (a retried schedule): the template ends once.
    let mut ctx = AppContext::with_client(
        dynamodb().await,
        api.stack.table_name().to_string(),
        b"expiry-test-cursor-key-0123456789abcdef",
    )
    .expect("context");
    ctx.bulk_queue = Some(shared::queue::BulkQueue::new(
        integration_tests::sqs().await,
        api.stack.queue_url("BulkQueue").expect("bulk queue"),
    ));
    let day6 = json!({"time": format!("{}T00:15:00Z", Day::today().plus_days(6))});
    let run = shared::entrypoints::schedule::handle_expiry(&ctx, &day6)
        .await
        .expect("run");
    // Both templates are past their expiry on that day: each ends, once.
    let expired = run["expired"].as_array().expect("expired");
    let mut ended: Vec<&str> = expired
        .iter()
        .filter_map(|e| e["template_id"].as_str())
        .collect();
    ended.sort_unstable();
    let mut both = vec![soon_id.as_str(), old["id"].as_str().unwrap_or_default()];
    both.sort_unstable();
    assert_eq!(ended, both, "{run:?}");
    let again = shared::entrypoints::schedule::handle_expiry(&ctx, &day6)
        .await
        .expect("run");
    assert_eq!(again["expired"], json!([]), "{again:?}");
    let soon_job = expired
        .iter()
        .find(|e| e["template_id"] == soon_id.as_str())
        .and_then(|e| e["job_id"].as_str())
        .expect("the job of the expiring template");
    let job = api.wait_for_job(soon_job).await;
    assert_eq!(job["status"], "completed", "{job:?}");
    assert_eq!(job["kind"], "expire_agreements");
    assert_eq!(job["created"], 3, "{job:?}");
    let template = api.get(&format!("/agreement-templates/{soon_id}")).await;
    assert_eq!(template.body["state"], "inactive");
    for agreement in &pending {
        let a = api.get(&format!("/agreements/{agreement}")).await;
        assert_eq!(a.body["status"], "inactive");
        assert_eq!(a.body["inactive_reason"], "template_expired");
        let events = api.all(&format!("/agreements/{agreement}/history")).await;
        assert_eq!(
            events.iter().filter(|e| e["action"] == "expired").count(),
            1,
            "{events:?}"
        );
    }
    let kept = api.get(&format!("/agreements/{}", id(&signed))).await;
    assert_eq!(kept.body["status"], "accepted");
    // Each ended agreement is published once as expired.
    let ids: Vec<&str> = pending.iter().map(String::as_str).collect();
    let events = integration_tests::events::settled_events(&api, &ids, 6).await;
    for agreement in &pending {
        assert_eq!(
            integration_tests::events::kinds(&events[agreement]),
            vec!["Agreement Created", "Agreement Expired"],
            "{agreement}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signer_is_emailed_the_new_version_and_can_be_reminded_until_it_accepts() {
    let _serial = SERIAL.lock().await;
    let api = Api::start().await;
    let b = api.basics().await;
    let template = id(&b.template);
    let (account, contact) = (id(&b.account), id(&b.contact));
    let agreement = id(&api
        .create(
            "/agreements",
            json!({"template_id": template, "account_id": account}),
        )
        .await);
    let token = customer_token(&account, &contact);
    let confirm = format!("/portal/agreements/{agreement}/confirm");
    let first = api
        .call(reqwest::Method::POST, &confirm, Some(&token), None)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    // Accepted: nothing to remind of yet.
    let remind = format!("/agreements/{agreement}/remind");
    api.post(&remind, json!({}))
        .await
        .assert_problem(409, "conflict");
    let versions = format!("/agreement-templates/{template}/versions");
    // `notify` goes with re-acceptance only.
    api.post(
        &versions,
        json!({"document_version": "2025-06", "agreement_link": "https://example.com/v2",
               "effective_date": "2025-06-01", "notify": true}),
    )
    .await
    .assert_problem(400, "validation_failed");
    let published = api
        .post(
            &versions,
            json!({"document_version": "2025-06", "agreement_link": "https://example.com/v2",
                   "effective_date": "2025-06-01", "change_summary": "Shorter <notice> period",
                   "requires_reacceptance": true, "notify": true}),
        )
        .await;
    assert_eq!(
        published.status,
        StatusCode::CREATED,
        "{:?}",
        published.body
    );
    let job_id = published.body["job_id"].as_str().expect("job").to_string();
    let job = api.wait_for_job(&job_id).await;
    assert_eq!(job["created"], 1, "{job:?}");
    let mut sent = Value::Null;
    for _ in 0..150 {
        sent = api.get(&format!("/bulk-jobs/{job_id}")).await.body["emails"].clone();
        if sent["sent"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(sent, json!({"sent": 1, "failed": 0}));
    let to_signer = |outbox: &[local_stack::ses::OutboxEntry]| {
        outbox
            .iter()
            .filter(|e| {
                e.to.iter().any(|t| t.contains("ada@contoso.example"))
                    && !e.subject.starts_with("Receipt")
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    let mails = to_signer(&api.stack.outbox());
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0]
            .text
            .contains("new version 2025-06; what changed: Shorter <notice> period"),
        "{}",
        mails[0].text
    );
    assert!(mails[0].html.contains("Shorter &lt;notice&gt; period"));
    assert!(mails[0].text.contains("/portal#token=pl1_"));
    // Staff remind while it awaits; once accepted again, there is nothing to remind of.
    let reminded = api.post(&remind, json!({})).await;
    assert_eq!(reminded.status, StatusCode::OK, "{:?}", reminded.body);
    assert_eq!(to_signer(&api.stack.outbox()).len(), 2);
    // The daily run reminds of the new version on the cadence's days after its publication,
    // once however often it comes, and says which version it is about.
    let mut ctx = AppContext::with_client(
        dynamodb().await,
        api.stack.table_name().to_string(),
        b"reaccept-reminder-cursor-key-0123456789ab",
    )
    .expect("context");
    ctx.email_queue = Some(shared::queue::EmailQueue::new(
        sqs().await,
        api.stack.queue_url("EmailQueue").expect("e-mail queue"),
    ));
    let on = |days: i64| json!({"time": format!("{}T08:00:00Z", Day::today().plus_days(days))});
    let step3 = "reaccept-reminder:3:2025-06";
    let day2 = shared::entrypoints::schedule::handle_reminders(&ctx, &on(2))
        .await
        .expect("run");
    assert_eq!(day2["queued"].get(step3), None, "{day2:?}");
    let day3 = shared::entrypoints::schedule::handle_reminders(&ctx, &on(3))
        .await
        .expect("run");
    assert_eq!(day3["queued"][step3], 1, "{day3:?}");
    let mut mails = to_signer(&api.stack.outbox());
    for _ in 0..300 {
        if mails.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        mails = to_signer(&api.stack.outbox());
    }
    assert_eq!(mails.len(), 3, "{mails:?}");
    assert!(
        mails[2].text.contains("new version 2025-06"),
        "{}",
        mails[2].text
    );
    let again = shared::entrypoints::schedule::handle_reminders(&ctx, &on(3))
        .await
        .expect("run");
    assert_eq!(again["queued"][step3], 0, "{again:?}");
    let actions = |history: Vec<Value>| {
        history
            .iter()
            .map(|e| e["action"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let history = actions(api.all(&format!("/agreements/{agreement}/history")).await);
    assert_eq!(count(&history, "reminder_sent"), 2, "{history:?}");
    let second = api
        .call(reqwest::Method::POST, &confirm, Some(&token), None)
        .await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    api.post(&remind, json!({}))
        .await
        .assert_problem(409, "conflict");
    // Accepted again: the day-7 reminder finds no one.
    let day7 = shared::entrypoints::schedule::handle_reminders(&ctx, &on(7))
        .await
        .expect("run");
    assert_eq!(day7["queued"]["reaccept-reminder:7:2025-06"], 0, "{day7:?}");
    // Integrations heard each change once: created, accepted, asked again, accepted again.
    let events = integration_tests::events::settled_events(&api, &[&agreement], 4).await;
    assert_eq!(
        integration_tests::events::kinds(&events[&agreement]),
        vec![
            "Agreement Created",
            "Agreement Accepted",
            "Agreement Reacceptance Requested",
            "Agreement Accepted"
        ]
    );
}
