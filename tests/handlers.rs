//! Each function's handler fed its own `events/` fixture (a real API Gateway v2 event) against a
//! fresh table on the local endpoint.

use std::sync::Arc;

use integration_tests::{fixtures, fresh_context, workspace_root};
use lambda_http::{Body, Request, Response};
use shared::entrypoints::http::handlers::{accounts, agreements, providers, templates};
use shared::entrypoints::http::{dispatch, Reply};
use shared::{AppContext, ServiceResult};

fn event(name: &str) -> Request {
    let path = workspace_root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    lambda_http::request::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not an API Gateway event: {e}", path.display()))
}

fn body(response: &Response<Body>) -> serde_json::Value {
    match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::Null),
        Body::Binary(b) => serde_json::from_slice(b).unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    }
}

async fn run<F, Fut>(
    name: &str,
    handler: F,
    with_agreement: bool,
) -> (Arc<AppContext>, Response<Body>)
where
    F: Fn(Arc<AppContext>, Request) -> Fut,
    Fut: std::future::Future<Output = ServiceResult<Reply>>,
{
    let ctx = fresh_context().await;
    fixtures::seed(&ctx, with_agreement).await;
    let response = dispatch(handler, ctx.clone(), event(name)).await;
    (ctx, response)
}

fn assert_status(name: &str, response: &Response<Body>, expected: u16) {
    assert_eq!(
        response.status().as_u16(),
        expected,
        "{name}: {}",
        body(response)
    );
}

#[tokio::test]
async fn provider_fixtures() {
    let (_, r) = run("create-provider", providers::create_provider, false).await;
    assert_status("create-provider", &r, 201);
    assert_eq!(body(&r)["platform"], "microsoft_partner_center");
    assert_eq!(r.headers()["etag"], "\"1\"");

    let (_, r) = run("get-provider", providers::get_provider, false).await;
    assert_status("get-provider", &r, 200);
    assert_eq!(body(&r)["id"], fixtures::PROVIDER);

    let (_, r) = run("list-providers", providers::list_providers, false).await;
    assert_status("list-providers", &r, 200);
    assert_eq!(body(&r)["items"][0]["id"], fixtures::PROVIDER);
}

#[tokio::test]
async fn account_and_contact_fixtures() {
    let (_, r) = run("create-account", accounts::create_account, false).await;
    assert_status("create-account", &r, 201);
    assert_eq!(body(&r)["email_domain"], "contoso.com");

    let (_, r) = run("get-account", accounts::get_account, false).await;
    assert_status("get-account", &r, 200);

    let (_, r) = run("list-accounts", accounts::list_accounts, false).await;
    assert_status("list-accounts", &r, 200);
    assert_eq!(body(&r)["items"][0]["id"], fixtures::ACCOUNT);

    let (_, r) = run("create-contact", accounts::create_contact, false).await;
    assert_status("create-contact", &r, 201);
    assert_eq!(body(&r)["account_id"], fixtures::ACCOUNT);

    let (_, r) = run("list-contacts", accounts::list_contacts, false).await;
    assert_status("list-contacts", &r, 200);
    assert_eq!(body(&r)["items"][0]["id"], fixtures::CONTACT);
}

#[tokio::test]
async fn patch_fixtures() {
    let (ctx, r) = run("update-provider", providers::update_provider, false).await;
    assert_status("update-provider", &r, 200);
    assert_eq!(body(&r)["attestation_method"], "legacy");
    assert_eq!(r.headers()["etag"], "\"2\"");
    let id = shared::model::Id::parse(fixtures::PROVIDER).expect("id");
    let stored: shared::model::Provider = ctx.store.by_id(&id).await.expect("read").expect("there");
    assert_eq!((stored.name.as_str(), stored.version), ("Microsoft", 2));

    let (ctx, r) = run("update-account", accounts::update_account, false).await;
    assert_status("update-account", &r, 200);
    assert_eq!(body(&r)["email_domain"], "contoso.de");
    assert_eq!(body(&r)["version"], 2);
    // The domain index follows the account's domain.
    let by_new = ctx
        .store
        .accounts_by_domain("contoso.de", 2)
        .await
        .expect("query");
    assert_eq!(by_new.len(), 1);
    let by_old = ctx
        .store
        .accounts_by_domain("contoso.com", 2)
        .await
        .expect("query");
    assert!(by_old.is_empty(), "{by_old:?}");

    let (ctx, r) = run("update-contact", accounts::update_contact, false).await;
    assert_status("update-contact", &r, 200);
    assert_eq!(body(&r)["primary"], true);
    assert_eq!(body(&r)["phone"], "+49 30 1234567");
    let account = shared::model::Id::parse(fixtures::ACCOUNT).expect("id");
    let primary = ctx
        .store
        .primary_contact(&account)
        .await
        .expect("read")
        .expect("one");
    assert_eq!(primary.id.as_str(), fixtures::CONTACT);
    assert!(primary.primary);
}

