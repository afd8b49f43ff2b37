//! Agreement exports through the local stack: POST /exports, the export worker writing to the
//! local S3, GET /exports/{id}'s presigned URL downloaded with plain HTTP, and every row compared
//! with what GET /agreements answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::api::{id, Api};
use integration_tests::dynamodb;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shared::model::{
    Account, Actor, Agreement, AgreementSource, AgreementTemplate, Contact, Day, HistoryAction,
    HistoryEvent, Id, Instant as At, NewAccount, NewContact,
};
use shared::store::to_item;
use shared::AppContext;

/// What the seed wrote, to check the file against.
struct Seeded {
    template: String,
    /// account id → (account name, signer e-mail)
    accounts: HashMap<String, (String, String)>,
    /// agreement id → (ip, user agent) of accepted ones
    evidence: HashMap<String, (String, String)>,
}

const DANGEROUS_NAME: &str = "=HYPERLINK(\"http://evil.example\",\"click\")";

/// `n` agreements of a new template, written straight to the table with BatchWriteItem: ten per
/// account, a third accepted on the portal (with the confirm step's evidence), a third pending
/// (every other one declined), a third inactive; some names start with formula characters.
async fn seed(api: &Api, n: usize) -> Seeded {
    let b = api.basics().await;
    let ctx = AppContext::with_client(
        dynamodb().await,
        api.stack.table_name().to_string(),
        b"exports test: cursors are never used here",
    )
    .expect("context");
    let template_id = Id::parse(&id(&b.template)).expect("template id");
    let template: AgreementTemplate = ctx
        .store
        .by_id(&template_id)
        .await
        .expect("read template")
        .expect("template");
    let mut items = Vec::new();
    let mut seeded = Seeded {
        template: template_id.to_string(),
        accounts: HashMap::new(),
        evidence: HashMap::new(),
    };
    let accounts = n.div_ceil(10);
    let mut people = Vec::new();
    for i in 0..accounts {
        let name = if i % 7 == 3 {
            format!("@Customer {i}")
        } else {
            format!("Customer {i}, \"Ltd\"")
        };
        let account = Account::create(
            NewAccount {
                name: name.clone(),
                email_domain: None,
                country: None,
                language: None,
            },
            At::now(),
        )
        .expect("account");
        let email = format!("signer-{i}@customer{i}.example");
        let contact = Contact::create(
            account.id.clone(),
            NewContact {
                first_name: "Pat".into(),
                last_name: format!("Signer {i}"),
                email: email.clone(),
                phone: None,
            },
            At::now(),
        )
        .expect("contact");
        items.push(to_item(&account).expect("item"));
        items.push(to_item(&contact).expect("item"));
        seeded
            .accounts
            .insert(account.id.to_string(), (name, email));
        people.push((account, contact));
    }
    let base = Day::parse("2026-01-01").expect("day");
    for i in 0..n {
        let (account, contact) = &people[i / 10];
        let name = match i % 50 {
            0 => Some(DANGEROUS_NAME.to_string()),
            1 => Some(format!("-{i}+1")),
            2 => Some(format!("\tTabbed {i}")),
            _ => None,
        };
        let now = At::now();
        let pending = Agreement::pending(
            Id::generate(),
            &template,
            account.id.clone(),
            name.as_deref(),
            None,
            AgreementSource::Manual,
            now,
        )
        .expect("pending");
        let mut history = vec![HistoryEvent::of_change(
            None,
            &pending,
            HistoryAction::Created,
            Actor::system("seed"),
            AgreementSource::Manual,
        )];
        let agreement = match i % 3 {
            0 => {
                let day = base.plus_days((i % 60) as i64);
                let accepted = pending
                    .accepted(contact.id.clone(), day, now)
                    .expect("accept");
                let ip = format!("198.51.100.{}", i % 250);
                let ua = format!("Browser/{i} (\"quoted\")");
                let mut event = HistoryEvent::of_change(
                    Some(&pending),
                    &accepted,
                    HistoryAction::Accepted,
                    Actor::system("seed"),
                    AgreementSource::Manual,
                );
                event.details = Some(json!({
                    "who": {"contact_id": contact.id, "name": contact.full_name(), "email": contact.email, "subject": "portal"},
                    "when": now,
                    "from": {"source_ip": ip, "user_agent": ua},
                    "what": {"template_id": template.id, "provider_template_id": template.template_id,
                             "template_version": accepted.document_version, "agreement_link": template.agreement_link},
                }));
                history.push(event);
                seeded.evidence.insert(accepted.id.to_string(), (ip, ua));
                accepted
            }
            1 if i % 2 == 0 => pending.declined(None, now).expect("decline"),
            1 => pending,
            _ => pending
                .deactivated(Some("seeded".into()), now)
                .expect("deactivate"),
        };
        let mut item = to_item(&agreement).expect("item");
        item.insert(
            "history".into(),
            serde_dynamo::to_attribute_value::<_, AttributeValue>(&history).expect("history"),
        );
        items.push(item);
    }
    integration_tests::put_items(api.stack.table_name(), items).await;
    seeded
}

