//! Who may call what: every route of template.yaml × every kind of caller, each cell asserted.
//!
//! The contract (docs/api.md, "Who is calling"): no or bad credentials → API Gateway's own 401
//! (`{"message":"Unauthorized"}`, before any function runs); the
//! other role's route → 403; a customer reaching another account's id → 404 (never 403, and
//! nothing of the record in the answer). `GET /portal` is public. The table below must name every
//! route of the template: a route added without a row fails this test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Instant;

use integration_tests::api::{customer_token, expired_token, forged_token, id, staff_token, Api};
use integration_tests::{unique, workspace_root};
use local_stack::template::{RouteAuth, Template};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Expired,
    Forged,
    Staff,
    CustomerA,
    CustomerB,
    /// A's contact with a portal link staff made.
    LinkA,
    /// A portal link of A's that staff revoked.
    RevokedLink,
    /// A's portal link token with its signature changed.
    TamperedLink,
}

const CALLERS: [Caller; 9] = [
    Caller::NoToken,
    Caller::Expired,
    Caller::Forged,
    Caller::Staff,
    Caller::CustomerA,
    Caller::CustomerB,
    Caller::LinkA,
    Caller::RevokedLink,
    Caller::TamperedLink,
];

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Caller::NoToken => "no token",
            Caller::Expired => "expired",
            Caller::Forged => "forged",
            Caller::Staff => "staff",
            Caller::CustomerA => "customer A",
            Caller::CustomerB => "customer B",
            Caller::LinkA => "portal link of A",
            Caller::RevokedLink => "revoked portal link",
            Caller::TamperedLink => "tampered portal link",
        })
    }
}

/// Who a route is for, and what its success is.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Staff only; staff succeeds with this status.
    Staff(u16),
    /// Customers only (`/portal/...`), scoped to their own account.
    Portal,
    /// The same, where the customer's own request gets this status from the route itself (an
    /// agreement the route does not apply to: e.g. Microsoft's attestation of a non-MCA one).
    PortalAnswers(u16),
    /// No token needed (the portal page).
    Public,
}

struct Route {
    method: &'static str,
    path: &'static str,
    access: Access,
}

const fn route(method: &'static str, path: &'static str, access: Access) -> Route {
    Route {
        method,
        path,
        access,
    }
}