#[tokio::test]
async fn template_fixtures() {
    let (_, r) = run("create-template", templates::create_template, false).await;
    assert_status("create-template", &r, 201);
    assert_eq!(body(&r)["state"], "active");

    let (_, r) = run("get-template", templates::get_template, false).await;
    assert_status("get-template", &r, 200);

    let (_, r) = run("list-templates", templates::list_templates, false).await;
    assert_status("list-templates", &r, 200);
    assert_eq!(body(&r)["items"][0]["id"], fixtures::TEMPLATE);

    let (_, r) = run("update-template", templates::update_template, false).await;
    assert_status("update-template", &r, 200);
    assert_eq!(body(&r)["document_version"], "2024-06");
    assert_eq!(body(&r)["version"], 2);

    let (_, r) = run("deactivate-template", templates::deactivate_template, false).await;
    assert_status("deactivate-template", &r, 200);
    assert_eq!(body(&r)["state"], "inactive");

    // The seeded template is active: the activate fixture runs after a deactivation.
    let ctx = fresh_context().await;
    fixtures::seed(&ctx, false).await;
    let r = dispatch(
        templates::deactivate_template,
        ctx.clone(),
        event("deactivate-template"),
    )
    .await;
    assert_status("deactivate-template", &r, 200);
    let r = dispatch(
        templates::activate_template,
        ctx,
        event("activate-template"),
    )
    .await;
    assert_status("activate-template", &r, 200);
    assert_eq!(body(&r)["state"], "active");
    assert_eq!(body(&r)["version"], 3);
}

#[tokio::test]
async fn agreement_fixtures() {
    let (_, r) = run("create-agreement", agreements::create_agreement, false).await;
    assert_status("create-agreement", &r, 201);
    assert_eq!(body(&r)["status"], "pending");
    assert_eq!(body(&r)["provider_id"], fixtures::PROVIDER);
    assert_eq!(body(&r)["executed_on"], "2026-11-25");

    let (_, r) = run("get-agreement", agreements::get_agreement, true).await;
    assert_status("get-agreement", &r, 200);

    let (_, r) = run("list-agreements", agreements::list_agreements, true).await;
    assert_status("list-agreements", &r, 200);
    assert_eq!(body(&r)["items"][0]["id"], fixtures::AGREEMENT);

    let (ctx, r) = run(
        "deactivate-agreement",
        agreements::deactivate_agreement,
        true,
    )
    .await;
    assert_status("deactivate-agreement", &r, 200);
    assert_eq!(body(&r)["status"], "inactive");

    let r = dispatch(
        agreements::agreement_history,
        ctx,
        event("agreement-history"),
    )
    .await;
    assert_status("agreement-history", &r, 200);
    let events = body(&r)["items"].as_array().cloned().unwrap_or_default();
    let actions: Vec<_> = events.iter().map(|e| e["action"].clone()).collect();
    assert_eq!(actions, vec!["created", "deactivated"]);
    assert_eq!(events[1]["reason"], "Customer cancelled their services");
}

#[test]
fn every_function_has_a_fixture_and_every_fixture_a_function() {
    let root = workspace_root();
    let mut functions: Vec<String> = std::fs::read_dir(root.join("functions"))
        .expect("functions/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    functions.sort();
    for f in &functions {
        let has = std::fs::read_dir(root.join("events"))
            .expect("events/")
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with(f.as_str()));
        assert!(has, "functions/{f} has no sample event in events/");
    }
}

