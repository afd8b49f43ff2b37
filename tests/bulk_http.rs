//! Onboarding over HTTP and the queue, as a partner does it: import provider accounts (JSON and
//! CSV), press "Create Agreements", watch the job; and a poison message ending in the DLQ.

use std::collections::HashMap;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use integration_tests::api::{id, staff_token, Api};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn accounts(api: &Api, n: usize, domain: impl Fn(usize) -> Option<String>) -> Vec<Value> {
    stream::iter(0..n)
        .map(|i| {
            let body = match domain(i) {
                Some(d) => json!({"name": format!("Customer {i}"), "email_domain": d}),
                None => json!({"name": format!("Customer {i}")}),
            };
            async move { api.create("/accounts", body).await }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

async fn import_json(api: &Api, rows: &Value) -> Value {
    let a = api.post("/provider-accounts/import", rows.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body
}

async fn start_job(api: &Api, template_id: &str) -> String {
    let a = api
        .call(
            Method::POST,
            &format!("/agreement-templates/{template_id}/create-agreements"),
            Some(&staff_token()),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    assert_eq!(a.body["status"], "queued");
    let job_id = a.body["job_id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        a.header("location"),
        Some(format!("/bulk-jobs/{job_id}").as_str())
    );
    job_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_customers_get_one_pending_agreement_each() {
    let api = Api::start().await;
    let b = api.basics().await;
    let provider = id(&b.provider);
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    let customers = accounts(&api, 1000, |i| {
        (i % 100 == 0).then(|| format!("c{i}-{suffix}.example"))
    })
    .await;

    // 990 rows name their account, 10 are matched by e-mail domain.
    let rows: Vec<Value> = customers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut row = json!({"provider_id": provider, "provider_specific_id": format!("tenant-{i:05}"),
                                 "name": a["name"]});
            match a["email_domain"].as_str() {
                Some(d) => row["email_domain"] = json!(d),
                None => row["account_id"] = a["id"].clone(),
            }
            row
        })
        .collect();
    let rows = Value::Array(rows);
    let first = import_json(&api, &rows).await;
    assert_eq!(first, json!({"created": 1000, "skipped": 0, "failed": []}));
    let again = import_json(&api, &rows).await;
    assert_eq!(
        again,
        json!({"created": 0, "skipped": 1000, "failed": []}),
        "re-import creates nothing"
    );
    assert_eq!(
        api.all(&format!("/provider-accounts?provider_id={provider}"))
            .await
            .len(),
        1000
    );
    let of_first = api
        .all(&format!(
            "/provider-accounts?account_id={}",
            id(&customers[0])
        ))
        .await;
    assert_eq!(of_first.len(), 1);
    assert_eq!(
        of_first[0]["account_id"], customers[0]["id"],
        "matched by e-mail domain"
    );

    let template = id(&b.template);
    let job_id = start_job(&api, &template).await;
    let done = api.wait_for_job(&job_id).await;
    assert_eq!(done["status"], "completed", "{done:?}");
    for (field, expected) in [
        ("total", 1000),
        ("created", 1000),
        ("skipped", 0),
        ("failed", 0),
    ] {
        assert_eq!(done[field], expected, "{field}: {done:?}");
    }
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());

    let made = api
        .all(&format!("/agreements?template_id={template}"))
        .await;
    let mut per_account: HashMap<String, usize> = HashMap::new();
    for a in &made {
        assert_eq!(a["status"], "pending");
        assert_eq!(a["source"], "bulk");
        assert_eq!(a["bulk_job_id"], json!(job_id));
        *per_account
            .entry(a["account_id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    assert_eq!(per_account.len(), 1000);
    assert!(per_account.values().all(|n| *n == 1), "no duplicates");

    // Pressing the button again makes nothing new.
    let second = api.wait_for_job(&start_job(&api, &template).await).await;
    assert_eq!(
        (
            second["status"].clone(),
            second["created"].clone(),
            second["skipped"].clone()
        ),
        (json!("completed"), json!(0), json!(1000))
    );
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_import_with_quotes_bom_and_bad_rows() {
    let api = Api::start().await;
    let b = api.basics().await;
    let provider = id(&b.provider);
    let s = ulid::Ulid::new().to_string().to_lowercase();
    let contoso = api
        .create(
            "/accounts",
            json!({"name": "Contoso, Ltd", "email_domain": format!("contoso-{s}.example")}),
        )
        .await;
    api.twin_accounts(&format!("twin-{s}.example")).await;
    let csv = format!(
        "\u{FEFF}provider_id,provider_specific_id,name,account_id,email_domain\r\n\
         {provider},T-1,\"Contoso, Ltd\",,contoso-{s}.example\r\n\
         {provider},T-2,\"Contoso \"\"EMEA\"\", Ltd\",{},\r\n\
         {provider},T-3,Nobody,,nobody-{s}.example\r\n\
         {provider},T-4,Twins,,twin-{s}.example\r\n\
         01HZZZZZZZZZZZZZZZZZZZZZZZ,T-5,Ghost provider,{},\r\n\
         {provider},T-6,Too,many,fields,here\r\n\
         {provider},,No tenant,{},\r\n",
        id(&contoso),
        id(&contoso),
        id(&contoso),
    );
    let send = |body: String| {
        api.request(Method::POST, "/provider-accounts/import")
            .bearer_auth(staff_token())
            .header("content-type", "text/csv; charset=utf-8")
            .body(body)
    };
    let report = api.send(send(csv.clone())).await;
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    assert_eq!(report.body["created"], 2, "{:?}", report.body);
    assert_eq!(report.body["skipped"], 0);
    let failed: Vec<(u64, String)> = report.body["failed"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            (
                f["row"].as_u64().unwrap_or(0),
                f["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            (3, "validation_failed".to_string()),
            (4, "conflict".to_string()),
            (5, "not_found".to_string()),
            (6, "validation_failed".to_string()),
            (7, "validation_failed".to_string()),
        ]
    );
    let names: Vec<String> = api
        .all(&format!("/provider-accounts?account_id={}", id(&contoso)))
        .await
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Contoso, Ltd".to_string()));
    assert!(names.contains(&"Contoso \"EMEA\", Ltd".to_string()));

    let again = api.send(send(csv)).await;
    assert_eq!(
        (again.body["created"].clone(), again.body["skipped"].clone()),
        (json!(0), json!(2))
    );

    let header_only_wrong = api.send(send("tenant,name\nx,y\n".into())).await;
    header_only_wrong.assert_problem(400, "validation_failed");
    let xml = api
        .send(
            api.request(Method::POST, "/provider-accounts/import")
                .bearer_auth(staff_token())
                .header("content-type", "application/xml")
                .body("<rows/>"),
        )
        .await;
    xml.assert_problem(415, "unsupported_media_type");
    let too_many: Vec<Value> = (0..10_001)
        .map(|i| json!({"provider_id": provider, "provider_specific_id": format!("x{i}"), "name": "n", "account_id": id(&contoso)}))
        .collect();
    api.post("/provider-accounts/import", Value::Array(too_many))
        .await
        .assert_problem(413, "payload_too_large");
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_reaches_the_dead_letter_queue() {
    let api = Api::start().await;
    let sqs = integration_tests::sqs().await;
    let queue = api
        .stack
        .queue_url("BulkQueue")
        .expect("bulk queue")
        .to_string();
    let dlq = api
        .stack
        .queue_url("BulkDeadLetterQueue")
        .expect("dead-letter queue")
        .to_string();
    sqs.send_message()
        .queue_url(&queue)
        .message_body(r#"{"kind":"create_agreements","schema":99,"job_id":"x","template_id":"y","cursor":null}"#)
        .send()
        .await
        .expect("send");
    for _ in 0..120 {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&dlq)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("attributes");
        let n = attrs
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                    .cloned()
            })
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        if n == 1 {
            let moved = sqs
                .receive_message()
                .queue_url(&dlq)
                .send()
                .await
                .expect("receive");
            let body = moved
                .messages
                .unwrap_or_default()
                .first()
                .and_then(|m| m.body.clone());
            assert_eq!(
                body.as_deref().map(|b| b.contains("\"schema\":99")),
                Some(true)
            );
            api.stack.shutdown().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the poison message never reached the dead-letter queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_import_runs_as_a_job_that_counts_every_row_once() {
    let api = Api::start().await;
    let provider = api
        .create(
            "/providers",
            json!({"name": "Distributor", "kind": "manual", "platform": "other",
                   "syncs_agreements": false}),
        )
        .await;
    let provider = id(&provider);
    let customers = accounts(&api, 12, |_| None).await;
    // 1,200 rows (over the 1,000 answered at once): two unreadable, one repeating an earlier
    // row's tenant id (in another case), the rest over 12 accounts.
    let rows: Vec<Value> = (0..1200)
        .map(|i| match i {
            7 => json!({"provider_id": provider, "name": "no tenant id"}),
            900 => json!({"provider_id": provider, "provider_specific_id": "TENANT-00012",
                          "name": "Repeated", "account_id": customers[0]["id"]}),
            1100 => json!({"provider_id": provider, "provider_specific_id": "t-x",
                           "name": "Nobody", "account_id": "01J00000000000000000000000"}),
            _ => json!({"provider_id": provider, "provider_specific_id": format!("tenant-{i:05}"),
                        "name": format!("Customer {i}"), "account_id": customers[i % 12]["id"]}),
        })
        .collect();
    let rows = Value::Array(rows);
    let run = |rows: Value| {
        let api = &api;
        async move {
            let a = api.post("/provider-accounts/import", rows).await;
            assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
            let job_id = a.body["job_id"].as_str().unwrap_or_default().to_string();
            assert_eq!(
                a.header("location"),
                Some(format!("/bulk-jobs/{job_id}").as_str())
            );
            api.wait_for_job(&job_id).await
        }
    };
    let done = run(rows.clone()).await;
    assert_eq!(done["status"], "completed", "{done:?}");
    assert_eq!(done["kind"], "import_provider_accounts");
    for (field, expected) in [
        ("total", 1200),
        ("created", 1197),
        ("skipped", 1),
        ("failed", 2),
    ] {
        assert_eq!(done[field], expected, "{field}: {done:?}");
    }
    let mut failed_rows: Vec<&str> = done["failures"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["item"].as_str()).collect())
        .unwrap_or_default();
    failed_rows.sort_unstable();
    assert_eq!(failed_rows, vec!["row 1101", "row 8"], "{done:?}");
    let provider_now = api.get(&format!("/providers/{provider}")).await;
    assert_eq!(provider_now.body["provider_account_count"], 1197);
    assert_eq!(
        api.all(&format!("/provider-accounts?provider_id={provider}"))
            .await
            .len(),
        1197
    );

    // The same file again: every row that landed is a skip, and the count does not move.
    let again = run(rows).await;
    for (field, expected) in [("created", 0), ("skipped", 1198), ("failed", 2)] {
        assert_eq!(again[field], expected, "{field}: {again:?}");
    }
    let provider_now = api.get(&format!("/providers/{provider}")).await;
    assert_eq!(provider_now.body["provider_account_count"], 1197);

    // Rows of several providers are refused as a job, and nothing is written.
    let mixed: Vec<Value> = (0..1001)
        .map(|i| {
            json!({"provider_id": if i == 0 { "01J00000000000000000000000".to_string() } else { provider.clone() },
                   "provider_specific_id": format!("mixed-{i}"), "name": "Mixed",
                   "account_id": customers[0]["id"]})
        })
        .collect();
    let a = api
        .post("/provider-accounts/import", Value::Array(mixed))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
}
