//! Microsoft's enhanced attestation through the local stack (template.yaml's functions, the
//! bulk queue with delayed checks) against the fake Partner Center: staff start, the customer
//! accepts at the fake, the checks find it, the agreement is created in Partner Center and
//! accepted here with the evidence; expired links, 600061, refusals, throttling, provisioning,
//! the portal's 409 `attestation_required`, duplicate checks and the refusals of bad input.

use std::time::{Duration, Instant};

use fake_partner_center::{self as fake, FakePartnerCenter, Fault};
use integration_tests::api::{customer_token, id, Api};
use integration_tests::fake_partner_center::{stack_for, tenant};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shared::connectors::{AgreementContact, ProviderAgreement};
use shared::queue::{BulkQueue, JobMessage};

/// A stack pointed at the fake, checking open attestations every second.
async fn stack_with(pc: &FakePartnerCenter) -> Api {
    stack_for(
        pc,
        &[("PartnerCenterAttestationCheckSeconds", "1".to_string())],
    )
    .await
}

/// A Direct CSP provider (enhanced attestation by default) and its active MCA template.
async fn direct_csp(api: &Api, method: Option<&str>) -> (Value, Value) {
    let mut body = json!({"name": "Microsoft Partner Center", "kind": "automatic",
                          "platform": "microsoft_partner_center", "syncs_agreements": true});
    if let Some(m) = method {
        body["attestation_method"] = json!(m);
    }
    let provider = api.create("/providers", body).await;
    assert_eq!(
        provider["attestation_method"],
        json!(method.unwrap_or("enhanced"))
    );
    let template = api
        .create(
            "/agreement-templates",
            json!({"name": "Microsoft Customer Agreement", "template_id": fake::MCA_TEMPLATE_ID,
                   "provider_id": provider["id"], "document_version": "2024-01",
                   "effective_date": "2024-01-01", "agreement_link": "https://aka.ms/customeragreement"}),
        )
        .await;
    (provider, template)
}

struct Customer {
    account: Value,
    contact: Value,
    tenant: String,
}

/// An account (Germany, German) with a contact, linked to a Partner Center customer.
async fn customer(api: &Api, pc: &FakePartnerCenter, provider: &Value, link: bool) -> Customer {
    let s = ulid::Ulid::new().to_string().to_lowercase();
    let account = api
        .create(
            "/accounts",
            json!({"name": format!("Contoso {s}"), "email_domain": format!("c{s}.example"),
                   "country": "de", "language": "de_de"}),
        )
        .await;
    assert_eq!(account["country"], "DE");
    assert_eq!(account["language"], "de-DE");
    let contact = api
        .create(
            &format!("/accounts/{}/contacts", id(&account)),
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": format!("ada@c{s}.example"),
                   "phone": "+49 30 1234"}),
        )
        .await;
    let t = tenant();
    pc.add_customer(&t, "Contoso", &format!("c{s}.onmicrosoft.com"));
    if link {
        api.create(
            "/provider-accounts",
            json!({"provider_id": id(provider), "provider_specific_id": t, "name": "Contoso",
                   "account_id": id(&account)}),
        )
        .await;
    }
    Customer {
        account,
        contact,
        tenant: t,
    }
}

async fn agreement_of(api: &Api, template: &Value, c: &Customer) -> Value {
    api.create(
        "/agreements",
        json!({"template_id": id(template), "account_id": id(&c.account)}),
    )
    .await
}

async fn read(api: &Api, agreement: &str) -> Value {
    let a = api.get(&format!("/agreements/{agreement}")).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body
}