/// Every route of template.yaml. A new route needs a row here (the test checks both ways).
const ROUTES: &[Route] = &[
    route("POST", "/providers", Access::Staff(201)),
    route("GET", "/providers", Access::Staff(200)),
    route("GET", "/providers/{id}", Access::Staff(200)),
    route("PATCH", "/providers/{id}", Access::Staff(200)),
    // This stack has no provider connection: staff get past the authorizer to the route's
    // own refusal (tests/sync.rs runs syncs on a stack with the fake Partner Center).
    route("POST", "/providers/{id}/sync", Access::Staff(409)),
    route("POST", "/accounts", Access::Staff(201)),
    route("GET", "/accounts", Access::Staff(200)),
    route("GET", "/accounts/{id}", Access::Staff(200)),
    route("PATCH", "/accounts/{id}", Access::Staff(200)),
    route(
        "PATCH",
        "/accounts/{id}/contacts/{contact_id}",
        Access::Staff(200),
    ),
    route("POST", "/accounts/{id}/contacts", Access::Staff(201)),
    route("GET", "/accounts/{id}/contacts", Access::Staff(200)),
    route("POST", "/accounts/{id}/provision", Access::Staff(201)),
    route("POST", "/agreement-templates", Access::Staff(201)),
    route("GET", "/agreement-templates", Access::Staff(200)),
    route("GET", "/agreement-templates/{id}", Access::Staff(200)),
    route("PATCH", "/agreement-templates/{id}", Access::Staff(200)),
    route(
        "POST",
        "/agreement-templates/{id}/activate",
        Access::Staff(200),
    ),
    route(
        "POST",
        "/agreement-templates/{id}/deactivate",
        Access::Staff(200),
    ),
    route(
        "POST",
        "/agreement-templates/{id}/create-agreements",
        Access::Staff(202),
    ),
    route("GET", "/bulk-jobs/{id}", Access::Staff(200)),
    route("GET", "/bulk-jobs", Access::Staff(200)),
    // The world's job has ended by the time the matrix runs: staff get past the authorizer to
    // the route's own refusal (tests/staff.rs cancels running jobs).
    route("POST", "/bulk-jobs/{id}/cancel", Access::Staff(409)),
    route(
        "POST",
        "/agreement-templates/{id}/versions",
        Access::Staff(201),
    ),
    route(
        "GET",
        "/agreement-templates/{id}/versions",
        Access::Staff(200),
    ),
    route("POST", "/exports", Access::Staff(202)),
    route("GET", "/exports/{id}", Access::Staff(200)),
    route("POST", "/agreements", Access::Staff(201)),
    route("GET", "/agreements", Access::Staff(200)),
    route("GET", "/agreements/{id}", Access::Staff(200)),
    route("POST", "/agreements/{id}/deactivate", Access::Staff(200)),
    route("GET", "/agreements/{id}/history", Access::Staff(200)),
    route("POST", "/provider-accounts", Access::Staff(201)),
    route("GET", "/provider-accounts", Access::Staff(200)),
    route("POST", "/provider-accounts/import", Access::Staff(200)),
    route("POST", "/billing-contracts", Access::Staff(201)),
    route("GET", "/billing-contracts", Access::Staff(200)),
    route("GET", "/billing-contracts/{id}", Access::Staff(200)),
    route(
        "POST",
        "/billing-contracts/{id}/agreements",
        Access::Staff(200),
    ),
    route(
        "DELETE",
        "/billing-contracts/{id}/agreements/{agreement_id}",
        Access::Staff(204),
    ),
    route("GET", "/portal/agreements", Access::Portal),
    route("GET", "/portal/agreements/{id}", Access::Portal),
    route("POST", "/portal/agreements/{id}/confirm", Access::Portal),
    route("POST", "/portal/agreements/{id}/decline", Access::Portal),
    route("POST", "/accounts/{id}/portal-links", Access::Staff(201)),
    route("GET", "/accounts/{id}/portal-links", Access::Staff(200)),
    route("POST", "/portal-links/{id}/revoke", Access::Staff(200)),
    route("POST", "/agreements/{id}/remind", Access::Staff(200)),
    // The world's template is not Partner Center's MCA: staff reach the route's own 409.
    route("POST", "/agreements/{id}/attestation", Access::Staff(409)),
    route(
        "POST",
        "/agreements/{id}/attestation/refresh",
        Access::Staff(409),
    ),
    route(
        "POST",
        "/portal/agreements/{id}/attestation",
        Access::PortalAnswers(409),
    ),
    route("GET", "/portal", Access::Public),
];

/// Every route of the template as the local stack reads it, (method, path) → whether it is public
/// (its event says `Auth: { Authorizer: NONE }`; every other route takes the default JWT authorizer).
fn template_routes() -> BTreeMap<(String, String), bool> {
    let template = Template::load(workspace_root().join("template.yaml")).expect("template.yaml");
    let mut routes = BTreeMap::new();
    for function in &template.functions {
        for event in &function.http_events {
            let public = event.auth == RouteAuth::Public;
            let route = (event.method.clone(), event.path.clone());
            assert!(
                routes.insert(route, public).is_none(),
                "{} {} is routed twice",
                event.method,
                event.path
            );
        }
    }
    routes
}

/// The records every path parameter names: all of account A, made by staff.
struct World {
    provider: String,
    account_a: String,
    contact_a: String,
    account_b: String,
    contact_b: String,
    template: String,
    agreement_a: String,
    agreement_a_name: String,
    contract_a: String,
    job: String,
    export: String,
    link_a: String,
    link_a_token: String,
    revoked_token: String,
}

