//! What staff manage beyond creating: PATCH of providers, accounts and contacts (If-Match,
//! the e-mail domain index, one primary contact), and the agreement list's date filters —
//! all through the local stack.

use futures::future::join_all;
use futures::StreamExt;
use integration_tests::api::{id, staff_token, Answer, Api};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shared::model::Agreement;

async fn patch(api: &Api, path: &str, if_match: Option<&str>, body: Value) -> Answer {
    let mut request = api
        .request(Method::PATCH, path)
        .bearer_auth(staff_token())
        .json(&body);
    if let Some(v) = if_match {
        request = request.header("if-match", v);
    }
    api.send(request).await
}

fn assert_ok(a: &Answer, version: u64) {
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["version"], version, "{:?}", a.body);
    let etag = format!("\"{version}\"");
    assert_eq!(a.header("etag"), Some(etag.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_patch_a_provider_under_if_match() {
    let api = Api::start().await;
    let b = api.basics().await;
    let path = format!("/providers/{}", id(&b.provider));

    let a = patch(
        &api,
        &path,
        Some("1"),
        json!({"name": "MPC", "attestation_method": "legacy"}),
    )
    .await;
    assert_ok(&a, 2);
    assert_eq!(a.body["name"], "MPC");
    assert_eq!(a.body["attestation_method"], "legacy");
    assert_eq!(a.body["kind"], "automatic", "fields not sent stay");

    // A stale version is refused and changes nothing; the right one (quoted) is taken.
    patch(&api, &path, Some("1"), json!({"name": "Stale"}))
        .await
        .assert_problem(412, "precondition_failed");
    let a = patch(
        &api,
        &path,
        Some("\"2\""),
        json!({"kind": "manual", "syncs_agreements": false}),
    )
    .await;
    assert_ok(&a, 3);
    assert_eq!(
        (a.body["name"].clone(), a.body["kind"].clone()),
        (json!("MPC"), json!("manual"))
    );

    // Without If-Match the change applies to whatever is stored.
    assert_ok(
        &patch(&api, &path, None, json!({"platform": "other"})).await,
        4,
    );

    let before = api.item_count().await;
    patch(
        &api,
        &path,
        None,
        json!({"name": "X", "provider_account_count": 9}),
    )
    .await
    .assert_problem(400, "validation_failed");
    patch(&api, &path, None, json!({"kind": "sometimes"}))
        .await
        .assert_problem(400, "validation_failed");
    patch(&api, &path, None, json!({"name": "   "}))
        .await
        .assert_problem(400, "validation_failed");
    patch(&api, &path, None, json!({"platform": "Not A Word!"}))
        .await
        .assert_problem(400, "validation_failed");
    assert_eq!(api.item_count().await, before);
    let a = api.get(&path).await;
    assert_eq!(
        (a.body["version"].clone(), a.body["name"].clone()),
        (json!(4), json!("MPC"))
    );

    let missing = ulid::Ulid::new().to_string();
    patch(
        &api,
        &format!("/providers/{missing}"),
        None,
        json!({"name": "X"}),
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_patch_an_account_and_its_domain_index_follows() {
    let api = Api::start().await;
    let b = api.basics().await;
    let account = id(&b.account);
    let path = format!("/accounts/{account}");
    let old_domain = b.account["email_domain"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let new_domain = format!("{}.example", integration_tests::unique("fabrikam"));

    let a = patch(
        &api,
        &path,
        Some("\"1\""),
        json!({"email_domain": new_domain.to_uppercase(), "country": "de", "language": "de-DE"}),
    )
    .await;
    assert_ok(&a, 2);
    assert_eq!(a.body["email_domain"], new_domain.as_str());
    assert_eq!(a.body["country"], "DE");
    assert_eq!(a.body["name"], "Contoso Ltd");
    assert_eq!(by_domain(&api, &new_domain).await, vec![account.clone()]);
    assert!(by_domain(&api, &old_domain).await.is_empty());

    // A provider account naming only the new domain is matched to the account.
    let pa = api
        .post("/provider-accounts", json!({"provider_id": id(&b.provider), "provider_specific_id": "tenant-1", "name": "Fabrikam", "email_domain": new_domain}))
        .await;
    assert_eq!(pa.status, StatusCode::CREATED, "{:?}", pa.body);
    assert_eq!(pa.body["account_id"], account.as_str());

    patch(&api, &path, Some("1"), json!({"name": "Stale"}))
        .await
        .assert_problem(412, "precondition_failed");
    // `null` clears an optional field, and the account leaves the domain index.
    let a = patch(
        &api,
        &path,
        Some("2"),
        json!({"email_domain": null, "country": null}),
    )
    .await;
    assert_ok(&a, 3);
    assert_eq!(
        (a.body["email_domain"].clone(), a.body["country"].clone()),
        (Value::Null, Value::Null)
    );
    assert!(by_domain(&api, &new_domain).await.is_empty());

    patch(
        &api,
        &path,
        None,
        json!({"id": "01J9AGREEMENTSACC0VNT00001"}),
    )
    .await
    .assert_problem(400, "validation_failed");
    patch(&api, &path, None, json!({"country": "Germany"}))
        .await
        .assert_problem(400, "validation_failed");
    patch(&api, &path, None, json!({"email_domain": "not a domain"}))
        .await
        .assert_problem(400, "validation_failed");
    patch(&api, &path, None, json!({"name": 7}))
        .await
        .assert_problem(400, "validation_failed");
    assert_eq!(api.get(&path).await.body["version"], 3);
    let missing = ulid::Ulid::new().to_string();
    patch(
        &api,
        &format!("/accounts/{missing}"),
        None,
        json!({"name": "X"}),
    )
    .await
    .assert_problem(404, "not_found");
    patch(&api, "/accounts/not-an-id", None, json!({"name": "X"}))
        .await
        .assert_problem(404, "not_found");
}

/// The ids of the accounts of a domain, read from the table's domain index.
async fn by_domain(api: &Api, domain: &str) -> Vec<String> {
    let out = integration_tests::dynamodb()
        .await
        .query()
        .table_name(api.stack.table_name())
        .index_name("GSI2")
        .key_condition_expression("GSI2PK = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("DOMAIN#{domain}")),
        )
        .send()
        .await
        .expect("query");
    out.items()
        .iter()
        .filter_map(|i| i.get("id").and_then(|v| v.as_s().ok()).cloned())
        .collect()
}

async fn contacts(api: &Api, account: &str) -> Vec<Value> {
    api.all(&format!("/accounts/{account}/contacts")).await
}

fn primaries(contacts: &[Value]) -> Vec<String> {
    contacts
        .iter()
        .filter(|c| c["primary"] == true)
        .map(id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_patch_contacts_and_one_is_primary() {
    let api = Api::start().await;
    let b = api.basics().await;
    let account = id(&b.account);
    let first = id(&b.contact);
    let mut ids = vec![first.clone()];
    for i in 0..5 {
        let c = api
            .create(&format!("/accounts/{account}/contacts"), json!({"first_name": format!("C{i}"), "last_name": "Doe", "email": format!("c{i}@contoso.example")}))
            .await;
        assert_eq!(c["primary"], false);
        ids.push(id(&c));
    }
    let path = |c: &str| format!("/accounts/{account}/contacts/{c}");

    let a = patch(
        &api,
        &path(&ids[2]),
        Some("1"),
        json!({"phone": "+1 555 0100", "last_name": "Smith"}),
    )
    .await;
    assert_ok(&a, 2);
    assert_eq!(
        (
            a.body["phone"].clone(),
            a.body["last_name"].clone(),
            a.body["first_name"].clone()
        ),
        (json!("+1 555 0100"), json!("Smith"), json!("C1"))
    );
    patch(&api, &path(&ids[2]), Some("1"), json!({"phone": null}))
        .await
        .assert_problem(412, "precondition_failed");
    let a = patch(
        &api,
        &path(&ids[2]),
        Some("2"),
        json!({"phone": null, "primary": true}),
    )
    .await;
    assert_ok(&a, 3);
    assert_eq!(
        (a.body["phone"].clone(), a.body["primary"].clone()),
        (Value::Null, json!(true))
    );
    assert_eq!(
        primaries(&contacts(&api, &account).await),
        vec![ids[2].clone()]
    );

    // Another contact becomes primary: the previous one is unmarked (and its version moves).
    let a = patch(&api, &path(&ids[4]), None, json!({"primary": true})).await;
    assert_ok(&a, 2);
    let all = contacts(&api, &account).await;
    assert_eq!(primaries(&all), vec![ids[4].clone()]);
    let previous = all
        .iter()
        .find(|c| id(c) == ids[2])
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (previous["primary"].clone(), previous["version"].clone()),
        (json!(false), json!(4))
    );

    // Many at once, without If-Match: still exactly one primary.
    let paths: Vec<String> = ids.iter().map(|c| path(c)).collect();
    let answers = join_all(
        paths
            .iter()
            .map(|p| patch(&api, p, None, json!({"primary": true}))),
    )
    .await;
    for a in &answers {
        assert!(
            a.status == StatusCode::OK || a.status == StatusCode::CONFLICT,
            "{:?}",
            a.body
        );
    }
    let all = contacts(&api, &account).await;
    assert_eq!(primaries(&all).len(), 1, "{all:?}");

    // Unmarking the primary leaves none marked; the account's first contact is then its primary.
    let marked = primaries(&all).remove(0);
    let a = patch(&api, &path(&marked), None, json!({"primary": false})).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(primaries(&contacts(&api, &account).await).is_empty());

    // Refusals change nothing.
    let before = api.item_count().await;
    patch(
        &api,
        &path(&ids[1]),
        None,
        json!({"primary": true, "account_id": account}),
    )
    .await
    .assert_problem(400, "validation_failed");
    patch(&api, &path(&ids[1]), None, json!({"email": "not-an-email"}))
        .await
        .assert_problem(400, "validation_failed");
    patch(&api, &path(&ids[1]), None, json!({"first_name": ""}))
        .await
        .assert_problem(400, "validation_failed");
    assert_eq!(api.item_count().await, before);

    // A contact of another account is not this account's.
    let other = api.create("/accounts", json!({"name": "Other"})).await;
    patch(
        &api,
        &format!("/accounts/{}/contacts/{}", id(&other), ids[1]),
        None,
        json!({"primary": true}),
    )
    .await
    .assert_problem(404, "not_found");
    let missing = ulid::Ulid::new().to_string();
    patch(&api, &path(&missing), None, json!({"phone": "1"}))
        .await
        .assert_problem(404, "not_found");
}

/// Rewrites an agreement's creation time and signing day in the stack's table (its index keys
/// follow), as if it had been made and signed then.
async fn backdate(api: &Api, agreement: &Value, created: &str, signed: Option<&str>) {
    let mut a: Agreement = serde_json::from_value(agreement.clone()).expect("an agreement");
    a.created_at =
        serde_json::from_value(json!(format!("{created}T12:00:00.000Z"))).expect("instant");
    a.signed_on = signed.map(|d| serde_json::from_value(json!(d)).expect("day"));
    if signed.is_some() {
        a.status = shared::model::AgreementStatus::Accepted;
    }
    let item = shared::store::to_item(&a).expect("item");
    integration_tests::dynamodb()
        .await
        .put_item()
        .table_name(api.stack.table_name())
        .set_item(Some(item))
        .send()
        .await
        .expect("put");
}

fn ids_of(a: &Answer) -> Vec<String> {
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agreements_filter_by_signing_and_creation_day() {
    let api = Api::start().await;
    let b = api.basics().await;
    let template = id(&b.template);
    let mut made = Vec::new();
    for (i, (created, signed)) in [
        ("2024-03-01", Some("2024-03-05")),
        ("2024-03-10", None),
        ("2024-03-20", Some("2024-03-25")),
        ("2024-03-31", Some("2024-04-01")),
    ]
    .into_iter()
    .enumerate()
    {
        let account = api
            .create("/accounts", json!({"name": format!("Customer {i}")}))
            .await;
        let agreement = api
            .create(
                "/agreements",
                json!({"template_id": template, "account_id": id(&account)}),
            )
            .await;
        backdate(&api, &agreement, created, signed).await;
        made.push((id(&agreement), id(&account)));
    }
    let g = |i: usize| made[i].0.clone();
    let list = |q: &str| {
        let api = &api;
        let q = q.to_string();
        async move { ids_of(&api.get(&format!("/agreements?{q}")).await) }
    };

    // Creation days, inclusive at both ends, over every collection.
    assert_eq!(
        list("created_from=2024-03-01&created_to=2024-03-10").await,
        vec![g(0), g(1)]
    );
    assert_eq!(
        list("created_from=2024-03-10").await,
        vec![g(1), g(2), g(3)]
    );
    assert_eq!(list("created_to=2024-03-20").await, vec![g(0), g(1), g(2)]);
    assert_eq!(
        list("created_from=2024-03-31&created_to=2024-03-31").await,
        vec![g(3)]
    );
    assert_eq!(
        list(&format!(
            "template_id={template}&created_from=2024-03-02&created_to=2024-03-30"
        ))
        .await,
        vec![g(1), g(2)]
    );
    assert_eq!(
        list(&format!("account_id={}&created_from=2024-03-20", made[2].1)).await,
        vec![g(2)]
    );
    assert_eq!(
        list(&format!("account_id={}&created_to=2024-03-19", made[2].1)).await,
        Vec::<String>::new()
    );
    assert!(list("created_from=2025-01-01").await.is_empty());

    // Signing days: agreements not signed match no signing range.
    assert_eq!(
        list("signed_from=2024-03-05&signed_to=2024-03-05").await,
        vec![g(0)]
    );
    assert_eq!(list("signed_from=2024-03-06").await, vec![g(2), g(3)]);
    assert_eq!(list("signed_to=2024-03-31").await, vec![g(0), g(2)]);

    // Both, with the other filters.
    assert_eq!(
        list("created_from=2024-03-10&signed_to=2024-03-31").await,
        vec![g(2)]
    );
    assert_eq!(
        list("status=accepted&created_to=2024-03-20").await,
        vec![g(0), g(2)]
    );
    assert_eq!(
        list(&format!(
            "template_id={template}&status=pending&created_from=2024-03-01"
        ))
        .await,
        vec![g(1)]
    );

    // Pages of one, following the cursor, give the same list; a cursor is bound to its filters.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/agreements?created_from=2024-03-05&limit=1&cursor={c}"),
            None => "/agreements?created_from=2024-03-05&limit=1".to_string(),
        };
        let a = api.get(&q).await;
        seen.extend(ids_of(&a));
        match a.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        if seen.len() == 1 {
            let c = a.body["next_cursor"].as_str().unwrap_or_default();
            api.get(&format!(
                "/agreements?created_from=2024-03-06&limit=1&cursor={c}"
            ))
            .await
            .assert_problem(400, "validation_failed");
            api.get(&format!(
                "/agreements?created_from=2024-03-05&signed_from=2024-01-01&limit=1&cursor={c}"
            ))
            .await
            .assert_problem(400, "validation_failed");
        }
    }
    assert_eq!(seen, vec![g(1), g(2), g(3)]);

    // Malformed days and reversed ranges are refused.
    for q in [
        "created_from=2024-3-1",
        "created_to=yesterday",
        "signed_from=2024-02-30",
        "signed_to=2024-03-01T00:00:00Z",
        "created_from=2024-03-10&created_to=2024-03-09",
        "signed_from=2024-04-01&signed_to=2024-03-01",
        "created_from=2024-03-01&created_from=2024-03-02",
    ] {
        api.get(&format!("/agreements?{q}"))
            .await
            .assert_problem(400, "validation_failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn billing_contracts_are_listed_per_account() {
    let api = Api::start().await;
    let b = api.basics().await;
    let account = id(&b.account);
    let other = api.create("/accounts", json!({"name": "Other"})).await;
    let mut mine = Vec::new();
    for i in 0..5 {
        let c = api
            .create("/billing-contracts", json!({"account_id": account, "name": format!("Contract {i}"), "start_date": "2024-01-01"}))
            .await;
        mine.push(id(&c));
    }
    api.create(
        "/billing-contracts",
        json!({"account_id": id(&other), "name": "Theirs", "start_date": "2024-01-01"}),
    )
    .await;
    // The account's collection also holds its agreements; only contracts are listed.
    api.create(
        "/agreements",
        json!({"template_id": id(&b.template), "account_id": account}),
    )
    .await;

    let all = api
        .all(&format!("/billing-contracts?account_id={account}"))
        .await;
    assert_eq!(all.iter().map(id).collect::<Vec<_>>(), mine, "oldest first");
    assert_eq!(all[0]["name"], "Contract 0");

    let first = api
        .get(&format!("/billing-contracts?account_id={account}&limit=2"))
        .await;
    assert_eq!(ids_of(&first), mine[..2].to_vec());
    let cursor = first.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let next = api
        .get(&format!(
            "/billing-contracts?account_id={account}&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(ids_of(&next), mine[2..4].to_vec());
    // A cursor of one account's list is no cursor of another's.
    api.get(&format!(
        "/billing-contracts?account_id={}&cursor={cursor}",
        id(&other)
    ))
    .await
    .assert_problem(400, "validation_failed");

    let theirs = api
        .get(&format!("/billing-contracts?account_id={}", id(&other)))
        .await;
    assert_eq!(theirs.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(theirs.body["next_cursor"], Value::Null);

    api.get("/billing-contracts")
        .await
        .assert_problem(400, "validation_failed");
    api.get("/billing-contracts?account_id=nope")
        .await
        .assert_problem(400, "validation_failed");
    api.get("/billing-contracts?account=x")
        .await
        .assert_problem(400, "validation_failed");
    let missing = ulid::Ulid::new().to_string();
    api.get(&format!("/billing-contracts?account_id={missing}"))
        .await
        .assert_problem(404, "not_found");
}

async fn start_job(api: &Api, template: &str) -> String {
    let a = api
        .call(
            Method::POST,
            &format!("/agreement-templates/{template}/create-agreements"),
            Some(&staff_token()),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    a.body["job_id"].as_str().unwrap_or_default().to_string()
}

async fn cancel(api: &Api, job: &str) -> Answer {
    api.call(
        Method::POST,
        &format!("/bulk-jobs/{job}/cancel"),
        Some(&staff_token()),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_jobs_are_listed_newest_first_with_filters() {
    let api = Api::start().await;
    let b = api.basics().await;
    let mut templates = vec![id(&b.template)];
    for i in 0..2 {
        let t = api
            .create("/agreement-templates", json!({"name": format!("Terms {i}"), "template_id": format!("t{i}"),
                    "provider_id": id(&b.provider), "document_version": "1", "effective_date": "2024-01-01",
                    "agreement_link": "https://example.com/terms"}))
            .await;
        templates.push(id(&t));
    }
    // Four jobs, oldest first: two of the first template, one of each other.
    let mut jobs = Vec::new();
    for t in [&templates[0], &templates[1], &templates[0], &templates[2]] {
        let job = start_job(&api, t).await;
        api.wait_for_job(&job).await;
        jobs.push(job);
    }
    let newest_first: Vec<String> = jobs.iter().rev().cloned().collect();

    let all = api.all("/bulk-jobs").await;
    assert_eq!(all.iter().map(id).collect::<Vec<_>>(), newest_first);
    assert!(all
        .iter()
        .all(|j| j["status"] == "completed" && j["kind"] == "create_agreements"));
    let of_first = api
        .all(&format!("/bulk-jobs?template_id={}", templates[0]))
        .await;
    assert_eq!(
        of_first.iter().map(id).collect::<Vec<_>>(),
        vec![jobs[2].clone(), jobs[0].clone()]
    );
    let both = api
        .all(&format!(
            "/bulk-jobs?template_id={}&status=completed&kind=create_agreements",
            templates[2]
        ))
        .await;
    assert_eq!(
        both.iter().map(id).collect::<Vec<_>>(),
        vec![jobs[3].clone()]
    );
    assert!(api.all("/bulk-jobs?status=running").await.is_empty());
    assert!(api.all("/bulk-jobs?kind=provider_sync").await.is_empty());

    // Pages of one follow the same order.
    let mut seen = Vec::new();
    let mut next = "/bulk-jobs?limit=1".to_string();
    loop {
        let a = api.get(&next).await;
        seen.extend(ids_of(&a));
        match a.body["next_cursor"].as_str() {
            Some(c) => next = format!("/bulk-jobs?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, newest_first);

    for q in [
        "status=done",
        "kind=sync",
        "template_id=nope",
        "provider_id=x",
    ] {
        api.get(&format!("/bulk-jobs?{q}"))
            .await
            .assert_problem(400, "validation_failed");
    }

    // A job that has ended cannot be cancelled; nor can one that does not exist.
    cancel(&api, &jobs[0]).await.assert_problem(409, "conflict");
    assert_eq!(
        api.get(&format!("/bulk-jobs/{}", jobs[0])).await.body["status"],
        "completed"
    );
    cancel(&api, &ulid::Ulid::new().to_string())
        .await
        .assert_problem(404, "not_found");
}

/// How many agreements of a template the stack's table holds.
async fn agreements_of(api: &Api, template: &str) -> u64 {
    let client = integration_tests::dynamodb().await;
    let mut total = 0u64;
    let mut start = None;
    loop {
        // The table itself, not an index: what is written, whatever collections list it.
        let out = client
            .scan()
            .table_name(api.stack.table_name())
            .filter_expression("#type = :agreement AND template_id = :template")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(
                ":agreement",
                aws_sdk_dynamodb::types::AttributeValue::S("agreement".into()),
            )
            .expression_attribute_values(
                ":template",
                aws_sdk_dynamodb::types::AttributeValue::S(template.to_string()),
            )
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("count");
        total += u64::try_from(out.count).unwrap_or(0);
        start = out.last_evaluated_key;
        if start.is_none() {
            return total;
        }
    }
}

fn processed(job: &Value) -> u64 {
    ["created", "skipped", "failed"]
        .iter()
        .map(|k| job[*k].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_job_is_cancelled_and_its_counts_stay_exact() {
    const CUSTOMERS: usize = 3000;
    let api = Api::start().await;
    let b = api.basics().await;
    let provider: shared::model::Provider =
        serde_json::from_value(b.provider.clone()).expect("a provider");
    let template = id(&b.template);
    // The customers go straight into the stack's table, as an import would leave them.
    let ctx = shared::AppContext::with_client(
        integration_tests::dynamodb().await,
        api.stack.table_name().to_string(),
        integration_tests::SIGNING_KEY,
    )
    .expect("a context");
    let store = &ctx.store;
    futures::stream::iter(0..CUSTOMERS)
        .map(|i| {
            let provider = provider.id.clone();
            async move {
                let account = shared::model::Account::create(
                    shared::model::NewAccount {
                        name: format!("Customer {i}"),
                        email_domain: None,
                        country: None,
                        language: None,
                    },
                    shared::model::Instant::now(),
                )
                .expect("account");
                store.create(&account).await.expect("write account");
                let pa = shared::model::ProviderAccount::create(
                    provider,
                    account.id.clone(),
                    &shared::model::NewProviderAccount {
                        provider_specific_id: format!("tenant-{i:06}"),
                        name: format!("Customer {i}"),
                        ..Default::default()
                    },
                    shared::model::Instant::now(),
                )
                .expect("provider account");
                store.create(&pa).await.expect("write provider account");
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    store
        .add_provider_accounts(&provider.id, CUSTOMERS as u64)
        .await
        .expect("count");

    let job = start_job(&api, &template).await;
    // Cancel once it is under way.
    for _ in 0..600 {
        let j = api.get(&format!("/bulk-jobs/{job}")).await;
        if j.body["status"] == "running" {
            break;
        }
        assert_eq!(j.body["status"], "queued", "{:?}", j.body);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let c = cancel(&api, &job).await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.body);
    assert_eq!(c.body["status"], "cancelled");
    assert!(c.body["finished_at"].is_string());
    assert_eq!(
        c.header("etag"),
        Some(format!("\"{}\"", c.body["version"]).as_str())
    );
    // The job has ended: a second cancel is refused.
    cancel(&api, &job).await.assert_problem(409, "conflict");

    // The chunk under way finishes and is counted; then nothing moves.
    let mut stable = 0;
    let mut last = (u64::MAX, u64::MAX);
    for _ in 0..240 {
        let j = api.get(&format!("/bulk-jobs/{job}")).await;
        assert_eq!(j.body["status"], "cancelled", "{:?}", j.body);
        let now = (processed(&j.body), agreements_of(&api, &template).await);
        stable = if now == last && now.0 == now.1 {
            stable + 1
        } else {
            0
        };
        last = now;
        if stable >= 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(
        stable >= 6,
        "the job's counts and the table never settled: {last:?}"
    );
    let (counted, in_table) = last;
    assert_eq!(
        counted, in_table,
        "created + skipped + failed is what the table holds"
    );
    assert!(
        in_table < CUSTOMERS as u64,
        "the job stopped early: {in_table} of {CUSTOMERS}"
    );
    assert!(
        in_table > 0,
        "the chunk under way at the cancel was finished and counted"
    );

    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        agreements_of(&api, &template).await,
        in_table,
        "no agreement after the cancel settled"
    );
    let j = api.get(&format!("/bulk-jobs/{job}")).await;
    assert_eq!(
        (j.body["status"].clone(), processed(&j.body)),
        (json!("cancelled"), in_table)
    );
    assert_eq!(j.body["cancelled_by"], c.body["cancelled_by"]);
    let listed = api.all("/bulk-jobs?status=cancelled").await;
    assert_eq!(listed.iter().map(id).collect::<Vec<_>>(), vec![job.clone()]);
    // It left the open jobs the sweep reads.
    let open = integration_tests::dynamodb()
        .await
        .query()
        .table_name(api.stack.table_name())
        .index_name("GSI1")
        .key_condition_expression("GSI1PK = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S("OPEN_JOBS".into()),
        )
        .send()
        .await
        .expect("query");
    assert_eq!(open.count, 0);
}