/// Reads the agreement until `done` holds (or fails after 60 s with what it holds).
async fn until(api: &Api, agreement: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = read(api, agreement).await;
        if done(&a) {
            return a;
        }
        assert!(Instant::now() < deadline, "{what}: {a:#}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn history(api: &Api, agreement: &str) -> Vec<Value> {
    api.all(&format!("/agreements/{agreement}/history")).await
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn fake_control(pc: &FakePartnerCenter, attestation_id: &str, action: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!(
            "{}/_fake/attestations/{attestation_id}/{action}",
            pc.base_url()
        ))
        .send()
        .await
        .expect("the fake answers")
        .status()
}

fn status_of(a: &Value) -> &str {
    a["attestation"]["status"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_start_the_customer_accepts_and_the_checks_accept_the_agreement_with_evidence() {
    let pc = FakePartnerCenter::start().await.expect("fake");
    pc.set_acceptance_lag(Duration::from_secs(2));
    let api = stack_with(&pc).await;
    let (provider, template) = direct_csp(&api, None).await;
    let c = customer(&api, &pc, &provider, true).await;
    let agreement = agreement_of(&api, &template, &c).await;
    let aid = id(&agreement);
    assert_eq!(agreement["attestation"], Value::Null);

    // The customer cannot confirm it here: Microsoft must see the acceptance.
    let token = customer_token(&id(&c.account), &id(&c.contact));
    let portal = api
        .call(
            Method::GET,
            &format!("/portal/agreements/{aid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        portal.body["attestation_required"], true,
        "{:?}",
        portal.body
    );
    api.call(
        Method::POST,
        &format!("/portal/agreements/{aid}/confirm"),
        Some(&token),
        None,
    )
    .await
    .assert_problem(409, "attestation_required");

    let started = api
        .post(&format!("/agreements/{aid}/attestation"), json!({}))
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    let attestation_id = started.body["attestation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(started.body["status"], "link_generated");
    assert_eq!(
        started.body["link"],
        json!(format!(
            "https://cdn.partner.microsoft.com/mca/?attestationid={attestation_id}"
        ))
    );
    assert!(started.body["expires_at"].is_string());
    // What Partner Center was told: the account's country and language, the signatory.
    let sent = pc.attestations();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["attestationId"], json!(attestation_id));
    assert_eq!(sent[0]["country"], "DE");
    assert_eq!(sent[0]["language"], "de-DE");
    assert_eq!(sent[0]["companyName"], c.account["name"]);
    assert_eq!(sent[0]["signatoryFirstName"], "Ada");
    assert_eq!(sent[0]["signatoryLastName"], "Lovelace");
    assert_eq!(sent[0]["signatoryEmail"], c.contact["email"]);
    assert_eq!(sent[0]["signatoryPhoneNumber"], "+49 30 1234");

    // The checks run while the customer has not accepted: nothing changes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = read(&api, &aid).await;
    assert_eq!(waiting["status"], "pending");
    assert_eq!(status_of(&waiting), "link_generated");
    assert!(pc.agreements(&c.tenant).is_empty());

    assert_eq!(
        fake_control(&pc, &attestation_id, "accept").await,
        StatusCode::OK
    );
    let accepted = until(&api, &aid, "accepted through the checks", |a| {
        a["status"] == "accepted"
    })
    .await;
    assert_eq!(status_of(&accepted), "agreement_created");
    assert_eq!(accepted["signed_by"], c.contact["id"]);
    let held = pc.agreements(&c.tenant);
    assert_eq!(held.len(), 1, "created in Partner Center once: {held:?}");
    assert_eq!(held[0]["attestationId"], json!(attestation_id));
    assert_eq!(held[0]["primaryContact"]["email"], c.contact["email"]);

    let events = history(&api, &aid).await;
    let acts = actions(&events);
    assert_eq!(
        &acts[..3],
        ["created", "attestation_started", "accepted"],
        "{acts:?}"
    );
    let accept = &events[2];
    assert_eq!(accept["source"], "partner_center");
    assert_eq!(
        accept["details"]["attestation"]["attestation_id"],
        json!(attestation_id)
    );
    assert_eq!(accept["details"]["signatory"]["email"], c.contact["email"]);
    assert_eq!(
        accept["details"]["partner_center"]["customer_id"],
        json!(c.tenant)
    );
    assert_eq!(accept["details"]["source"], "partner_center");
    // The receipt goes to the signing contact.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !actions(&history(&api, &aid).await).contains(&"receipt_sent".to_string()) {
        assert!(Instant::now() < deadline, "no receipt was sent");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The checks stop once the agreement is created.
    pc.clear_requests();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        pc.requests()
            .iter()
            .all(|r| !r.path.contains("/attestations/")),
        "no checks after the end: {:?}",
        pc.requests().iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    // Starting again is a conflict: it is accepted.
    api.post(&format!("/agreements/{aid}/attestation"), json!({}))
        .await
        .assert_problem(409, "conflict");
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_starting_twice_reuses_the_live_link_and_an_expired_one_is_replaced() {
    let pc = FakePartnerCenter::start().await.expect("fake");
    let api = stack_with(&pc).await;
    let (provider, template) = direct_csp(&api, None).await;
    let c = customer(&api, &pc, &provider, true).await;
    let aid = id(&agreement_of(&api, &template, &c).await);
    let token = customer_token(&id(&c.account), &id(&c.contact));
    let start = || async {
        api.call(
            Method::POST,
            &format!("/portal/agreements/{aid}/attestation"),
            Some(&token),
            None,
        )
        .await
    };
    // Two at once, then a third: one attestation stored, the same link for every answer.
    let (a, b) = tokio::join!(start(), start());
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!(b.status, StatusCode::CREATED, "{:?}", b.body);
    assert_eq!(a.body["attestation_id"], b.body["attestation_id"]);
    let again = start().await;
    assert_eq!(again.body["link"], a.body["link"]);
    let first = a.body["attestation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(a.body["contact_id"], c.contact["id"]);
    let starts = actions(&history(&api, &aid).await)
        .iter()
        .filter(|x| *x == "attestation_started")
        .count();
    assert_eq!(starts, 1);

    // The link expires: the checks record it, and stop.
    assert_eq!(fake_control(&pc, &first, "expire").await, StatusCode::OK);
    let expired = until(&api, &aid, "the expiry recorded", |a| {
        status_of(a) == "link_expired"
    })
    .await;
    assert_eq!(expired["status"], "pending");
    assert!(actions(&history(&api, &aid).await).contains(&"attestation_expired".to_string()));
    // The customer cannot accept an expired link at Microsoft either.
    assert_eq!(
        fake_control(&pc, &first, "accept").await,
        StatusCode::CONFLICT
    );

    // The next start makes a new one, which the customer accepts.
    let renewed = start().await;
    assert_eq!(renewed.status, StatusCode::CREATED, "{:?}", renewed.body);
    let second = renewed.body["attestation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(second, first);
    assert_eq!(renewed.body["status"], "link_generated");
    assert_eq!(fake_control(&pc, &second, "accept").await, StatusCode::OK);
    let done = until(&api, &aid, "accepted", |a| a["status"] == "accepted").await;
    assert_eq!(done["attestation"]["attestation_id"], json!(second));
    assert_eq!(pc.agreements(&c.tenant).len(), 1);
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_fails_visibly_a_refresh_recovers_and_600061_counts_as_done() {
    let pc = FakePartnerCenter::start().await.expect("fake");
    let api = stack_with(&pc).await;
    let (provider, template) = direct_csp(&api, None).await;

    // Refused by Partner Center when the agreement is created.
    let c = customer(&api, &pc, &provider, true).await;
    let aid = id(&agreement_of(&api, &template, &c).await);
    let started = api
        .post(&format!("/agreements/{aid}/attestation"), json!({}))
        .await;
    let attestation_id = started.body["attestation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Refused however often it is asked (a redelivered check asks again) until the cause is fixed.
    pc.inject(
        &format!("/v1/customers/{}/agreements", c.tenant),
        100,
        Fault::Status {
            status: 400,
            body: json!({"code": 700123, "description": "The customer is not eligible.",
                         "errorName": "CustomerNotEligible", "isRetryable": false}),
        },
    );
    assert!(pc.accept_attestation(&attestation_id));
    let failed = until(&api, &aid, "the refusal recorded", |a| {
        status_of(a) == "failed"
    })
    .await;
    assert_eq!(
        failed["status"], "pending",
        "nothing accepted that Partner Center refused"
    );
    assert_eq!(failed["attestation"]["detail"]["code"], "700123");
    assert!(failed["attestation"]["detail"]["description"]
        .as_str()
        .is_some_and(|d| d.contains("not eligible")));
    let events = history(&api, &aid).await;
    let refusal = events
        .iter()
        .find(|e| e["action"] == "attestation_failed")
        .expect("a history event");
    assert_eq!(refusal["details"]["partner_center"]["code"], "700123");
    assert!(pc.agreements(&c.tenant).is_empty());
    // Staff ask again once the cause is fixed: Microsoft still holds the acceptance.
    pc.clear_faults();
    let refreshed = api
        .post(&format!("/agreements/{aid}/attestation/refresh"), json!({}))
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{:?}", refreshed.body);
    assert_eq!(refreshed.body["status"], "agreement_created");
    assert_eq!(read(&api, &aid).await["status"], "accepted");

    // Partner Center holds the agreement already (600061): done, nothing added.
    let d = customer(&api, &pc, &provider, true).await;
    pc.add_agreement(
        &d.tenant,
        &ProviderAgreement {
            template_id: fake::MCA_TEMPLATE_ID.into(),
            agreement_type: "MicrosoftCustomerAgreement".into(),
            date_agreed: "2026-11-20T00:00:00Z".into(),
            primary_contact: Some(AgreementContact {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                email: d.contact["email"].as_str().unwrap_or_default().into(),
                phone_number: Some("+49 30 1234".into()),
            }),
        },
    );
    let did = id(&agreement_of(&api, &template, &d).await);
    let s = api
        .post(&format!("/agreements/{did}/attestation"), json!({}))
        .await;
    assert!(pc.accept_attestation(s.body["attestation_id"].as_str().unwrap_or_default()));
    let done = until(&api, &did, "accepted after 600061", |a| {
        a["status"] == "accepted"
    })
    .await;
    assert_eq!(status_of(&done), "agreement_created");
    assert_eq!(
        done["signed_on"], "2026-11-20",
        "the date Partner Center holds"
    );
    assert_eq!(pc.agreements(&d.tenant).len(), 1, "nothing added");
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_storms_and_outages_are_waited_out_through_the_queue() {
    let pc = FakePartnerCenter::start().await.expect("fake");
    let api = stack_with(&pc).await;
    let (provider, template) = direct_csp(&api, None).await;
    let c = customer(&api, &pc, &provider, true).await;
    let aid = id(&agreement_of(&api, &template, &c).await);

    // A start during an outage (every attempt of the call fails) answers 502 and writes nothing.
    pc.inject("/v1/attestations/enhanced", 4, Fault::ServerError);
    let before = read(&api, &aid).await;
    api.post(&format!("/agreements/{aid}/attestation"), json!({}))
        .await
        .assert_problem(502, "provider_failed");
    assert_eq!(read(&api, &aid).await["version"], before["version"]);
    pc.clear_requests();
    // Throttled more often than one call retries: the start still gets through.
    pc.inject(
        "/v1/attestations/enhanced",
        2,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let started = api
        .post(&format!("/agreements/{aid}/attestation"), json!({}))
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{:?}", started.body);
    let attestation_id = started.body["attestation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // A storm on the status and on the creation: more 429s and 500s than a call's attempts.
    let status_path = format!("/v1/attestations/enhanced/{attestation_id}");
    pc.inject(
        &status_path,
        6,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    pc.inject(
        &format!("/v1/customers/{}/agreements", c.tenant),
        5,
        Fault::ServerError,
    );
    // A refresh in the storm answers 502 and changes nothing.
    let mid = read(&api, &aid).await;
    let r = api
        .post(&format!("/agreements/{aid}/attestation/refresh"), json!({}))
        .await;
    if r.status == StatusCode::BAD_GATEWAY {
        r.assert_problem(502, "provider_failed");
        assert_eq!(read(&api, &aid).await["status"], mid["status"]);
    }
    assert!(pc.accept_attestation(&attestation_id));
    let done = until(&api, &aid, "accepted after the storm", |a| {
        a["status"] == "accepted"
    })
    .await;
    assert_eq!(status_of(&done), "agreement_created");
    assert_eq!(pc.agreements(&c.tenant).len(), 1, "created once");
    let throttled = pc
        .requests()
        .iter()
        .filter(|r| r.path == status_path)
        .count();
    assert!(throttled >= 6, "the storm was met: {throttled}");
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_starts_the_attestation_and_a_duplicate_check_does_nothing() {
    let pc = FakePartnerCenter::start().await.expect("fake");
    let api = stack_with(&pc).await;
    let (provider, template) = direct_csp(&api, None).await;
    let c = customer(&api, &pc, &provider, false).await;
    let made = api
        .post(
            &format!("/accounts/{}/provision", id(&c.account)),
            json!({"provider_id": id(&provider), "provider_specific_id": c.tenant,
                   "template_id": id(&template), "executed_on": "2026-11-20"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let agreement = &made.body["agreement"];
    let aid = id(agreement);
    assert_eq!(
        agreement["status"], "pending",
        "accepted only once Microsoft has it"
    );
    assert_eq!(status_of(agreement), "link_generated");
    let attestation_id = agreement["attestation"]["attestation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(pc.attestations().len(), 1);
    assert!(pc.agreements(&c.tenant).is_empty());
    // The link goes to the customer: the portal link e-mail.
    let email = c.contact["email"].as_str().unwrap_or_default().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !api.stack.outbox().iter().any(|m| m.to.contains(&email)) {
        assert!(
            Instant::now() < deadline,
            "no e-mail to the signing contact"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Checks of another number, or of another attestation, are stale: they do nothing.
    let sqs = integration_tests::sqs().await;
    let queue = BulkQueue::new(
        sqs,
        api.stack.queue_url("BulkQueue").expect("the bulk queue"),
    );
    let before = read(&api, &aid).await;
    let stored = before["attestation"]["check"].as_u64().unwrap_or_default();
    pc.clear_requests();
    for message in [
        JobMessage::follow_attestation(&aid, &attestation_id, stored + 5),
        JobMessage::follow_attestation(&aid, "00000000-0000-4000-8000-000000000000", stored),
    ] {
        queue.send(&message).await.expect("sent");
    }
    assert!(pc.accept_attestation(&attestation_id));
    let done = until(&api, &aid, "accepted", |a| a["status"] == "accepted").await;
    assert_eq!(done["source"], "provisioning");
    assert_eq!(pc.agreements(&c.tenant).len(), 1, "created once");
    assert!(
        pc.requests()
            .iter()
            .all(|r| !r.path.contains("00000000-0000-4000-8000-000000000000")),
        "a stale check never reaches Partner Center"
    );
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_agreements_without_attestation_are_refused_and_change_nothing() {
    let pc = FakePartnerCenter::start().await.expect("fake");
    let api = stack_with(&pc).await;
    let (provider, template) = direct_csp(&api, None).await;
    for bad in [
        json!({"name": "X", "country": "XX"}),
        json!({"name": "X", "country": "DEU"}),
        json!({"name": "X", "language": "english"}),
        json!({"name": "X", "language": "en-"}),
    ] {
        api.post("/accounts", bad)
            .await
            .assert_problem(400, "validation_failed");
    }
    let c = customer(&api, &pc, &provider, true).await;
    let aid = id(&agreement_of(&api, &template, &c).await);
    // Not an agreement Microsoft accepts this way: another template; a legacy provider.
    let other = api
        .create(
            "/agreement-templates",
            json!({"name": "Partner terms", "template_id": "partner-terms",
                   "provider_id": provider["id"], "document_version": "1",
                   "effective_date": "2024-01-01", "agreement_link": "https://example.com/t"}),
        )
        .await;
    let plain = id(&agreement_of(&api, &other, &c).await);
    let (legacy, legacy_template) = direct_csp(&api, Some("legacy")).await;
    let l = customer(&api, &pc, &legacy, true).await;
    let legacy_agreement = id(&agreement_of(&api, &legacy_template, &l).await);
    // An account without its country and language.
    let bare = api.create("/accounts", json!({"name": "Bare"})).await;
    api.create(
        &format!("/accounts/{}/contacts", id(&bare)),
        json!({"first_name": "B", "last_name": "C", "email": "b@bare.example"}),
    )
    .await;
    api.create(
        "/provider-accounts",
        json!({"provider_id": id(&provider), "provider_specific_id": tenant(), "name": "Bare",
               "account_id": id(&bare)}),
    )
    .await;
    let bare_agreement = id(&api
        .create(
            "/agreements",
            json!({"template_id": id(&template), "account_id": id(&bare)}),
        )
        .await);

    let count = api.item_count().await;
    api.post(
        &format!("/agreements/{aid}/attestation"),
        json!({"contact": "x"}),
    )
    .await
    .assert_problem(400, "validation_failed");
    api.post(
        &format!("/agreements/{aid}/attestation"),
        json!({"contact_id": id(&l.contact)}),
    )
    .await
    .assert_problem(404, "not_found");
    api.post(
        "/agreements/01J9AGREEMENTSAGREEMENT0001/attestation",
        json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    api.post(&format!("/agreements/{aid}/attestation/refresh"), json!({}))
        .await
        .assert_problem(409, "conflict");
    let request = api
        .request(Method::POST, &format!("/agreements/{aid}/attestation"))
        .bearer_auth(integration_tests::api::staff_token())
        .header("content-type", "text/plain")
        .body("hello");
    api.send(request)
        .await
        .assert_problem(415, "unsupported_media_type");
    for agreement in [&plain, &legacy_agreement, &bare_agreement] {
        api.post(&format!("/agreements/{agreement}/attestation"), json!({}))
            .await
            .assert_problem(409, "conflict");
    }
    // A customer of another account sees no such agreement.
    let stranger = customer_token(&id(&l.account), &id(&l.contact));
    api.call(
        Method::POST,
        &format!("/portal/agreements/{aid}/attestation"),
        Some(&stranger),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(api.item_count().await, count, "nothing was written");
    assert!(
        pc.attestations().is_empty(),
        "nothing reached Partner Center"
    );
    for agreement in [&aid, &plain, &legacy_agreement, &bare_agreement] {
        let a = read(&api, agreement).await;
        assert_eq!(a["attestation"], Value::Null);
        assert_eq!(a["version"], 1);
    }
    // A legacy provider's customer still confirms on the portal.
    let token = customer_token(&id(&l.account), &id(&l.contact));
    let ok = api
        .call(
            Method::POST,
            &format!("/portal/agreements/{legacy_agreement}/confirm"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    api.stack.shutdown().await;
}