/// A context whose bulk queue is a real queue of its own.
async fn with_queue(ctx: Arc<AppContext>) -> (Arc<AppContext>, String) {
    let sqs = integration_tests::sqs().await;
    let url = sqs
        .create_queue()
        .queue_name(integration_tests::unique("fixture"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .unwrap_or_default();
    let mut ctx = (*ctx).clone();
    ctx.bulk_queue = Some(shared::queue::BulkQueue::new(sqs, url.clone()));
    (Arc::new(ctx), url)
}

#[tokio::test]
async fn provider_account_and_bulk_fixtures() {
    use shared::entrypoints::http::handlers::{bulk_jobs, provider_accounts};

    let (_, r) = run(
        "create-provider-account",
        provider_accounts::create_provider_account,
        false,
    )
    .await;
    assert_status("create-provider-account", &r, 201);
    assert_eq!(
        body(&r)["account_id"],
        fixtures::ACCOUNT,
        "matched by e-mail domain"
    );

    let (ctx, r) = run(
        "import-provider-accounts",
        provider_accounts::import_provider_accounts,
        false,
    )
    .await;
    assert_status("import-provider-accounts", &r, 200);
    assert_eq!(body(&r)["created"], 2);
    assert_eq!(body(&r)["failed"][0]["row"], 3);

    let r = dispatch(
        provider_accounts::list_provider_accounts,
        ctx.clone(),
        event("list-provider-accounts"),
    )
    .await;
    assert_status("list-provider-accounts", &r, 200);
    assert_eq!(body(&r)["items"].as_array().map(Vec::len), Some(2));

    let (ctx, queue_url) = with_queue(ctx).await;
    let r = dispatch(
        bulk_jobs::create_agreements,
        ctx.clone(),
        event("create-agreements"),
    )
    .await;
    assert_status("create-agreements", &r, 202);
    let job_id = body(&r)["job_id"].as_str().unwrap_or_default().to_string();

    // The worker, fed the message the API queued, in the shape of events/bulk-worker.json.
    let text =
        std::fs::read_to_string(workspace_root().join("events/bulk-worker.json")).expect("fixture");
    let mut sqs_event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&text).expect("an SQS event");
    let queued = integration_tests::sqs()
        .await
        .receive_message()
        .queue_url(&queue_url)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(queued.len(), 1);
    sqs_event.records[0].body = queued[0].body.clone();
    let response = shared::entrypoints::sqs::handle_batch(
        &ctx,
        &shared::connectors::Unconfigured,
        Default::default(),
        sqs_event,
    )
    .await;
    assert!(response.batch_item_failures.is_empty());

    // The fixture names a job of its own; this one asks for the job just run.
    let get = event("get-bulk-job");
    let params = std::collections::HashMap::from([("id".to_string(), job_id.clone())]);
    let get = lambda_http::RequestExt::with_path_parameters(get, params);
    let r = dispatch(bulk_jobs::get_bulk_job, ctx, get).await;
    assert_status("get-bulk-job", &r, 200);
    assert_eq!(body(&r)["status"], "completed");
    // Both provider accounts are the fixture account's: one agreement, one skip.
    assert_eq!(body(&r)["total"], 2);
    assert_eq!(body(&r)["created"], 1);
    assert_eq!(body(&r)["skipped"], 1);
}

#[tokio::test]
async fn portal_fixtures() {
    use shared::entrypoints::http::handlers::portal;

    let (_, r) = run("list-portal-agreements", portal::list_own_agreements, true).await;
    assert_status("list-portal-agreements", &r, 200);
    assert_eq!(body(&r)["items"][0]["id"], fixtures::AGREEMENT);
    assert_eq!(body(&r)["items"][0]["display_inline"], false);

    let (_, r) = run("get-portal-agreement", portal::get_own_agreement, true).await;
    assert_status("get-portal-agreement", &r, 200);
    assert!(body(&r)["agreement_link"]
        .as_str()
        .is_some_and(|l| l.starts_with("https://")));

    let (ctx, r) = run("confirm-agreement", portal::confirm_agreement, true).await;
    assert_status("confirm-agreement", &r, 200);
    assert_eq!(body(&r)["status"], "accepted");
    assert_eq!(body(&r)["signed_by"], fixtures::CONTACT);
    let again = dispatch(portal::confirm_agreement, ctx, event("confirm-agreement")).await;
    assert_status("confirm-agreement twice", &again, 409);

    let (_, r) = run("portal-page", portal::portal_page, false).await;
    assert_status("portal-page", &r, 200);
    assert_eq!(
        r.headers()["content-type"].to_str().ok(),
        Some("text/html; charset=utf-8")
    );
}

/// Seeds the fixture billing contract.
async fn seed_contract(ctx: &AppContext) {
    let input: shared::model::NewBillingContract = serde_json::from_value(serde_json::json!({
        "account_id": fixtures::ACCOUNT, "name": "Contoso annual", "start_date": "2026-12-01"
    }))
    .expect("contract input");
    let mut contract = shared::model::BillingContract::create(
        shared::model::Id::parse(fixtures::ACCOUNT).expect("id"),
        &input,
        shared::model::Instant::now(),
    )
    .expect("contract");
    contract.id = shared::model::Id::parse(fixtures::CONTRACT).expect("id");
    ctx.store.create(&contract).await.expect("seed contract");
}

#[tokio::test]
async fn billing_contract_fixtures() {
    use shared::entrypoints::http::handlers::billing_contracts;

    let (_, r) = run(
        "create-billing-contract",
        billing_contracts::create_contract,
        false,
    )
    .await;
    assert_status("create-billing-contract", &r, 201);
    assert_eq!(body(&r)["agreement_ids"], serde_json::json!([]));

    let ctx = fresh_context().await;
    fixtures::seed(&ctx, true).await;
    seed_contract(&ctx).await;
    let r = dispatch(
        billing_contracts::tag_agreement,
        ctx.clone(),
        event("tag-agreement"),
    )
    .await;
    assert_status("tag-agreement", &r, 200);
    assert_eq!(
        body(&r)["agreement_ids"],
        serde_json::json!([fixtures::AGREEMENT])
    );

    let r = dispatch(
        billing_contracts::get_contract,
        ctx.clone(),
        event("get-billing-contract"),
    )
    .await;
    assert_status("get-billing-contract", &r, 200);
    assert_eq!(
        body(&r)["agreement_ids"],
        serde_json::json!([fixtures::AGREEMENT])
    );

    let r = dispatch(
        agreements::get_agreement,
        ctx.clone(),
        event("get-agreement"),
    )
    .await;
    assert_eq!(
        body(&r)["billing_contract_ids"],
        serde_json::json!([fixtures::CONTRACT])
    );

    let r = dispatch(
        billing_contracts::untag_agreement,
        ctx.clone(),
        event("untag-agreement"),
    )
    .await;
    assert_status("untag-agreement", &r, 204);
    let r = dispatch(agreements::get_agreement, ctx, event("get-agreement")).await;
    assert_status("get-agreement after untag", &r, 200);
    assert_eq!(body(&r)["billing_contract_ids"], serde_json::json!([]));
}

#[tokio::test]
async fn provisioning_sync_and_schedule_fixtures() {
    use fake_partner_center::{self as fake, FakePartnerCenter};
    use shared::connectors::partner_center::{PartnerCenterClient, PartnerCenterConfig};
    use shared::connectors::Connector;
    use shared::entrypoints::http::handlers::provisioning;

    let pc = FakePartnerCenter::start()
        .await
        .expect("fake Partner Center");
    pc.add_customer(
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "Contoso",
        "contoso.com",
    );
    let env = [
        ("PARTNER_CENTER_TENANT_ID", fake::TENANT_ID.to_string()),
        ("PARTNER_CENTER_CLIENT_ID", fake::CLIENT_ID.to_string()),
        (
            "PARTNER_CENTER_CLIENT_SECRET",
            fake::CLIENT_SECRET.to_string(),
        ),
        ("PARTNER_CENTER_BASE_URL", pc.base_url().to_string()),
        ("PARTNER_CENTER_TOKEN_URL", pc.token_url()),
    ];
    let config = PartnerCenterConfig::from_lookup(|name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .expect("config");
    let ctx = fresh_context().await;
    fixtures::seed(&ctx, false).await;
    let (ctx, queue_url) = with_queue(ctx).await;

    // Without a connection to the provider's platform a sync cannot run: refused at once.
    let r = dispatch(
        providers::sync_provider,
        ctx.clone(),
        event("sync-provider"),
    )
    .await;
    assert_status("sync-provider without a connection", &r, 409);
    assert!(
        body(&r)["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no connection configured")),
        "{}",
        body(&r)
    );

    let mut ctx = (*ctx).clone();
    ctx.connector =
        Connector::PartnerCenter(Box::new(PartnerCenterClient::new(config).expect("client")));
    let ctx = Arc::new(ctx);

    let r = dispatch(
        provisioning::provision_account,
        ctx.clone(),
        event("provision-account"),
    )
    .await;
    assert_status("provision-account", &r, 201);
    assert_eq!(body(&r)["agreement"]["status"], "accepted");
    assert_eq!(
        pc.agreements("3f2504e0-4f89-11d3-9a0c-0305e82c3301").len(),
        1
    );

    let r = dispatch(
        providers::sync_provider,
        ctx.clone(),
        event("sync-provider"),
    )
    .await;
    assert_status("sync-provider", &r, 202);

    let text = std::fs::read_to_string(workspace_root().join("events/scheduled-sync.json"))
        .expect("fixture");
    let schedule: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let queued = shared::entrypoints::schedule::handle_schedule(&ctx, &schedule)
        .await
        .expect("scheduled sync");
    assert_eq!(
        queued["jobs"].as_array().map(Vec::len),
        Some(1),
        "one automatic provider"
    );

    // Both sync jobs' first messages are on the queue, for the worker.
    let messages = integration_tests::sqs()
        .await
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m
        .body
        .as_deref()
        .is_some_and(|b| b.contains("\"sync_provider\""))));
}
