//! Provisioning, provider sync and acceptance push against a fake Partner Center (a real HTTP
//! server on loopback), through the local API and the queue worker.

use std::time::Duration;

use fake_partner_center::{self as fake, FakePartnerCenter, Fault};
use integration_tests::api::{customer_token, id, staff_token, Api};
use integration_tests::fake_partner_center::{stack_for, tenant};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shared::connectors::{AgreementContact, ProviderAgreement};

async fn stack_with(pc: &FakePartnerCenter, page_size: usize) -> Api {
    stack_for(pc, &[("PartnerCenterPageSize", page_size.to_string())]).await
}

/// A Partner Center provider (Direct CSP) with an active MCA template, attesting the legacy way
/// (the enhanced attestation has tests of its own: tests/attestation.rs).
async fn direct_csp(api: &Api) -> (Value, Value) {
    let provider = api
        .create(
            "/providers",
            json!({"name": "Microsoft Partner Center", "kind": "automatic",
                   "platform": "microsoft_partner_center", "syncs_agreements": true,
                   "attestation_method": "legacy"}),
        )
        .await;
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

async fn account_with_contact(api: &Api, name: &str, domain: &str) -> (Value, Value) {
    let account = api
        .create("/accounts", json!({"name": name, "email_domain": domain}))
        .await;
    let contact = api
        .create(
            &format!("/accounts/{}/contacts", id(&account)),
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": format!("ada@{domain}")}),
        )
        .await;
    (account, contact)
}

/// A fresh tenant id in a GUID's shape.
/// A customer known on both sides: an account (with a contact) on a fresh domain, and a Partner
/// Center customer of its own tenant. Returns the account, the contact and the tenant.
async fn customer_of_both(api: &Api, pc: &FakePartnerCenter, name: &str) -> (Value, Value, String) {
    let s = ulid::Ulid::new().to_string().to_lowercase();
    let lower = name.to_lowercase();
    let (account, contact) = account_with_contact(api, name, &format!("{lower}-{s}.example")).await;
    let t = tenant();
    pc.add_customer(&t, name, &format!("{lower}-{s}.onmicrosoft.com"));
    (account, contact, t)
}

async fn history(api: &Api, agreement_id: &str) -> Vec<Value> {
    api.get(&format!("/agreements/{agreement_id}/history"))
        .await
        .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_confirms_in_partner_center_first_and_records_its_answer() {
    let pc = FakePartnerCenter::start()
        .await
        .expect("fake Partner Center");
    let api = stack_with(&pc, 100).await;
    let (provider, template) = direct_csp(&api).await;
    let (account, contact, t) = customer_of_both(&api, &pc, "Contoso").await;

    let body = json!({"provider_id": id(&provider), "provider_specific_id": t,
                      "template_id": id(&template), "executed_on": "2026-11-20"});
    let made = api
        .post(
            &format!("/accounts/{}/provision", id(&account)),
            body.clone(),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let agreement = &made.body["agreement"];
    assert_eq!(agreement["status"], "accepted");
    assert_eq!(agreement["source"], "provisioning");
    assert_eq!(agreement["executed_on"], "2026-11-20");
    assert_eq!(agreement["signed_by"], contact["id"]);
    assert_eq!(agreement["signed_on"], "2026-11-20");
    assert_eq!(
        made.body["provider_account"]["provider_specific_id"],
        json!(t)
    );
    assert_eq!(made.body["provider_account"]["account_id"], account["id"]);

    let held = pc.agreements(&t);
    assert_eq!(held.len(), 1, "confirmed in Partner Center: {held:?}");
    assert_eq!(held[0]["templateId"], fake::MCA_TEMPLATE_ID);
    assert_eq!(held[0]["primaryContact"]["email"], contact["email"]);
    let events = history(&api, &id(agreement)).await;
    let actions: Vec<&Value> = events.iter().map(|e| &e["action"]).collect();
    assert_eq!(actions, vec!["created", "accepted"]);
    assert_eq!(events[1]["source"], "partner_center");

    // Again for the same account and template: the open agreement is in the way.
    api.post(&format!("/accounts/{}/provision", id(&account)), body)
        .await
        .assert_problem(409, "conflict");
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_center_failure_leaves_nothing_half_made() {
    let pc = FakePartnerCenter::start()
        .await
        .expect("fake Partner Center");
    let api = stack_with(&pc, 100).await;
    let (provider, template) = direct_csp(&api).await;
    let (account, _, t) = customer_of_both(&api, &pc, "Fabrikam").await;
    let path = format!("/v1/customers/{t}/agreements");
    pc.inject(&path, 100, Fault::ServerError);
    let body = json!({"provider_id": id(&provider), "provider_specific_id": t,
                      "template_id": id(&template), "executed_on": "2026-11-20"});
    let failed = api
        .post(
            &format!("/accounts/{}/provision", id(&account)),
            body.clone(),
        )
        .await;
    failed.assert_problem(502, "provider_failed");
    assert!(api
        .all(&format!("/agreements?account_id={}", id(&account)))
        .await
        .is_empty());
    assert!(api
        .all(&format!("/provider-accounts?account_id={}", id(&account)))
        .await
        .is_empty());

    // A tenant Partner Center does not know is refused, with its reason.
    let unknown = json!({"provider_id": id(&provider), "provider_specific_id": tenant(),
                         "template_id": id(&template), "executed_on": "2026-11-20"});
    let refused = api
        .post(&format!("/accounts/{}/provision", id(&account)), unknown)
        .await;
    refused.assert_problem(502, "provider_failed");
    assert!(api
        .all(&format!("/agreements?account_id={}", id(&account)))
        .await
        .is_empty());
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_sync_links_customers_creates_pending_agreements_and_pulls_acceptance() {
    let pc = FakePartnerCenter::start()
        .await
        .expect("fake Partner Center");
    let api = stack_with(&pc, 3).await;
    let (provider, template) = direct_csp(&api).await;
    let s = ulid::Ulid::new().to_string().to_lowercase();
    let mut tenants = Vec::new();
    for i in 0..5 {
        let domain = format!("c{i}-{s}.example");
        account_with_contact(&api, &format!("Customer {i}"), &domain).await;
        let t = tenant();
        pc.add_customer(&t, &format!("Customer {i}"), &domain);
        tenants.push(t);
    }
    // Two customers no single account matches: never guessed.
    pc.add_customer(&tenant(), "Nobody", &format!("nobody-{s}.example"));
    api.twin_accounts(&format!("twin-{s}.example")).await;
    pc.add_customer(&tenant(), "Twins", &format!("twin-{s}.example"));
    // Customer 1 signed the MCA itself in the Microsoft admin center.
    pc.set_direct_signed(&tenants[1], true);
    // Customer 0 accepted in Partner Center, signed by someone the account does not know yet.
    pc.add_agreement(
        &tenants[0],
        &ProviderAgreement {
            template_id: fake::MCA_TEMPLATE_ID.into(),
            agreement_type: "MicrosoftCustomerAgreement".into(),
            date_agreed: "2026-10-01T00:00:00Z".into(),
            primary_contact: Some(AgreementContact {
                first_name: "Grace".into(),
                last_name: "Hopper".into(),
                email: format!("grace@c0-{s}.example"),
                phone_number: None,
            }),
        },
    );

    let started = api
        .call(
            Method::POST,
            &format!("/providers/{}/sync", id(&provider)),
            Some(&staff_token()),
            None,
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let job = api
        .wait_for_job(started.body["job_id"].as_str().unwrap_or_default())
        .await;
    assert_eq!(job["status"], "completed", "{job:?}");
    assert_eq!(job["kind"], "provider_sync");
    assert_eq!(
        (
            job["created"].clone(),
            job["skipped"].clone(),
            job["failed"].clone(),
            job["accepted"].clone()
        ),
        (json!(5), json!(0), json!(2), json!(2)),
        "{job:?}"
    );
    let reasons: Vec<String> = job["unmatched"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|u| u["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(reasons.len(), 2);
    assert!(reasons.iter().any(|r| r.contains("no account")));
    assert!(reasons.iter().any(|r| r.contains("several accounts")));
    // Every page of customers was read, following the continuation (3 per page).
    let pages = pc
        .requests()
        .iter()
        .filter(|r| {
            r.path.starts_with("/v1/customers")
                && !r.path.contains("/agreements")
                && r.method == "GET"
        })
        .count();
    assert!(pages >= 3, "{pages} customer pages");

    let made = api
        .all(&format!("/agreements?template_id={}", id(&template)))
        .await;
    assert_eq!(made.len(), 5);
    let mut accepted: Vec<&Value> = made.iter().filter(|a| a["status"] == "accepted").collect();
    assert_eq!(
        accepted.len(),
        2,
        "one attested by the partner, one signed directly"
    );
    // The partner's attestation (dated 2026-10-01) first.
    accepted.sort_by_key(|a| a["signed_on"] != json!("2026-10-01"));
    assert_eq!(accepted[0]["signed_on"], "2026-10-01");
    assert!(made.iter().all(|a| a["source"] == "provider_sync"));
    let signer = accepted[0]["signed_by"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let contacts = api
        .all(&format!(
            "/accounts/{}/contacts",
            accepted[0]["account_id"].as_str().unwrap_or_default()
        ))
        .await;
    assert!(
        contacts
            .iter()
            .any(|c| c["id"] == json!(signer)
                && c["email"] == json!(format!("grace@c0-{s}.example"))),
        "the signer was made from Partner Center's primary contact"
    );
    let events = history(&api, &id(accepted[0])).await;
    assert_eq!(
        events.last().map(|e| e["source"].clone()),
        Some(json!("partner_center"))
    );

    // Again: nothing new.
    let again = api
        .call(
            Method::POST,
            &format!("/providers/{}/sync", id(&provider)),
            Some(&staff_token()),
            None,
        )
        .await;
    let job = api
        .wait_for_job(again.body["job_id"].as_str().unwrap_or_default())
        .await;
    assert_eq!(
        (
            job["created"].clone(),
            job["skipped"].clone(),
            job["accepted"].clone()
        ),
        (json!(0), json!(5), json!(0)),
        "{job:?}"
    );
    api.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_confirmation_is_attested_to_partner_center_through_the_queue() {
    let pc = FakePartnerCenter::start()
        .await
        .expect("fake Partner Center");
    let api = stack_with(&pc, 100).await;
    let (provider, template) = direct_csp(&api).await;
    let s = ulid::Ulid::new().to_string().to_lowercase();

    // Three customers: a plain one, one Partner Center already holds (600061), one it refuses.
    let mut cases = Vec::new();
    for (i, known) in [(0, true), (1, true), (2, false)] {
        let (account, contact) =
            account_with_contact(&api, &format!("C{i}"), &format!("p{i}-{s}.example")).await;
        let t = tenant();
        if known {
            pc.add_customer(&t, &format!("C{i}"), &format!("p{i}-{s}.example"));
        }
        api.create("/provider-accounts", json!({"provider_id": id(&provider), "provider_specific_id": t,
                                               "name": format!("C{i}"), "account_id": id(&account)})).await;
        let agreement = api
            .create(
                "/agreements",
                json!({"template_id": id(&template), "account_id": id(&account)}),
            )
            .await;
        cases.push((account, contact, t, agreement));
    }
    // Partner Center already holds customer 1's acceptance by the same person: 600061.
    let (_, c1, t1, _) = &cases[1];
    pc.add_agreement(
        t1,
        &ProviderAgreement {
            template_id: fake::MCA_TEMPLATE_ID.into(),
            agreement_type: "MicrosoftCustomerAgreement".into(),
            date_agreed: "2026-11-25T00:00:00Z".into(),
            primary_contact: Some(AgreementContact {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                email: c1["email"].as_str().unwrap_or_default().to_string(),
                phone_number: None,
            }),
        },
    );
    // Throttling on the first try of customer 0 is waited out.
    pc.inject(
        &format!("/v1/customers/{}/agreements", cases[0].2),
        1,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );

    for (account, contact, _, agreement) in &cases {
        let token = customer_token(&id(account), &id(contact));
        let ok = api
            .call(
                Method::POST,
                &format!("/portal/agreements/{}/confirm", id(agreement)),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    }
    let mut outcomes = Vec::new();
    for (_, _, _, agreement) in &cases {
        let mut last = None;
        for _ in 0..100 {
            let events = history(&api, &id(agreement)).await;
            // The attestation's outcome (the receipt e-mail may land before or after it).
            last = events
                .iter()
                .rev()
                .map(|e| e["action"].as_str().unwrap_or_default().to_string())
                .find(|a| a == "attested" || a == "attestation_failed");
            if matches!(
                last.as_deref(),
                Some("attested") | Some("attestation_failed")
            ) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        outcomes.push(last.unwrap_or_default());
    }
    assert_eq!(outcomes, vec!["attested", "attested", "attestation_failed"]);
    assert_eq!(
        pc.agreements(&cases[0].2).len(),
        1,
        "customer 0 attested once"
    );
    assert_eq!(
        pc.agreements(&cases[1].2).len(),
        1,
        "600061 counted as success, nothing added"
    );
    // Refused for good: the agreement keeps its local state and staff see why.
    let kept = api.get(&format!("/agreements/{}", id(&cases[2].3))).await;
    assert_eq!(kept.body["status"], "accepted");
    api.stack.shutdown().await;
}