async fn world(api: &Api) -> World {
    let b = api.basics().await;
    let provider = id(&b.provider);
    let account_a = id(&b.account);
    let contact_a = id(&b.contact);
    let template = id(&b.template);
    let account_b = id(&api
        .create(
            "/accounts",
            json!({"name": "Fabrikam Inc", "email_domain": format!("{}.example", unique("fabrikam"))}),
        )
        .await);
    let contact_b = id(&api
        .create(
            &format!("/accounts/{account_b}/contacts"),
            json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@fabrikam.example"}),
        )
        .await);
    let agreement_a_name = "Contoso only: Microsoft Customer Agreement".to_string();
    let agreement_a = id(&api
        .create(
            "/agreements",
            json!({"template_id": template, "account_id": account_a, "name": agreement_a_name}),
        )
        .await);
    let contract_a = id(&api
        .create(
            "/billing-contracts",
            json!({"account_id": account_a, "name": "Contoso annual", "start_date": "2026-01-01"}),
        )
        .await);
    let tagged = api
        .post(
            &format!("/billing-contracts/{contract_a}/agreements"),
            json!({"agreement_id": agreement_a}),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::OK, "{:?}", tagged.body);
    let provider_account_a = id(&api
        .create(
            "/provider-accounts",
            json!({"provider_id": provider, "provider_specific_id": ulid::Ulid::new().to_string(),
                   "name": "Contoso (Partner Center)", "account_id": account_a}),
        )
        .await);
    let queued = api
        .post(
            &format!("/agreement-templates/{template}/create-agreements"),
            json!({}),
        )
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:?}", queued.body);
    let job = queued.body["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The job's worker writes; let it finish so that the refusals' "nothing written" holds.
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let j = api.get(&format!("/bulk-jobs/{job}")).await;
        if j.body["status"] == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bulk job {job} did not complete: {:?}",
            j.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let listed = api
        .all(&format!("/provider-accounts?account_id={account_a}"))
        .await;
    assert!(
        listed.iter().any(|p| id(p) == provider_account_a),
        "{listed:?}"
    );
    // An export, ended before the matrix runs (its worker writes).
    let made = api
        .post("/exports", json!({"format": "jsonl", "filter": {}}))
        .await;
    assert_eq!(made.status, StatusCode::ACCEPTED, "{:?}", made.body);
    let export = made.body["export_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    loop {
        let e = api.get(&format!("/exports/{export}")).await;
        if e.body["status"] == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "export {export} did not complete: {:?}",
            e.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (link_a, link_a_token) = portal_link(api, &account_a, &contact_a).await;
    let (revoked, revoked_token) = portal_link(api, &account_a, &contact_a).await;
    let off = api
        .post(&format!("/portal-links/{revoked}/revoke"), json!({}))
        .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
    World {
        link_a,
        link_a_token,
        revoked_token,
        provider,
        account_a,
        contact_a,
        account_b,
        contact_b,
        template,
        agreement_a,
        agreement_a_name,
        contract_a,
        job,
        export,
    }
}

/// A portal link staff made for a contact: its id and its token.
async fn portal_link(api: &Api, account: &str, contact: &str) -> (String, String) {
    let made = api
        .create(
            &format!("/accounts/{account}/portal-links"),
            json!({"contact_id": contact}),
        )
        .await;
    let url = made["url"].as_str().unwrap_or_default().to_string();
    let token = url.split("#token=").nth(1).unwrap_or_default().to_string();
    assert!(token.starts_with("pl1_"), "{made:?}");
    (id(&made), token)
}

/// A fresh active template of the provider: for cells whose success would not repeat.
async fn fresh_template(api: &Api, w: &World) -> String {
    template_of(api, &w.provider).await
}

async fn template_of(api: &Api, provider: &str) -> String {
    id(&api
        .create(
            "/agreement-templates",
            json!({"name": "Data Protection Addendum", "template_id": unique("dpa"),
                   "provider_id": provider, "document_version": "2024-03",
                   "effective_date": "2024-03-01", "agreement_link": "https://example.com/dpa",
                   "display_inline": false}),
        )
        .await)
}

/// A provider of its own, with no accounts and no templates, so that what its cell starts
/// (a sync) touches nothing of the other cells.
async fn fresh_provider(api: &Api, kind: &str) -> String {
    id(&api
        .create(
            "/providers",
            json!({"name": unique("provider"), "kind": kind, "platform": "other",
                   "syncs_agreements": false}),
        )
        .await)
}

/// A fresh pending agreement of account A (on a template of its own).
async fn fresh_agreement_a(api: &Api, w: &World) -> String {
    let template = fresh_template(api, w).await;
    id(&api
        .create(
            "/agreements",
            json!({"template_id": template, "account_id": w.account_a}),
        )
        .await)
}

/// A fresh contract of account A with A's agreement tagged.
async fn fresh_tagged_contract(api: &Api, w: &World) -> String {
    let contract = id(&api
        .create(
            "/billing-contracts",
            json!({"account_id": w.account_a, "name": unique("contract"), "start_date": "2026-01-01"}),
        )
        .await);
    let tagged = api
        .post(
            &format!("/billing-contracts/{contract}/agreements"),
            json!({"agreement_id": w.agreement_a}),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::OK, "{:?}", tagged.body);
    contract
}

/// The path (parameters filled) and body of one cell. A caller that should succeed on a write
/// that would not succeed twice gets records made for its cell; everyone else names A's records.
async fn cell_request(api: &Api, w: &World, r: &Route, caller: Caller) -> (String, Option<Value>) {
    let succeeds = matches!((r.access, caller), (Access::Staff(_), Caller::Staff));
    let mut id_param = match r.path.split('/').nth(1) {
        Some("providers") => w.provider.clone(),
        Some("accounts") => w.account_a.clone(),
        Some("agreement-templates") => w.template.clone(),
        Some("agreements") | Some("portal") => w.agreement_a.clone(),
        Some("bulk-jobs") => w.job.clone(),
        Some("exports") => w.export.clone(),
        Some("billing-contracts") => w.contract_a.clone(),
        Some("portal-links") => w.link_a.clone(),
        _ => String::new(),
    };
    let body = match (r.method, r.path) {
        ("POST", "/providers") => Some(json!({"name": "Other provider", "kind": "manual",
            "platform": "other", "syncs_agreements": false})),
        ("POST", "/accounts") => Some(json!({"name": "Northwind Traders",
            "email_domain": format!("{}.example", unique("northwind"))})),
        ("POST", "/accounts/{id}/provision") => {
            // A manual provider of its own: no Partner Center round trip, a free slot for A.
            let (provider, template) = if succeeds {
                let provider = fresh_provider(api, "manual").await;
                let template = template_of(api, &provider).await;
                (provider, template)
            } else {
                (w.provider.clone(), w.template.clone())
            };
            Some(json!({"provider_id": provider, "template_id": template,
                        "provider_specific_id": ulid::Ulid::new().to_string(),
                        "executed_on": "2026-01-15"}))
        }
        ("POST", "/providers/{id}/sync") => {
            if succeeds {
                id_param = fresh_provider(api, "automatic").await;
            }
            None
        }
        ("POST", "/accounts/{id}/contacts") => {
            Some(json!({"first_name": "Alan", "last_name": "Turing",
            "email": format!("{}@contoso.example", unique("alan"))}))
        }
        ("POST", "/agreement-templates") => Some(json!({"name": "Cloud Services Addendum",
            "template_id": unique("csa"), "provider_id": w.provider, "document_version": "2025-01",
            "effective_date": "2025-01-01", "agreement_link": "https://example.com/csa",
            "display_inline": true})),
        ("PATCH", "/agreement-templates/{id}") => {
            Some(json!({"portal_instructions": "Read it all, then confirm."}))
        }
        ("POST", "/agreement-templates/{id}/activate") => {
            if succeeds {
                id_param = fresh_template(api, w).await;
                let off = api
                    .post(
                        &format!("/agreement-templates/{id_param}/deactivate"),
                        json!({}),
                    )
                    .await;
                assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
            }
            None
        }
        ("POST", "/agreement-templates/{id}/deactivate") => {
            if succeeds {
                id_param = fresh_template(api, w).await;
            }
            None
        }
        ("POST", "/agreement-templates/{id}/versions") => {
            if succeeds {
                id_param = fresh_template(api, w).await;
            }
            Some(
                json!({"document_version": unique("v"), "agreement_link": "https://example.com/v2",
                        "effective_date": "2025-06-01"}),
            )
        }
        ("POST", "/exports") => Some(json!({"format": "csv", "filter": {}})),
        ("POST", "/agreement-templates/{id}/create-agreements") => {
            if succeeds {
                id_param = fresh_template(api, w).await;
            }
            None
        }
        ("POST", "/agreements") => {
            // A's slot for the template is taken by its agreement: staff uses a fresh template.
            let template = if succeeds {
                fresh_template(api, w).await
            } else {
                w.template.clone()
            };
            Some(json!({"template_id": template, "account_id": w.account_a}))
        }
        ("POST", "/agreements/{id}/deactivate") => {
            if succeeds {
                id_param = fresh_agreement_a(api, w).await;
            }
            Some(json!({"reason": "authorization test"}))
        }
        ("POST", "/provider-accounts") => Some(json!({"provider_id": w.provider,
            "provider_specific_id": ulid::Ulid::new().to_string(), "name": "Contoso (second tenant)",
            "account_id": w.account_a})),
        ("POST", "/provider-accounts/import") => Some(json!([{"provider_id": w.provider,
            "provider_specific_id": ulid::Ulid::new().to_string(), "name": "Contoso (imported)",
            "account_id": w.account_a}])),
        ("POST", "/billing-contracts") => Some(json!({"account_id": w.account_a,
            "name": "Contoso monthly", "start_date": "2026-02-01"})),
        ("POST", "/billing-contracts/{id}/agreements") => {
            Some(json!({"agreement_id": w.agreement_a}))
        }
        ("DELETE", "/billing-contracts/{id}/agreements/{agreement_id}") => {
            if succeeds {
                id_param = fresh_tagged_contract(api, w).await;
            }
            None
        }
        ("POST", "/portal/agreements/{id}/confirm" | "/portal/agreements/{id}/decline") => {
            // Only A's own confirm (or decline) succeeds, once: it gets an agreement of its
            // own; everyone else (B included) aims at A's pending agreement, which must stay
            // pending.
            if matches!(caller, Caller::CustomerA | Caller::LinkA) {
                id_param = fresh_agreement_a(api, w).await;
            }
            None
        }
        ("POST", "/accounts/{id}/portal-links") => Some(json!({"contact_id": w.contact_a})),
        ("PATCH", "/providers/{id}") => Some(json!({"attestation_method": "enhanced"})),
        ("PATCH", "/accounts/{id}") => Some(json!({"language": "en-US"})),
        ("PATCH", "/accounts/{id}/contacts/{contact_id}") => Some(json!({"phone": "+1 555 0100"})),
        ("POST", "/portal-links/{id}/revoke") => {
            if succeeds {
                let made = api
                    .create(
                        &format!("/accounts/{}/portal-links", w.account_a),
                        json!({"contact_id": w.contact_a}),
                    )
                    .await;
                id_param = id(&made);
            }
            None
        }
        ("POST", "/agreements/{id}/remind") => {
            if succeeds {
                id_param = fresh_agreement_a(api, w).await;
            }
            None
        }
        _ => None,
    };
    let path = r
        .path
        .replace("{id}", &id_param)
        .replace("{agreement_id}", &w.agreement_a)
        .replace("{contact_id}", &w.contact_a);
    let path = match (r.method, r.path) {
        ("GET", "/provider-accounts" | "/billing-contracts") => {
            format!("{path}?account_id={}", w.account_a)
        }
        _ => path,
    };
    (path, body)
}

fn token(w: &World, caller: Caller) -> Option<String> {
    match caller {
        Caller::NoToken => None,
        Caller::Expired => Some(expired_token()),
        Caller::Forged => Some(forged_token()),
        Caller::Staff => Some(staff_token()),
        Caller::CustomerA => Some(customer_token(&w.account_a, &w.contact_a)),
        Caller::CustomerB => Some(customer_token(&w.account_b, &w.contact_b)),
        Caller::LinkA => Some(w.link_a_token.clone()),
        Caller::RevokedLink => Some(w.revoked_token.clone()),
        Caller::TamperedLink => {
            let mut t = w.link_a_token.clone();
            let last = if t.ends_with('A') { 'B' } else { 'A' };
            t.pop();
            t.push(last);
            Some(t)
        }
    }
}

/// What a cell must answer: the status and, for a function's refusal, the problem `code`.
/// API Gateway answers itself (no problem document): 401 when the JWT authorizer refuses (staff
/// routes: anything but the partner's staff token, customers' tokens included, since they are
/// not of its issuer) or a portal route has no token; 403 `{"message":"Forbidden"}` when the
/// portal's Lambda authorizer refuses the token (expired, forged, revoked, tampered, staff's).
fn expected(r: &Route, caller: Caller) -> (u16, Option<&'static str>) {
    match r.access {
        Access::Public => (200, None),
        Access::Staff(ok) => match caller {
            Caller::Staff => (ok, None),
            _ => (401, None),
        },
        Access::Portal => match caller {
            Caller::NoToken => (401, None),
            Caller::Expired
            | Caller::Forged
            | Caller::Staff
            | Caller::RevokedLink
            | Caller::TamperedLink => (403, None),
            Caller::CustomerB if r.path.contains("{id}") => (404, Some("not_found")),
            Caller::CustomerA | Caller::CustomerB | Caller::LinkA => (200, None),
        },
        Access::PortalAnswers(own) => match caller {
            Caller::NoToken => (401, None),
            Caller::Expired
            | Caller::Forged
            | Caller::Staff
            | Caller::RevokedLink
            | Caller::TamperedLink => (403, None),
            Caller::CustomerB => (404, Some("not_found")),
            Caller::CustomerA | Caller::LinkA => (own, None),
        },
    }
}

struct Seen {
    status: u16,
    content_type: String,
    text: String,
    json: Value,
}

async fn send(
    api: &Api,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Seen {
    let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = api.request(method.clone(), path);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.expect("the local API answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.unwrap_or_default();
    let content_type_header = (!content_type.is_empty()).then_some(content_type.as_str());
    integration_tests::openapi::assert_answer(
        method.as_str(),
        path.split('?').next().unwrap_or_default(),
        status,
        content_type_header,
        &text,
    );
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Seen {
        status,
        content_type,
        text,
        json,
    }
}

/// Everything wrong with one cell's answer (empty: the cell holds).
fn check(w: &World, r: &Route, caller: Caller, seen: &Seen) -> Vec<String> {
    let (status, code) = expected(r, caller);
    let mut wrong = Vec::new();
    if seen.status != status {
        wrong.push(format!(
            "status {} (expected {status}): {}",
            seen.status, seen.text
        ));
        return wrong;
    }
    if status == 403 && code.is_none() {
        if seen.content_type != "application/json" || seen.json != json!({"message": "Forbidden"}) {
            wrong.push(format!(
                "not API Gateway's 403 for a refusing Lambda authorizer ({:?}): {}",
                seen.content_type, seen.text
            ));
        }
    } else if status == 401 {
        if seen.content_type != "application/json"
            || seen.json != json!({"message": "Unauthorized"})
        {
            wrong.push(format!(
                "not API Gateway's 401 ({:?}): {}",
                seen.content_type, seen.text
            ));
        }
    } else if let Some(code) = code {
        if seen.content_type != "application/problem+json" {
            wrong.push(format!(
                "content-type {:?}, not application/problem+json",
                seen.content_type
            ));
        }
        if seen.json["code"] != code || seen.json["status"] != status {
            wrong.push(format!("problem {} (expected code {code})", seen.text));
        }
        if !(seen.json["title"].is_string() && seen.json["detail"].is_string()) {
            wrong.push(format!("problem without title/detail: {}", seen.text));
        }
    }
    let html = seen.content_type.starts_with("text/html") && seen.text.contains("<html");
    if matches!(r.access, Access::Public) && !html {
        wrong.push(format!("not the HTML page: {:?}", seen.content_type));
    }
    if matches!(r.access, Access::Portal) && caller == Caller::CustomerB {
        // Another account's record: nothing of it in the answer, not even its id.
        for secret in [&w.agreement_a, &w.agreement_a_name, &w.account_a] {
            if seen.text.contains(secret.as_str()) {
                wrong.push(format!("the answer shows A's {secret:?}: {}", seen.text));
            }
        }
        if r.path == "/portal/agreements" && seen.json["items"] != json!([]) {
            wrong.push(format!("B's list is not empty: {}", seen.text));
        }
    }
    if matches!(r.access, Access::Portal) && matches!(caller, Caller::CustomerA | Caller::LinkA) {
        let holds = match r.method {
            "POST" if r.path.ends_with("/decline") => {
                seen.json["status"] == "pending" && seen.json["declined_on"].is_string()
            }
            "POST" => {
                seen.json["status"] == "accepted" && seen.json["signed_by"] == json!(w.contact_a)
            }
            _ if r.path.contains("{id}") => seen.json["id"] == json!(w.agreement_a),
            _ => seen.json["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["id"] == json!(w.agreement_a))),
        };
        if !holds {
            wrong.push(format!(
                "not A's own agreement (accepted by A's contact, for a confirm): {}",
                seen.text
            ));
        }
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_times_every_caller() {
    let started = Instant::now();
    let template_routes = template_routes();
    let in_template: BTreeSet<(String, String)> = template_routes.keys().cloned().collect();
    let in_table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(
        in_table.len(),
        ROUTES.len(),
        "a route is twice in the table"
    );
    let missing: Vec<_> = in_template.difference(&in_table).collect();
    assert!(
        missing.is_empty(),
        "routes of template.yaml without a row in ROUTES: {missing:?}"
    );
    let stale: Vec<_> = in_table.difference(&in_template).collect();
    assert!(
        stale.is_empty(),
        "rows of ROUTES that template.yaml no longer has: {stale:?}"
    );
    let misconfigured: Vec<String> = ROUTES
        .iter()
        .filter(|r| {
            let public = template_routes[&(r.method.to_string(), r.path.to_string())];
            public != matches!(r.access, Access::Public)
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        misconfigured.is_empty(),
        "routes public in template.yaml but not in ROUTES, or the other way: {misconfigured:?}"
    );

    let api = Api::start().await;
    let w = world(&api).await;
    println!(
        "authorization matrix: {} routes × {} callers = {} cells",
        ROUTES.len(),
        CALLERS.len(),
        ROUTES.len() * CALLERS.len()
    );

    // Refusals and reads first: together they must write nothing at all. Then the writes that
    // succeed (staff's, and customer A's confirm), which make their own records.
    let writes = |r: &Route, c: Caller| {
        matches!((r.access, c), (Access::Staff(_), Caller::Staff))
            || (r.method == "POST"
                && matches!(r.access, Access::Portal)
                && matches!(c, Caller::CustomerA | Caller::LinkA))
    };
    let mut failures = Vec::new();
    let mut cells = 0;
    let before = api.item_count().await;
    for phase_writes in [false, true] {
        for r in ROUTES {
            for caller in CALLERS {
                if writes(r, caller) != phase_writes {
                    continue;
                }
                let (path, body) = cell_request(&api, &w, r, caller).await;
                let seen = send(&api, r.method, &path, token(&w, caller).as_deref(), body).await;
                cells += 1;
                for problem in check(&w, r, caller, &seen) {
                    failures.push(format!("{} {} as {caller}: {problem}", r.method, r.path));
                }
            }
        }
        if !phase_writes {
            let after = api.item_count().await;
            if after != before {
                failures.push(format!(
                    "refused requests wrote: {before} items became {after}"
                ));
            }
        }
    }
    assert_eq!(cells, ROUTES.len() * CALLERS.len());

    // A's agreement saw every refused write and B's confirm; it is as staff made it.
    let a = api.get(&format!("/agreements/{}", w.agreement_a)).await;
    assert_eq!(a.body["status"], "pending", "{:?}", a.body);
    assert_eq!(a.body["version"], 1, "{:?}", a.body);
    // A second confirm of what A confirmed is a conflict, not a second acceptance.
    let accepted = api
        .all(&format!(
            "/agreements?account_id={}&status=accepted",
            w.account_a
        ))
        .await;
    assert_eq!(
        accepted.len(),
        2,
        "A's confirm cells (its IdP token, its portal link) accepted one agreement each: {accepted:?}"
    );
    let again = send(
        &api,
        "POST",
        &format!("/portal/agreements/{}/confirm", id(&accepted[0])),
        token(&w, Caller::CustomerA).as_deref(),
        None,
    )
    .await;
    assert_eq!(
        (again.status, again.json["code"].clone()),
        (409, json!("conflict")),
        "{}",
        again.text
    );
    // To B, A's agreement looks exactly like one that never existed.
    let never = ulid::Ulid::new().to_string();
    for (method, path) in [
        ("GET", "/portal/agreements/{id}"),
        ("POST", "/portal/agreements/{id}/confirm"),
    ] {
        let b_token = token(&w, Caller::CustomerB);
        let theirs = send(
            &api,
            method,
            &path.replace("{id}", &w.agreement_a),
            b_token.as_deref(),
            None,
        )
        .await;
        let nobodys = send(
            &api,
            method,
            &path.replace("{id}", &never),
            b_token.as_deref(),
            None,
        )
        .await;
        assert_eq!(
            (theirs.status, theirs.text.replace(&w.agreement_a, "<id>")),
            (nobodys.status, nobodys.text.replace(&never, "<id>")),
            "{method} {path}: another account's agreement is told apart from an unknown one"
        );
    }

    assert!(
        failures.is_empty(),
        "{} of {cells} cells are wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("all {cells} cells hold ({:.1?})", started.elapsed());
    api.stack.shutdown().await;
}

/// Ids are ULIDs whose random part differs: not a sequence a caller could walk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_not_guessable_sequences() {
    let api = Api::start().await;
    let mut ulids = Vec::new();
    for name in ["Adventure Works", "Tailspin Toys"] {
        let account = api.create("/accounts", json!({"name": name})).await;
        let raw = id(&account);
        let parsed = ulid::Ulid::from_string(&raw)
            .unwrap_or_else(|e| panic!("account id {raw:?} is not a ULID: {e}"));
        assert_eq!(raw.len(), 26);
        ulids.push(parsed);
    }
    let (first, second) = (ulids[0], ulids[1]);
    assert_ne!(first.random(), second.random(), "the random parts differ");
    assert_ne!(
        first.random().wrapping_add(1),
        second.random(),
        "the second is not the first plus one (a monotonic sequence)"
    );
    let differing_bits = (first.random() ^ second.random()).count_ones();
    assert!(
        differing_bits >= 16,
        "80 random bits should differ in about 40 places, not {differing_bits}"
    );
    api.stack.shutdown().await;
}