/// Every agreement GET /agreements lists for `query`, by id.
async fn listed(api: &Api, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/agreements?{query}&limit=500&cursor={c}"),
            None => format!("/agreements?{query}&limit=500"),
        };
        let page = api.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        all.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        cursor = page.body["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            return all;
        }
    }
}

/// Queues an export and waits for it to end; answers the final record.
async fn export(api: &Api, body: Value) -> Value {
    let queued = api.post("/exports", body).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:?}", queued.body);
    assert_eq!(queued.body["status"], "queued");
    let export_id = queued.body["export_id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let e = api.get(&format!("/exports/{export_id}")).await;
        assert_eq!(e.status, StatusCode::OK, "{:?}", e.body);
        match e.body["status"].as_str() {
            Some("completed") | Some("failed") => return e.body,
            _ => {
                assert_eq!(e.body["url"], Value::Null);
                assert!(Instant::now() < deadline, "export still {:?}", e.body);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

async fn download(e: &Value) -> String {
    let url = e["url"].as_str().expect("a completed export has a url");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let answer = reqwest::get(url).await.expect("download");
    assert_eq!(answer.status(), StatusCode::OK);
    answer.text().await.expect("body")
}

/// What a CSV cell holds for a value: formula characters at the start get a `'`.
fn neutralised(v: &str) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    }
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_default()
}

const HEADER: [&str; 22] = [
    "agreement_id",
    "name",
    "account_id",
    "account_name",
    "template_id",
    "template_name",
    "provider_id",
    "document_version",
    "accepted_document_version",
    "status",
    "signed_by",
    "signer_name",
    "signer_email",
    "signed_on",
    "executed_on",
    "accepted_at",
    "accepted_ip",
    "accepted_user_agent",
    "attestation_status",
    "declined_on",
    "created_at",
    "source",
];

/// Exports all `n` agreements of a template as CSV and compares every row with GET /agreements.
async fn csv_export_matches_the_list(n: usize) {
    let api = Api::start_with_visibility(&[], 120).await;
    let started = Instant::now();
    let seeded = seed(&api, n).await;
    println!(
        "seeded {n} agreements in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let e = export(
        &api,
        json!({"format": "csv", "filter": {"template_id": seeded.template}}),
    )
    .await;
    println!(
        "exported {n} agreements in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(e["status"], "completed", "{e:?}");
    assert_eq!(e["rows"], n as u64);
    assert_eq!(e["format"], "csv");
    assert_eq!(e["filter"], json!({"template_id": seeded.template}));
    assert!(e["url_expires_at"].is_string());
    let file = download(&e).await;

    let expected: HashMap<String, Value> =
        listed(&api, &format!("template_id={}", seeded.template))
            .await
            .into_iter()
            .map(|a| (text(&a["id"]), a))
            .collect();
    assert_eq!(expected.len(), n);

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(file.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, HEADER);
    let col = |name: &str| HEADER.iter().position(|h| *h == name).expect("column");
    let mut seen = std::collections::HashSet::new();
    let mut dangerous = 0;
    for record in reader.records() {
        let row = record.expect("an RFC 4180 record");
        let get = |name: &str| row[col(name)].to_string();
        let id = get("agreement_id");
        let a = expected
            .get(&id)
            .unwrap_or_else(|| panic!("{id} is not listed"));
        assert!(seen.insert(id.clone()), "{id} twice");
        for field in [
            "account_id",
            "template_id",
            "provider_id",
            "document_version",
            "status",
            "signed_by",
            "signed_on",
            "executed_on",
            "declined_on",
            "created_at",
            "source",
        ] {
            assert_eq!(get(field), neutralised(&text(&a[field])), "{id} {field}");
        }
        assert_eq!(get("name"), neutralised(&text(&a["name"])), "{id} name");
        if text(&a["name"]) == DANGEROUS_NAME {
            assert_eq!(get("name"), format!("'{DANGEROUS_NAME}"));
            dangerous += 1;
        }
        assert_eq!(get("agreement_id"), text(&a["id"]));
        assert_eq!(
            get("attestation_status"),
            text(&a["attestation"]["status"]),
            "{id}"
        );
        let (account_name, email) = &seeded.accounts[&text(&a["account_id"])];
        assert_eq!(get("account_name"), neutralised(account_name), "{id}");
        assert_eq!(get("template_name"), "Microsoft Customer Agreement");
        if a["status"] == "accepted" {
            let (ip, ua) = &seeded.evidence[&id];
            assert_eq!(get("signer_email"), *email, "{id}");
            assert!(get("signer_name").starts_with("Pat Signer"), "{id}");
            assert_eq!(get("accepted_ip"), *ip, "{id}");
            assert_eq!(get("accepted_user_agent"), *ua, "{id}");
            assert_eq!(get("accepted_document_version"), "2024-01");
            assert!(!get("accepted_at").is_empty());
        } else {
            for empty in ["signer_email", "accepted_ip", "accepted_at", "signed_by"] {
                assert_eq!(get(empty), "", "{id} {empty}");
            }
        }
    }
    assert_eq!(seen.len(), n, "every agreement once");
    assert_eq!(dangerous, n.div_ceil(50));
}

/// 2,000 agreements in the default suite (about a minute on moto with seeding).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_export_holds_every_agreement_as_get_agreements_shows_it() {
    csv_export_matches_the_list(2_000).await;
}

/// The 10,000-agreement run:
/// `cargo test -p integration-tests --test exports -- --ignored --nocapture ten_thousand`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "10,000 agreements: a few minutes on moto, see docs/benchmarks.md"]
async fn ten_thousand_agreements_export_as_csv() {
    csv_export_matches_the_list(10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_jsonl_export_holds_exactly_the_matching_agreements() {
    let api = Api::start_with_visibility(&[], 120).await;
    let seeded = seed(&api, 300).await;
    let (from, to) = ("2026-01-10", "2026-01-31");
    let e = export(
        &api,
        json!({"format": "jsonl", "filter": {"template_id": seeded.template, "status": "accepted",
               "signed_from": from, "signed_to": to}}),
    )
    .await;
    assert_eq!(e["status"], "completed", "{e:?}");
    let expected: HashMap<String, Value> = listed(
        &api,
        &format!("template_id={}&status=accepted", seeded.template),
    )
    .await
    .into_iter()
    .filter(|a| {
        let d = text(&a["signed_on"]);
        d.as_str() >= from && d.as_str() <= to
    })
    .map(|a| (text(&a["id"]), a))
    .collect();
    assert!(!expected.is_empty() && expected.len() < 100);
    assert_eq!(e["rows"], expected.len() as u64);
    let file = download(&e).await;
    let mut count = 0;
    for line in file.lines() {
        let row: Value = serde_json::from_str(line).expect("one JSON object per line");
        let object = row.as_object().expect("an object");
        let keys: std::collections::BTreeSet<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys, HEADER.into_iter().collect());
        let a = &expected[&text(&row["agreement_id"])];
        for field in [
            "name",
            "account_id",
            "status",
            "signed_by",
            "signed_on",
            "created_at",
        ] {
            assert_eq!(row[field], a[field], "{field}");
        }
        // JSON Lines carries values as they are: no formula neutralisation.
        if a["name"] == DANGEROUS_NAME {
            assert_eq!(row["name"], DANGEROUS_NAME);
        }
        assert_eq!(
            text(&row["accepted_ip"]),
            seeded.evidence[&text(&row["agreement_id"])].0
        );
        count += 1;
    }
    assert_eq!(count, expected.len());
    assert!(file.ends_with('\n'));

    // A redelivered message of the completed export changes nothing.
    let export_id = text(&e["id"]);
    let sqs = integration_tests::sqs().await;
    sqs.send_message()
        .queue_url(api.stack.queue_url("ExportQueue").expect("queue"))
        .message_body(json!({"kind": "export", "schema": 1, "export_id": export_id}).to_string())
        .send()
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = api.get(&format!("/exports/{export_id}")).await.body;
    assert_eq!(again["status"], "completed");
    assert_eq!(again["rows"], e["rows"]);
    assert_eq!(again["finished_at"], e["finished_at"]);
    assert_eq!(download(&again).await, file);
}

/// How many export records the table holds.
async fn export_records(api: &Api) -> usize {
    let out = dynamodb()
        .await
        .scan()
        .table_name(api.stack.table_name())
        .filter_expression("#t = :export")
        .expression_attribute_names("#t", "type")
        .expression_attribute_values(":export", AttributeValue::S("export".into()))
        .send()
        .await
        .expect("scan");
    out.items.unwrap_or_default().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_export_requests_are_refused_and_write_nothing() {
    let api = Api::start().await;
    for body in [
        json!({"format": "csv", "filter": {"colour": "red"}}),
        json!({"format": "csv", "filter": {}, "extra": true}),
        json!({"format": "xlsx"}),
        json!({"filter": {}}),
        json!({"format": "csv", "filter": {"signed_from": "2026-02-01", "signed_to": "2026-01-01"}}),
        json!({"format": "csv", "filter": {"signed_from": "2026-02-30"}}),
        json!({"format": "csv", "filter": {"signed_to": "yesterday"}}),
        json!({"format": "csv", "filter": {"status": "signed"}}),
        json!({"format": "csv", "filter": {"account_id": "not-an-id"}}),
    ] {
        let answer = api.post("/exports", body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:?}",
            answer.body
        );
        assert_eq!(answer.body["code"], "validation_failed", "{body}");
    }
    assert_eq!(export_records(&api).await, 0);
    let missing = api.get(&format!("/exports/{}", Id::generate())).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let malformed = api.get("/exports/not-an-id").await;
    assert_eq!(malformed.status, StatusCode::NOT_FOUND);
    // An export of nothing completes with a header only.
    let e = export(
        &api,
        json!({"format": "csv", "filter": {"account_id": Id::generate().to_string()}}),
    )
    .await;
    assert_eq!(e["status"], "completed", "{e:?}");
    assert_eq!(e["rows"], 0);
    let file = download(&e).await;
    assert_eq!(file.lines().count(), 1);
    assert!(file.starts_with("\"agreement_id\",\"name\""));
    assert_eq!(export_records(&api).await, 1);
}

/// Two deliveries of one export at once: one attempt writes it, the other does nothing; an
/// attempt whose lease ran out is superseded, and the one it lost to cannot be completed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_late_deliveries_leave_one_whole_file() {
    use shared::model::{Export, ExportFilter, ExportFormat};
    use shared::services::exports::{run_export, ExportsBucket, Outcome};
    let api = Api::start().await;
    let seeded = seed(&api, 40).await;
    let ctx = AppContext::with_client(
        dynamodb().await,
        api.stack.table_name().to_string(),
        b"exports test: cursors of this context only",
    )
    .expect("context");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let s3 = shared::config::s3_client(&sdk);
    let name = api
        .stack
        .bucket("ExportsBucket")
        .expect("bucket")
        .to_string();
    let bucket = ExportsBucket::new(s3.clone(), &name);
    let queued = |format| {
        Export::queued(
            format,
            ExportFilter {
                template_id: Id::parse(&seeded.template),
                ..ExportFilter::default()
            },
            "test",
            At::now(),
        )
    };
    let deadline = std::time::SystemTime::now() + Duration::from_secs(60);

    // At once: exactly one completes.
    let export = queued(ExportFormat::Jsonl);
    ctx.store.create(&export).await.expect("create");
    let (a, b) = tokio::join!(
        run_export(&ctx.store, &bucket, export.id.as_str(), deadline),
        run_export(&ctx.store, &bucket, export.id.as_str(), deadline)
    );
    let mut outcomes = [a.expect("first"), b.expect("second")];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [Outcome::Completed { rows: 40 }, Outcome::Duplicate]
    );
    let objects = s3
        .list_objects_v2()
        .bucket(&name)
        .prefix(format!("exports/{}/", export.id))
        .send()
        .await
        .expect("list");
    assert_eq!(objects.contents().len(), 1);

    // An attempt whose lease ran out (its invocation died) is taken over by the next delivery.
    let export = queued(ExportFormat::Csv);
    ctx.store.create(&export).await.expect("create");
    let first = ctx
        .store
        .start_export_attempt(&export.id, At::now(), 0)
        .await
        .expect("take")
        .expect("queued, so taken");
    assert_eq!(first.attempt, 1);
    let outcome = run_export(&ctx.store, &bucket, export.id.as_str(), deadline)
        .await
        .expect("run");
    assert_eq!(outcome, Outcome::Completed { rows: 40 });
    assert!(!ctx
        .store
        .complete_export(&export.id, 1, 999, "exports/x/1.csv", At::now())
        .await
        .expect("write"));
    let record: Export = ctx
        .store
        .by_id(&export.id)
        .await
        .expect("read")
        .expect("record");
    assert_eq!(record.attempt, 2);
    assert_eq!(record.rows, 40);
    assert_eq!(record.object_key, Some(export.object_key_of(2)));
    // A message after the end does nothing.
    assert_eq!(
        run_export(&ctx.store, &bucket, export.id.as_str(), deadline)
            .await
            .expect("run"),
        Outcome::Duplicate
    );
    // A message naming no export is poison.
    assert!(
        run_export(&ctx.store, &bucket, Id::generate().as_str(), deadline)
            .await
            .is_err_and(|e| e.is_poison())
    );
}
