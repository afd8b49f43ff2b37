//! The customer journey's e-mails through the local stack: portal links staff make and send,
//! bulk onboarding with `notify`, the daily reminders, `remind`, decline, and the refusals —
//! every e-mail read back from what the stack captured of the SES calls.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use integration_tests::api::{customer_token, id, Api};
use integration_tests::{dynamodb, sqs, unique};
use local_stack::ses::OutboxEntry;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::model::{Day, NoticeStep};
use shared::queue::{EmailQueue, NoticeMessage};
use shared::AppContext;

/// Waits until `done` holds for the outbox, or fails with what it holds.
async fn outbox_until(
    api: &Api,
    what: &str,
    done: impl Fn(&[OutboxEntry]) -> bool,
) -> Vec<OutboxEntry> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let outbox = api.stack.outbox();
        if done(&outbox) {
            return outbox;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the outbox holds {} e-mails: {:?}",
            outbox.len(),
            outbox
                .iter()
                .map(|e| (&e.to, &e.subject))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn to(entry: &OutboxEntry) -> &str {
    entry.to.first().map(String::as_str).unwrap_or_default()
}

/// An account with one contact of a unique address: (account id, contact id, e-mail).
async fn customer(api: &Api, name: &str) -> (String, String, String) {
    let account = id(&api
        .create(
            "/accounts",
            json!({"name": name, "email_domain": format!("{}.example", unique("d"))}),
        )
        .await);
    let email = format!("{}@customer.example", unique("signer"));
    let contact = id(&api
        .create(
            &format!("/accounts/{account}/contacts"),
            json!({"first_name": "Pat", "last_name": name, "email": email}),
        )
        .await);
    (account, contact, email)
}

async fn history_actions(api: &Api, agreement: &str) -> Vec<String> {
    api.all(&format!("/agreements/{agreement}/history"))
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn email_queue(api: &Api, sqs: aws_sdk_sqs::Client) -> EmailQueue {
    EmailQueue::new(
        sqs,
        api.stack
            .queue_url("EmailQueue")
            .expect("the stack has the e-mail queue"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_onboarding_emails_every_signing_contact_one_link_even_when_asked_twice() {
    let api = Api::start_with(&[("EmailSendRate", "100".into())]).await;
    let b = api.basics().await;
    let provider = id(&b.provider);
    let template = id(&b.template);
    const N: usize = 24;
    let mut emails = HashMap::new();
    for i in 0..N {
        let (account, _, email) = customer(&api, &format!("Customer {i}")).await;
        api.create(
            "/provider-accounts",
            json!({"provider_id": provider, "provider_specific_id": ulid::Ulid::new().to_string(),
                   "name": format!("Customer {i}"), "account_id": account}),
        )
        .await;
        emails.insert(email, account);
    }
    let queued = api
        .post(
            &format!("/agreement-templates/{template}/create-agreements"),
            json!({"notify": true}),
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:?}", queued.body);
    let job_id = queued.body["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let job = api.wait_for_job(&job_id).await;
    assert_eq!(job["created"], N as u64, "{job:?}");

    // A redelivery of some of the job's requests: the sender must not send those links again.
    let agreements = api
        .all(&format!("/agreements?template_id={template}"))
        .await;
    assert_eq!(agreements.len(), N);
    let again: Vec<NoticeMessage> = agreements
        .iter()
        .take(6)
        .map(|a| NoticeMessage::new(&id(a), &NoticeStep::Link, Some(&job_id)))
        .collect();
    email_queue(&api, sqs().await)
        .send_all(&again)
        .await
        .expect("queued");

    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let j = api.get(&format!("/bulk-jobs/{job_id}")).await.body;
        if j["emails"]["sent"].as_u64().unwrap_or(0) + j["emails"]["failed"].as_u64().unwrap_or(0)
            >= N as u64
        {
            break j;
        }
        assert!(Instant::now() < deadline, "e-mails not all sent: {j:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(job["emails"], json!({"sent": N, "failed": 0}), "{job:?}");
    // Let the duplicate requests drain, then count what went out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let outbox = api.stack.outbox();
    let mut per_recipient: HashMap<&str, usize> = HashMap::new();
    for e in &outbox {
        *per_recipient.entry(to(e)).or_default() += 1;
        assert_eq!(
            e.subject.split(" for ").next(),
            Some("Agreements to review")
        );
        assert!(e.text.contains("/portal#token=pl1_"), "{}", e.text);
        assert!(e.html.contains("/portal#token=pl1_"), "{}", e.html);
    }
    assert_eq!(per_recipient.len(), N, "{per_recipient:?}");
    assert!(per_recipient.values().all(|n| *n == 1), "{per_recipient:?}");
    assert!(per_recipient.keys().all(|r| emails.contains_key(*r)));
    let actions = history_actions(&api, &id(&agreements[0])).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "link_sent").count(),
        1,
        "{actions:?}"
    );
    // A job without `notify` shows no e-mail counts.
    let plain = api
        .post(
            &format!("/agreement-templates/{template}/create-agreements"),
            json!({}),
        )
        .await;
    let plain = api
        .wait_for_job(plain.body["job_id"].as_str().unwrap_or_default())
        .await;
    assert!(plain.get("emails").is_none(), "{plain:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_due_on_a_day_are_sent_once_however_often_the_run_comes() {
    let api = Api::start().await;
    let b = api.basics().await;
    let template = id(&b.template);
    let mut people = HashMap::new();
    for who in ["pending", "declined", "accepted", "inactive"] {
        let (account, contact, email) = customer(&api, who).await;
        let agreement = id(&api
            .create(
                "/agreements",
                json!({"template_id": template, "account_id": account}),
            )
            .await);
        people.insert(who, (account, contact, email, agreement));
    }
    let (account, contact, _, agreement) = &people["declined"];
    let declined = api
        .call(
            reqwest::Method::POST,
            &format!("/portal/agreements/{agreement}/decline"),
            Some(&customer_token(account, contact)),
            Some(json!({"reason": "We use another provider"})),
        )
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{:?}", declined.body);
    assert_eq!(declined.body["status"], "pending");
    assert_eq!(declined.body["declined_on"], Day::today().to_string());
    let (account, contact, accepted_email, agreement) = &people["accepted"];
    let accepted = api
        .call(
            reqwest::Method::POST,
            &format!("/portal/agreements/{agreement}/confirm"),
            Some(&customer_token(account, contact)),
            None,
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    let (_, _, _, agreement) = &people["inactive"];
    let off = api
        .post(&format!("/agreements/{agreement}/deactivate"), json!({}))
        .await;
    assert_eq!(off.status, StatusCode::OK);

    // The receipt of the acceptance: what, when, by whom.
    let outbox = outbox_until(&api, "the receipt", |o| {
        o.iter().any(|e| to(e) == accepted_email)
    })
    .await;
    let receipt = outbox
        .iter()
        .find(|e| to(e) == accepted_email)
        .expect("found");
    assert!(
        receipt.subject.starts_with("Receipt: "),
        "{}",
        receipt.subject
    );
    for part in [
        "Microsoft Customer Agreement",
        "2024-01",
        "Pat accepted",
        accepted_email,
    ] {
        assert!(receipt.text.contains(part), "{part}: {}", receipt.text);
    }

    // Declined agreements are filtered for staff.
    let declined_list = api
        .all(&format!("/agreements?template_id={template}&declined=true"))
        .await;
    assert_eq!(
        declined_list.iter().map(id).collect::<Vec<_>>(),
        vec![people["declined"].3.clone()]
    );
    assert_eq!(
        api.get("/agreements?declined=maybe").await.status,
        StatusCode::BAD_REQUEST
    );

    // The daily run, for the day three days on, twice (a retried schedule): one reminder.
    let client = dynamodb().await;
    let mut ctx = AppContext::with_client(
        client,
        api.stack.table_name().to_string(),
        b"reminder-run-cursor-key-0123456789abcdef",
    )
    .expect("context");
    ctx.email_queue = Some(email_queue(&api, sqs().await));
    let day3 = json!({"time": format!("{}T08:00:00Z", Day::today().plus_days(3))});
    let first = shared::entrypoints::schedule::handle_reminders(&ctx, &day3)
        .await
        .expect("run");
    let second = shared::entrypoints::schedule::handle_reminders(&ctx, &day3)
        .await
        .expect("run");
    assert_eq!(first["queued"]["reminder:3"], 1, "{first:?}");
    assert!(
        second["queued"]["reminder:3"].as_u64() <= Some(1),
        "{second:?}"
    );
    let pending_email = people["pending"].2.clone();
    outbox_until(&api, "the day-3 reminder", |o| {
        o.iter().any(|e| to(e) == pending_email)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let third = shared::entrypoints::schedule::handle_reminders(&ctx, &day3)
        .await
        .expect("run");
    assert_eq!(
        third["queued"]["reminder:3"], 0,
        "sent ones are not asked again: {third:?}"
    );
    let outbox = api.stack.outbox();
    let reminders: Vec<&OutboxEntry> = outbox
        .iter()
        .filter(|e| e.subject.starts_with("Reminder:"))
        .collect();
    assert_eq!(
        reminders.iter().map(|e| to(e)).collect::<Vec<_>>(),
        vec![pending_email.as_str()],
        "only the pending, undeclined agreement's contact, once"
    );
    assert!(reminders[0].text.contains("/portal#token=pl1_"));
    let actions = history_actions(&api, &people["pending"].3).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "reminder_sent").count(),
        1,
        "{actions:?}"
    );
    // The day-7 step is a step of its own.
    let day7 = json!({"time": format!("{}T08:00:00Z", Day::today().plus_days(7))});
    let run7 = shared::entrypoints::schedule::handle_reminders(&ctx, &day7)
        .await
        .expect("run");
    assert_eq!(run7["queued"]["reminder:7"], 1, "{run7:?}");
    assert_eq!(run7["queued"]["reminder:3"], 0, "{run7:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_reminders_and_declines_refuse_bad_input_and_change_nothing() {
    let api = Api::start().await;
    let b = api.basics().await;
    let template = id(&b.template);
    let (account_a, contact_a, email_a) = customer(&api, "Alpha").await;
    let (account_b, contact_b, _) = customer(&api, "Beta").await;
    let agreement_a = id(&api
        .create(
            "/agreements",
            json!({"template_id": template, "account_id": account_a}),
        )
        .await);
    let agreement_b = id(&api
        .create(
            "/agreements",
            json!({"template_id": template, "account_id": account_b}),
        )
        .await);
    let before = api.item_count().await;
    let links = format!("/accounts/{account_a}/portal-links");
    for (body, status, code) in [
        (json!({"contact_id": contact_b}), 404, "not_found"),
        (
            json!({"contact_id": ulid::Ulid::new().to_string()}),
            404,
            "not_found",
        ),
        (
            json!({"contact_id": contact_a, "expires_in_days": 0}),
            400,
            "validation_failed",
        ),
        (
            json!({"contact_id": contact_a, "expires_in_days": 91}),
            400,
            "validation_failed",
        ),
        (
            json!({"contact_id": contact_a, "colour": "red"}),
            400,
            "validation_failed",
        ),
        (json!({}), 400, "validation_failed"),
    ] {
        api.post(&links, body.clone())
            .await
            .assert_problem(status, code);
    }
    api.post(
        &format!("/accounts/{}/portal-links", ulid::Ulid::new()),
        json!({"contact_id": contact_a}),
    )
    .await
    .assert_problem(404, "not_found");
    api.post(
        &format!("/portal-links/{}/revoke", ulid::Ulid::new()),
        json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(api.item_count().await, before, "refusals wrote nothing");

    // A link made and sent: its token is for A's agreements only.
    let made = api
        .post(
            &links,
            json!({"contact_id": contact_a, "send": true, "expires_in_days": 30}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    assert_eq!(made.body["status"], "active");
    assert!(made.body["sent_at"].is_string(), "{:?}", made.body);
    let url = made.body["url"].as_str().unwrap_or_default().to_string();
    let token = url.split("#token=").nth(1).unwrap_or_default().to_string();
    let outbox = outbox_until(&api, "the link e-mail", |o| {
        o.iter().any(|e| to(e) == email_a)
    })
    .await;
    let mail = outbox.iter().find(|e| to(e) == email_a).expect("found");
    assert!(mail.text.contains(&url), "{}", mail.text);
    let as_a = |method: reqwest::Method, path: String| {
        let token = token.clone();
        let api = &api;
        async move { api.call(method, &path, Some(&token), None).await }
    };
    let own = as_a(reqwest::Method::GET, "/portal/agreements".into()).await;
    assert_eq!(
        own.body["items"]
            .as_array()
            .map(|i| i.iter().map(id).collect::<Vec<_>>()),
        Some(vec![agreement_a.clone()])
    );
    as_a(
        reqwest::Method::GET,
        format!("/portal/agreements/{agreement_b}"),
    )
    .await
    .assert_problem(404, "not_found");
    as_a(
        reqwest::Method::POST,
        format!("/portal/agreements/{agreement_b}/decline"),
    )
    .await
    .assert_problem(404, "not_found");
    let declined = as_a(
        reqwest::Method::POST,
        format!("/portal/agreements/{agreement_a}/decline"),
    )
    .await;
    assert_eq!(declined.status, StatusCode::OK, "{:?}", declined.body);
    as_a(
        reqwest::Method::POST,
        format!("/portal/agreements/{agreement_a}/decline"),
    )
    .await
    .assert_problem(409, "conflict");
    let history = api.all(&format!("/agreements/{agreement_a}/history")).await;
    let event = history
        .iter()
        .find(|e| e["action"] == "declined")
        .expect("declined event");
    assert_eq!(event["actor"]["contact_id"], json!(contact_a), "{event:?}");

    // Staff may still remind a declined (pending) agreement; not an inactive one.
    let reminded = api
        .post(&format!("/agreements/{agreement_a}/remind"), json!({}))
        .await;
    assert_eq!(reminded.status, StatusCode::OK, "{:?}", reminded.body);
    assert_eq!(reminded.body["sent_to"], json!(email_a));
    assert!(reminded.body["sent_at"].is_string());
    let off = api
        .post(&format!("/agreements/{agreement_b}/deactivate"), json!({}))
        .await;
    assert_eq!(off.status, StatusCode::OK);
    api.post(&format!("/agreements/{agreement_b}/remind"), json!({}))
        .await
        .assert_problem(409, "conflict");
    let reminder_history: Vec<Value> = api.all(&format!("/agreements/{agreement_a}/history")).await;
    assert!(reminder_history
        .iter()
        .any(|e| e["action"] == "reminder_sent"));

    // Revoked: refused from then on (this stack's authorizer cache is the template's 60 s, so
    // the link is checked on a token the cache has not seen: a second link).
    let second = api.post(&links, json!({"contact_id": contact_a})).await;
    let second_token = second.body["url"]
        .as_str()
        .and_then(|u| u.split("#token=").nth(1))
        .unwrap_or_default()
        .to_string();
    let revoked = api
        .post(
            &format!("/portal-links/{}/revoke", id(&second.body)),
            json!({}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
    assert_eq!(revoked.body["status"], "revoked");
    api.post(
        &format!("/portal-links/{}/revoke", id(&second.body)),
        json!({}),
    )
    .await
    .assert_problem(409, "conflict");
    let refused = api
        .call(
            reqwest::Method::GET,
            "/portal/agreements",
            Some(&second_token),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body, json!({"message": "Forbidden"}));
    let listed = api.all(&links).await;
    // Staff's two links, and the one the reminder carried (made for its agreement).
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(
        listed
            .iter()
            .filter(|l| l["agreement_id"] == json!(agreement_a))
            .count(),
        1,
        "{listed:?}"
    );
    assert!(
        listed.iter().all(|l| l.get("url").is_none()),
        "no token in lists"
    );
    assert!(listed.iter().any(|l| l["status"] == "revoked"));
}

/// A step whose sender fails before SES is asked (here the contact's Query meets a 500) was
/// certainly not sent: it is given back, and the next attempt sends it, rather than finding it
/// held by a sender that went away and recording it as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_fails_before_ses_is_asked_is_sent_on_the_next_attempt() {
    use integration_tests::faults::{Fault, FaultProxy};
    use shared::email::{Mailer, SenderAddress};
    use shared::model::{Id, LinkKey};
    use shared::services::notices::{Delivery, Notifier, RetryLater};
    use shared::store::{CursorSigner, Store};

    let api = Api::start().await;
    let b = api.basics().await;
    let (account, _, email) = customer(&api, "Before the send").await;
    let agreement = id(&api
        .create(
            "/agreements",
            json!({"template_id": id(&b.template), "account_id": account}),
        )
        .await);
    let proxy = FaultProxy::start(11).await;
    let store = Store::new(
        shared::config::dynamodb_client(&proxy.sdk_config_without_retries().await),
        api.stack.table_name(),
        CursorSigner::new(b"notices test: cursors are never used").expect("signer"),
    );
    let ses = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .endpoint_url(api.stack.ses_endpoint())
        .load()
        .await;
    let settings = shared::config::EmailSettings {
        mailer: Mailer::new(
            &ses,
            SenderAddress::parse("Agreements <agreements@agreements.local>").expect("sender"),
        ),
        portal_url: Some(format!("{}/portal", api.base)),
        per_second: 100.0,
    };
    let key = LinkKey::new(&[7u8; 32]).expect("key");
    let notifier = Notifier {
        store: &store,
        email: &settings,
        key: &key,
        portal_url: &format!("{}/portal", api.base),
    };
    let agreement_id = Id::parse(&agreement).expect("id");

    proxy.fault_next("Query", Fault::ServerError, 1);
    let first = notifier
        .deliver(&agreement_id, &NoticeStep::Link, None)
        .await;
    assert!(matches!(first, Err(RetryLater::BeforeSend(_))), "{first:?}");
    assert!(api.stack.outbox().iter().all(|e| to(e) != email));

    let second = notifier
        .deliver(&agreement_id, &NoticeStep::Link, None)
        .await;
    assert!(
        matches!(&second, Ok(Delivery::Sent { to, .. }) if *to == email),
        "{second:?}"
    );
    let third = notifier
        .deliver(&agreement_id, &NoticeStep::Link, None)
        .await;
    assert!(matches!(third, Ok(Delivery::AlreadyTaken)), "{third:?}");
    let sent: Vec<_> = api
        .stack
        .outbox()
        .into_iter()
        .filter(|e| to(e) == email)
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let actions = history_actions(&api, &agreement).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "link_sent").count(),
        1,
        "{actions:?}"
    );
    assert!(!actions.iter().any(|a| a == "notice_failed"), "{actions:?}");
}

/// Bulk onboarding at scale: `NOTIFY_AGREEMENTS` accounts (10,000 unless set), each with its
/// primary contact and a provider account, written straight to the stack's table; one
/// `create-agreements {"notify": true}` job; then every e-mail read back from the outbox.
/// Passes when the job created N agreements, its counts say N sent and 0 failed, and the
/// outbox holds exactly one link e-mail per contact. Prints the times (docs/benchmarks.md).
///
/// `cargo test -p integration-tests --test notices -- --ignored --nocapture notify_at_scale`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a run of several minutes at 10,000 agreements (docs/benchmarks.md), not a check of `make test`"]
async fn notify_at_scale() {
    use shared::model::{Account, Contact, NewAccount, NewContact, NewProviderAccount};
    use shared::model::{Instant as At, ProviderAccount};
    use shared::store::to_item;

    let n: usize = std::env::var("NOTIFY_AGREEMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rate = std::env::var("NOTIFY_SEND_RATE").unwrap_or_else(|_| "1000".into());
    // The template's visibility timeout (360 s, six times the sender's timeout): a batch still
    // sending is not handed to a second sender.
    let api = Api::start_with_visibility(&[("EmailSendRate", rate.clone())], 360).await;
    let b = api.basics().await;
    let provider = id(&b.provider);
    let template = id(&b.template);
    let ctx = AppContext::with_client(
        dynamodb().await,
        api.stack.table_name().to_string(),
        b"notify-at-scale: cursors are never used",
    )
    .expect("context");

    let seeding = Instant::now();
    let provider_id = shared::model::Id::parse(&provider).expect("provider id");
    let mut expected = HashMap::new();
    let mut items = Vec::with_capacity(3 * n);
    for i in 0..n {
        let now = At::now();
        let account = Account::create(
            NewAccount {
                name: format!("Customer {i:05}"),
                email_domain: None,
                country: None,
                language: None,
            },
            now,
        )
        .expect("account");
        let email = format!("signer-{i:05}@customer{i:05}.example");
        let contact = Contact::create(
            account.id.clone(),
            NewContact {
                first_name: "Pat".into(),
                last_name: format!("Customer {i:05}"),
                email: email.clone(),
                phone: None,
            },
            now,
        )
        .expect("contact");
        let pa = ProviderAccount::create(
            provider_id.clone(),
            account.id.clone(),
            &NewProviderAccount {
                provider_specific_id: format!("tenant-{i:05}"),
                name: format!("Customer {i:05}"),
                ..NewProviderAccount::default()
            },
            now,
        )
        .expect("provider account");
        items.push(to_item(&account).expect("account item"));
        items.push(to_item(&contact).expect("contact item"));
        items.push(to_item(&pa).expect("provider account item"));
        expected.insert(email, account.id.to_string());
    }
    integration_tests::put_items(api.stack.table_name(), items).await;
    ctx.store
        .add_provider_accounts(&provider_id, n as u64)
        .await
        .expect("count provider accounts");
    println!(
        "seeded {n} accounts with a contact and a provider account in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let queued = api
        .post(
            &format!("/agreement-templates/{template}/create-agreements"),
            json!({"notify": true}),
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:?}", queued.body);
    let job_id = queued.body["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60 * 60);
    let mut created_after = None;
    let mut last_print = Instant::now();
    let job = loop {
        let j = api.get(&format!("/bulk-jobs/{job_id}")).await.body;
        let sent = j["emails"]["sent"].as_u64().unwrap_or(0);
        let failed = j["emails"]["failed"].as_u64().unwrap_or(0);
        if created_after.is_none() && (j["status"] == "completed" || j["status"] == "failed") {
            created_after = Some(started.elapsed());
            println!(
                "job {} after {:.1} s: {} created; e-mails so far {sent} sent, {failed} failed",
                j["status"],
                started.elapsed().as_secs_f64(),
                j["created"]
            );
            assert_eq!(j["status"], "completed", "{j:?}");
        }
        if created_after.is_some() && sent + failed >= n as u64 {
            break j;
        }
        if last_print.elapsed() > Duration::from_secs(15) {
            println!(
                "  {:.0} s: {} created, {sent} sent, {failed} failed",
                started.elapsed().as_secs_f64(),
                j["created"]
            );
            last_print = Instant::now();
        }
        assert!(Instant::now() < deadline, "not done within an hour: {j:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let all_sent = started.elapsed();
    assert_eq!(job["created"], n as u64, "{job:?}");
    // Every step ends sent or failed. A failed one is refused by SES or, when SES's answer did
    // not come in time, of unknown outcome: it may have gone, and it is never sent twice.
    let sent = job["emails"]["sent"].as_u64().unwrap_or(0) as usize;
    let failed = job["emails"]["failed"].as_u64().unwrap_or(0) as usize;
    assert_eq!(sent + failed, n, "{job:?}");
    // Anything still in flight would show as a second e-mail to someone.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let outbox = api.stack.outbox();
    let mut per_recipient: HashMap<&str, usize> = HashMap::new();
    for e in &outbox {
        *per_recipient.entry(to(e)).or_default() += 1;
    }
    let twice = per_recipient.values().filter(|c| **c > 1).count();
    assert!(
        (sent..=n).contains(&outbox.len()),
        "{} e-mails in the outbox, {sent} sent",
        outbox.len()
    );
    assert_eq!(twice, 0, "recipients e-mailed more than once");
    assert_eq!(per_recipient.len(), outbox.len());
    assert!(per_recipient.keys().all(|r| expected.contains_key(*r)));
    let created = created_after.unwrap_or_default().as_secs_f64();
    let total = all_sent.as_secs_f64();
    println!(
        "notify at {n} (EmailSendRate {rate}): job completed in {created:.1} s ({:.0} agreements/s); \
         all {n} e-mails recorded after {total:.1} s ({:.0} e-mails/s overall); \
         outbox {} e-mails, {} recipients, {twice} e-mailed twice; job emails {}",
        n as f64 / created.max(0.001),
        n as f64 / total.max(0.001),
        outbox.len(),
        per_recipient.len(),
        job["emails"]
    );
}
