//! The HTTP contract of docs/api.md driven over HTTP against the local stack:
//! the main flow, the status codes of every refusal, and what a refusal leaves behind (nothing).

use integration_tests::api::{
    customer_token, expired_token, forged_token, id, roleless_token, staff_token, Api,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_account_template_agreement_deactivate_history() {
    let api = Api::start().await;
    let b = api.basics().await;
    assert_eq!(b.template["state"], "active");
    assert_eq!(b.template["version"], 1);
    assert_eq!(
        b.account["email_domain"]
            .as_str()
            .map(|d| d.ends_with(".example")),
        Some(true)
    );

    let created = api
        .post(
            "/agreements",
            json!({"template_id": id(&b.template), "account_id": id(&b.account), "executed_on": "2026-11-25"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let agreement = created.body;
    for (field, expected) in [
        ("status", json!("pending")),
        ("name", b.template["name"].clone()),
        ("provider_id", b.provider["id"].clone()),
        ("document_version", json!("2024-01")),
        ("executed_on", json!("2026-11-25")),
        ("signed_by", Value::Null),
        ("signed_on", Value::Null),
        ("source", json!("manual")),
        ("version", json!(1)),
    ] {
        assert_eq!(agreement[field], expected, "{field}");
    }
    let aid = id(&agreement);

    let mut read = api.get(&format!("/agreements/{aid}")).await;
    assert_eq!(read.status, StatusCode::OK);
    // One agreement read also says which billing contracts it is tagged on.
    assert_eq!(read.body["billing_contract_ids"], json!([]));
    read.body
        .as_object_mut()
        .map(|o| o.remove("billing_contract_ids"));
    assert_eq!(read.body, agreement);

    let listed = api
        .all(&format!("/agreements?account_id={}", id(&b.account)))
        .await;
    assert_eq!(listed, vec![agreement.clone()]);
    let by_status = api
        .all(&format!(
            "/agreements?template_id={}&status=pending",
            id(&b.template)
        ))
        .await;
    assert_eq!(by_status.len(), 1);
    assert!(api
        .all(&format!(
            "/agreements?account_id={}&status=accepted",
            id(&b.account)
        ))
        .await
        .is_empty());

    let deactivated = api
        .post(
            &format!("/agreements/{aid}/deactivate"),
            json!({"reason": "Customer cancelled"}),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{:?}", deactivated.body);
    assert_eq!(deactivated.body["status"], "inactive");
    assert_eq!(deactivated.body["version"], 2);
    assert_eq!(deactivated.header("etag"), Some("\"2\""));
    // Kept, never deleted.
    assert_eq!(
        api.get(&format!("/agreements/{aid}")).await.body["status"],
        "inactive"
    );

    let history = api.get(&format!("/agreements/{aid}/history")).await;
    assert_eq!(history.status, StatusCode::OK);
    let events = history.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let actions: Vec<&Value> = events.iter().map(|e| &e["action"]).collect();
    assert_eq!(actions, vec!["created", "deactivated"]);
    assert_eq!(events[1]["from_status"], "pending");
    assert_eq!(events[1]["to_status"], "inactive");
    assert_eq!(events[1]["reason"], "Customer cancelled");
    assert_eq!(events[1]["actor"]["kind"], "staff");
    assert_eq!(events[1]["actor"]["subject"], "staff-test");
    assert!(events[1]["at"].is_string());

    // The slot is free again: a new agreement of the template for the account.
    let again = api
        .post(
            "/agreements",
            json!({"template_id": id(&b.template), "account_id": id(&b.account)}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert_ne!(id(&again.body), aid);
    assert_eq!(
        api.all(&format!("/agreements?account_id={}", id(&b.account)))
            .await
            .len(),
        2
    );
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_conflicts_are_409() {
    let api = Api::start().await;
    let b = api.basics().await;
    let body = json!({"template_id": id(&b.template), "account_id": id(&b.account)});
    let first = api.create("/agreements", body.clone()).await;

    let second = api.post("/agreements", body.clone()).await;
    second.assert_problem(409, "conflict");
    assert_eq!(second.body["existing_id"], first["id"]);

    let path = format!("/agreements/{}/deactivate", id(&first));
    assert_eq!(
        api.call(Method::POST, &path, Some(&staff_token()), None)
            .await
            .status,
        StatusCode::OK
    );
    api.call(Method::POST, &path, Some(&staff_token()), None)
        .await
        .assert_problem(409, "conflict");

    let tid = id(&b.template);
    api.call(
        Method::POST,
        &format!("/agreement-templates/{tid}/activate"),
        Some(&staff_token()),
        None,
    )
    .await
    .assert_problem(409, "conflict");
    let off = api
        .call(
            Method::POST,
            &format!("/agreement-templates/{tid}/deactivate"),
            Some(&staff_token()),
            None,
        )
        .await;
    assert_eq!(off.body["state"], "inactive");
    api.post("/agreements", body)
        .await
        .assert_problem(409, "conflict");
    api.call(
        Method::POST,
        &format!("/agreement-templates/{tid}/create-agreements"),
        Some(&staff_token()),
        None,
    )
    .await
    .assert_problem(409, "conflict");
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_match_is_412_and_a_fresh_one_applies() {
    let api = Api::start().await;
    let b = api.basics().await;
    let path = format!("/agreement-templates/{}", id(&b.template));
    let patch = |if_match: &str, body: Value| {
        api.request(Method::PATCH, &path)
            .bearer_auth(staff_token())
            .header("if-match", if_match.to_string())
            .json(&body)
    };
    let ok = api
        .send(patch("\"1\"", json!({"document_version": "2024-06"})))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["document_version"], "2024-06");
    assert_eq!(ok.header("etag"), Some("\"2\""));
    let stale = api.send(patch("1", json!({"name": "Renamed"}))).await;
    stale.assert_problem(412, "precondition_failed");
    assert_eq!(
        api.get(&path).await.body["name"],
        b.template["name"],
        "nothing changed"
    );

    let agreement = api
        .create(
            "/agreements",
            json!({"template_id": id(&b.template), "account_id": id(&b.account)}),
        )
        .await;
    assert_eq!(
        agreement["document_version"], "2024-06",
        "the template's version when made"
    );
    let stale = api
        .send(
            api.request(
                Method::POST,
                &format!("/agreements/{}/deactivate", id(&agreement)),
            )
            .bearer_auth(staff_token())
            .header("if-match", "\"7\""),
        )
        .await;
    stale.assert_problem(412, "precondition_failed");
    assert_eq!(
        api.get(&format!("/agreements/{}", id(&agreement)))
            .await
            .body["status"],
        "pending"
    );
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_404() {
    let api = Api::start().await;
    let b = api.basics().await;
    let nobody = ulid::Ulid::new().to_string();
    for path in [
        format!("/providers/{nobody}"),
        format!("/accounts/{nobody}"),
        format!("/accounts/{nobody}/contacts"),
        format!("/agreement-templates/{nobody}"),
        format!("/agreements/{nobody}"),
        format!("/agreements/{nobody}/history"),
        format!("/bulk-jobs/{nobody}"),
        "/agreements/not-an-id".to_string(),
        "/providers/..%2F..%2Fetc".to_string(),
    ] {
        api.get(&path).await.assert_problem(404, "not_found");
    }
    api.post(&format!("/agreements/{nobody}/deactivate"), json!({}))
        .await
        .assert_problem(404, "not_found");
    api.post(
        "/agreements",
        json!({"template_id": nobody, "account_id": id(&b.account)}),
    )
    .await
    .assert_problem(404, "not_found");
    api.post(
        "/agreements",
        json!({"template_id": id(&b.template), "account_id": nobody}),
    )
    .await
    .assert_problem(404, "not_found");
    api.post(
        "/agreement-templates",
        json!({"name": "X", "template_id": "x", "provider_id": nobody, "document_version": "1",
               "effective_date": "2024-01-01", "agreement_link": "https://example.com/x"}),
    )
    .await
    .assert_problem(404, "not_found");
    api.post(
        &format!("/accounts/{nobody}/contacts"),
        json!({"first_name": "A", "last_name": "B", "email": "a@b.example"}),
    )
    .await
    .assert_problem(404, "not_found");
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_roles() {
    let api = Api::start().await;
    let b = api.basics().await;
    let customer = customer_token(&id(&b.account), &id(&b.contact));
    for (token, status, code) in [
        (None, 401, "unauthorized"),
        (Some(expired_token()), 401, "unauthorized"),
        (Some(forged_token()), 401, "unauthorized"),
        (Some("not.a.jwt".to_string()), 401, "unauthorized"),
        // A customer's token is not of the staff identity provider: API Gateway refuses it.
        (Some(customer.clone()), 401, "unauthorized"),
        (Some(roleless_token()), 403, "forbidden"),
    ] {
        for (method, path) in [
            (Method::GET, "/providers".to_string()),
            (Method::POST, "/agreements".to_string()),
            (Method::GET, format!("/accounts/{}", id(&b.account))),
            (
                Method::POST,
                format!("/agreement-templates/{}/deactivate", id(&b.template)),
            ),
        ] {
            let body = (method == Method::POST)
                .then(|| json!({"template_id": id(&b.template), "account_id": id(&b.account)}));
            let answer = api
                .call(method.clone(), &path, token.as_deref(), body)
                .await;
            if status == 401 {
                // API Gateway's JWT authorizer answers before any function runs.
                answer.assert_gateway_unauthorized();
            } else {
                answer.assert_problem(status, code);
            }
        }
    }
    assert_eq!(
        api.get(&format!("/agreement-templates/{}", id(&b.template)))
            .await
            .body["state"],
        "active",
        "no refused request changed anything"
    );
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_problem_and_writes_nothing() {
    let api = Api::start().await;
    let b = api.basics().await;
    let before = api.item_count().await;
    let raw = |method: Method, path: &str, content_type: Option<&str>, body: String| {
        let mut r = api
            .request(method, path)
            .bearer_auth(staff_token())
            .body(body);
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        r
    };
    let json_ct = Some("application/json");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (raw(Method::POST, "/providers", json_ct, "{\"name\": ".into()), 400, "validation_failed"),
        (raw(Method::POST, "/providers", json_ct, "[1,2]".into()), 400, "validation_failed"),
        (raw(Method::POST, "/providers", json_ct, json!({"name": 5, "kind": "manual"}).to_string()), 400, "validation_failed"),
        (raw(Method::POST, "/providers", json_ct, json!({"name": "P", "kind": "sometimes"}).to_string()), 400, "validation_failed"),
        (raw(Method::POST, "/providers", json_ct, json!({"name": "P", "kind": "manual", "colour": "red"}).to_string()), 400, "validation_failed"),
        (raw(Method::POST, "/providers", json_ct, json!({"name": "  ", "kind": "manual"}).to_string()), 400, "validation_failed"),
        (raw(Method::POST, "/providers", json_ct, String::new()), 400, "validation_failed"),
        (raw(Method::POST, "/providers", Some("text/plain"), json!({"name": "P", "kind": "manual"}).to_string()), 415, "unsupported_media_type"),
        (raw(Method::POST, "/providers", None, json!({"name": "P", "kind": "manual"}).to_string()), 415, "unsupported_media_type"),
        (raw(Method::POST, "/providers", json_ct, json!({"name": "x".repeat(70_000), "kind": "manual"}).to_string()), 413, "payload_too_large"),
        (raw(Method::POST, "/accounts", json_ct, json!({"name": "A", "email_domain": "not a domain"}).to_string()), 400, "validation_failed"),
        (raw(Method::POST, &format!("/accounts/{}/contacts", id(&b.account)), json_ct, json!({"first_name": "A", "last_name": "B", "email": "nope"}).to_string()), 400, "validation_failed"),
        (raw(Method::POST, "/agreement-templates", json_ct, json!({"name": "T", "template_id": "t", "provider_id": id(&b.provider), "document_version": "1", "effective_date": "2024-13-01", "agreement_link": "https://example.com"}).to_string()), 400, "validation_failed"),
        (raw(Method::POST, "/agreement-templates", json_ct, json!({"name": "T", "template_id": "t", "provider_id": id(&b.provider), "document_version": "1", "effective_date": "2024-01-01", "agreement_link": "javascript:alert(1)"}).to_string()), 400, "validation_failed"),
        (raw(Method::PATCH, &format!("/agreement-templates/{}", id(&b.template)), json_ct, json!({"provider_id": id(&b.provider)}).to_string()), 400, "validation_failed"),
        (raw(Method::PATCH, &format!("/agreement-templates/{}", id(&b.template)), json_ct, json!({"expires_on": "2020-01-01"}).to_string()), 400, "validation_failed"),
        (raw(Method::POST, "/agreements", json_ct, json!({"template_id": id(&b.template), "account_id": id(&b.account), "executed_on": "yesterday"}).to_string()), 400, "validation_failed"),
        (raw(Method::POST, "/agreements", json_ct, json!({"template_id": id(&b.template)}).to_string()), 400, "validation_failed"),
        (raw(Method::POST, &format!("/agreement-templates/{}/deactivate", id(&b.template)), json_ct, "{oops".into()), 400, "validation_failed"),
        (raw(Method::GET, "/providers?limit=0", None, String::new()), 400, "validation_failed"),
        (raw(Method::GET, "/providers?limit=501", None, String::new()), 400, "validation_failed"),
        (raw(Method::GET, "/providers?limit=ten", None, String::new()), 400, "validation_failed"),
        (raw(Method::GET, "/providers?cursor=forged", None, String::new()), 400, "validation_failed"),
        (raw(Method::GET, "/providers?cursor=eyJQSyI6IlBST1ZJREVSI1gifQ.AAAAAAAAAAAAAAAAAAAAAA", None, String::new()), 400, "validation_failed"),
        (raw(Method::GET, "/agreements?acount_id=x", None, String::new()), 400, "validation_failed"),
        (raw(Method::GET, "/agreements?status=signed", None, String::new()), 400, "validation_failed"),
        (raw(Method::GET, "/agreements?account_id=not-an-id", None, String::new()), 400, "validation_failed"),
        (raw(Method::GET, "/agreement-templates?state=paused", None, String::new()), 400, "validation_failed"),
    ];
    for (i, (request, status, code)) in cases.into_iter().enumerate() {
        let answer = api.send(request).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "case {i}: {:?}",
            answer.body
        );
        answer.assert_problem(status, code);
    }
    assert_eq!(
        api.item_count().await,
        before,
        "no refused request wrote anything"
    );
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_walk_a_list_once_and_only_their_own_list() {
    let api = Api::start().await;
    for i in 0..7 {
        api.create("/accounts", json!({"name": format!("Account {i}")}))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/accounts?limit=3&cursor={c}"),
            None => "/accounts?limit=3".to_string(),
        };
        let page = api.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        let items = page.body["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(id));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (7, 7));

    let first = api.get("/accounts?limit=3").await;
    let borrowed = first.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    api.get(&format!("/providers?cursor={borrowed}"))
        .await
        .assert_problem(400, "validation_failed");
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_make_one_agreement() {
    let api = Api::start().await;
    let b = api.basics().await;
    let body = json!({"template_id": id(&b.template), "account_id": id(&b.account)});
    for _ in 0..3 {
        let answers =
            futures::future::join_all((0..6).map(|_| api.post("/agreements", body.clone()))).await;
        let created: Vec<&Value> = answers
            .iter()
            .filter(|a| a.status == StatusCode::CREATED)
            .map(|a| &a.body)
            .collect();
        assert_eq!(created.len(), 1, "exactly one create wins");
        for loser in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
            loser.assert_problem(409, "conflict");
            assert_eq!(loser.body["existing_id"], created[0]["id"]);
        }
        let open = api
            .all(&format!(
                "/agreements?account_id={}&status=pending",
                id(&b.account)
            ))
            .await;
        assert_eq!(open.len(), 1);
        api.post(
            &format!("/agreements/{}/deactivate", id(created[0])),
            json!({}),
        )
        .await;
    }
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_confirms_accept_once_with_evidence() {
    let api = Api::start().await;
    let b = api.basics().await;
    let agreement = api
        .create(
            "/agreements",
            json!({"template_id": id(&b.template), "account_id": id(&b.account)}),
        )
        .await;
    let token = customer_token(&id(&b.account), &id(&b.contact));
    let path = format!("/portal/agreements/{}/confirm", id(&agreement));
    let answers = futures::future::join_all((0..50).map(|i| {
        let request = api
            .request(Method::POST, &path)
            .bearer_auth(&token)
            .header("user-agent", format!("portal-test/{i}"));
        api.send(request)
    }))
    .await;
    let ok: Vec<_> = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .collect();
    assert_eq!(ok.len(), 1, "exactly one confirm wins");
    for other in answers.iter().filter(|a| a.status != StatusCode::OK) {
        other.assert_problem(409, "conflict");
    }
    let accepted = &ok[0].body;
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["signed_by"], b.contact["id"]);
    assert!(accepted["signed_on"].is_string());

    let history = api
        .get(&format!("/agreements/{}/history", id(&agreement)))
        .await;
    let events = history.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // (The provider syncs with Partner Center, so the worker may add its attestation's outcome.)
    let accepted_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "accepted")
        .collect();
    assert_eq!(
        accepted_events.len(),
        1,
        "one acceptance recorded: {events:?}"
    );
    assert_eq!(events[0]["action"], "created");
    let evidence = &events[1]["details"];
    assert_eq!(events[1]["action"], "accepted");
    assert_eq!(evidence["who"]["contact_id"], b.contact["id"]);
    assert_eq!(evidence["who"]["name"], "Ada Lovelace");
    assert_eq!(evidence["who"]["email"], "ada@contoso.example");
    assert!(evidence["when"].is_string());
    assert_eq!(evidence["from"]["source_ip"], "127.0.0.1");
    assert!(evidence["from"]["user_agent"]
        .as_str()
        .is_some_and(|u| u.starts_with("portal-test/")));
    assert_eq!(evidence["what"]["template_id"], b.template["id"]);
    assert_eq!(evidence["what"]["template_version"], "2024-01");
    assert_eq!(
        evidence["what"]["agreement_link"],
        "https://example.com/mca"
    );

    // The customer now sees it accepted; staff deactivating it hides it from the portal.
    let mine = api
        .call(Method::GET, "/portal/agreements", Some(&token), None)
        .await;
    assert_eq!(mine.body["items"][0]["status"], "accepted");
    api.post(
        &format!("/agreements/{}/deactivate", id(&agreement)),
        json!({}),
    )
    .await;
    let mine = api
        .call(Method::GET, "/portal/agreements", Some(&token), None)
        .await;
    assert_eq!(mine.body["items"], json!([]));
    api.call(
        Method::GET,
        &format!("/portal/agreements/{}", id(&agreement)),
        Some(&token),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_contracts_tag_only_their_accounts_agreements() {
    let api = Api::start().await;
    let b = api.basics().await;
    let other = api.create("/accounts", json!({"name": "Fabrikam"})).await;
    let mine = api
        .create(
            "/agreements",
            json!({"template_id": id(&b.template), "account_id": id(&b.account)}),
        )
        .await;
    let theirs = api
        .create(
            "/agreements",
            json!({"template_id": id(&b.template), "account_id": id(&other)}),
        )
        .await;
    let contract = api
        .create(
            "/billing-contracts",
            json!({"account_id": id(&b.account), "name": "Contoso annual", "start_date": "2026-12-01"}),
        )
        .await;
    let cid = id(&contract);
    let tagged = api
        .post(
            &format!("/billing-contracts/{cid}/agreements"),
            json!({"agreement_id": id(&mine)}),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::OK, "{:?}", tagged.body);
    assert_eq!(tagged.body["agreement_ids"], json!([id(&mine)]));
    api.post(
        &format!("/billing-contracts/{cid}/agreements"),
        json!({"agreement_id": id(&theirs)}),
    )
    .await
    .assert_problem(409, "conflict");
    assert_eq!(
        api.get(&format!("/agreements/{}", id(&mine))).await.body["billing_contract_ids"],
        json!([cid])
    );
    let untag = api
        .call(
            Method::DELETE,
            &format!("/billing-contracts/{cid}/agreements/{}", id(&mine)),
            Some(&staff_token()),
            None,
        )
        .await;
    assert_eq!(untag.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get(&format!("/billing-contracts/{cid}")).await.body["agreement_ids"],
        json!([])
    );
    let kept = api.get(&format!("/agreements/{}", id(&mine))).await;
    assert_eq!(
        (kept.status, kept.body["status"].clone()),
        (StatusCode::OK, json!("pending"))
    );
    api.post(
        "/billing-contracts",
        json!({"account_id": id(&b.account), "name": "Backwards", "start_date": "2026-12-01", "end_date": "2026-01-01"}),
    )
    .await
    .assert_problem(400, "validation_failed");
    api.stack.shutdown().await;
}
