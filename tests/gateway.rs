//! The local stack answers as API Gateway's HTTP API does, with the stack configured for an
//! Entra ID app that exposes `agreements.admin`: its JWT authorizer checks `iss` and `aud`
//! against `JwtIssuer` and `JwtAudience`, refuses with exactly `{"message":"Unauthorized"}`, and
//! hands Entra ID's claims to the functions as API Gateway does (every claim a string, an array
//! claim such as `roles` as `[a b]`), which the functions read.

use std::time::{SystemTime, UNIX_EPOCH};

use integration_tests::api::{id, Api, SECRET};
use reqwest::Method;
use serde_json::{json, Value};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The API's application id URI, the `aud` of Entra ID's v2.0 access tokens for it.
const AUDIENCE: &str = "api://agreements";

fn issuer() -> String {
    format!("https://login.microsoftonline.com/{TENANT}/v2.0")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An Entra ID v2.0 access token for the API, with `claims` on top.
fn entra_token(claims: Value) -> String {
    let mut all = json!({
        "aud": AUDIENCE, "iss": issuer(), "iat": now() - 5, "nbf": now() - 5, "exp": now() + 600,
        "tid": TENANT, "oid": "9f3c5e2a-0d6b-4b8e-9a51-6c2f0e7d4b10", "ver": "2.0",
        "azp": "0b5a7c1e-2f3d-4e6a-8b9c-1d2e3f4a5b6c",
    });
    if let (Some(all), Some(claims)) = (all.as_object_mut(), claims.as_object()) {
        all.extend(claims.clone());
    }
    local_stack::jwt::mint(&all, SECRET)
}

async fn entra_stack() -> Api {
    Api::start_with(&[
        ("JwtIssuer", issuer()),
        ("JwtAudience", AUDIENCE.to_string()),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_id_users_and_apps_with_agreements_admin_are_staff() {
    let api = entra_stack().await;
    // A user signed in to an app that asked for the delegated scope (`scp`, space-separated).
    let user = entra_token(
        json!({"sub": "user-sub", "scp": "User.Read agreements.admin",
        "name": "Ada Lovelace", "preferred_username": "ada@contoso.example"}),
    );
    // A daemon granted the app role (`roles`, a JSON array, which API Gateway passes as `[a b]`).
    let daemon = entra_token(
        json!({"sub": "daemon-sub", "roles": ["agreements.reader", "agreements.admin"],
        "idtyp": "app"}),
    );
    for token in [&user, &daemon] {
        let listed = api.call(Method::GET, "/providers", Some(token), None).await;
        assert_eq!(listed.status.as_u16(), 200, "{:?}", listed.body);
    }
    // The claims reach the function: the history records the daemon's `sub` as the actor.
    let account = api
        .call(
            Method::POST,
            "/accounts",
            Some(&daemon),
            Some(json!({"name": "Contoso"})),
        )
        .await;
    assert_eq!(account.status.as_u16(), 201, "{:?}", account.body);
    let provider = api
        .call(
            Method::POST,
            "/providers",
            Some(&user),
            Some(json!({"name": "Distributor", "kind": "manual"})),
        )
        .await;
    assert_eq!(provider.status.as_u16(), 201, "{:?}", provider.body);
    let template = api
        .call(
            Method::POST,
            "/agreement-templates",
            Some(&user),
            Some(json!({
            "name": "Terms", "template_id": "t-1", "provider_id": id(&provider.body),
            "document_version": "1", "effective_date": "2026-01-01",
            "agreement_link": "https://example.com/terms"})),
        )
        .await;
    assert_eq!(template.status.as_u16(), 201, "{:?}", template.body);
    let agreement = api
        .call(
            Method::POST,
            "/agreements",
            Some(&daemon),
            Some(json!({
            "template_id": id(&template.body), "account_id": id(&account.body)})),
        )
        .await;
    assert_eq!(agreement.status.as_u16(), 201, "{:?}", agreement.body);
    let history = api
        .call(
            Method::GET,
            &format!("/agreements/{}/history", id(&agreement.body)),
            Some(&user),
            None,
        )
        .await;
    assert_eq!(
        history.body["items"][0]["actor"]["subject"], "daemon-sub",
        "{:?}",
        history.body
    );
    assert_eq!(history.body["items"][0]["actor"]["kind"], "staff");

    // A role or scope of another app, or none, is no role of this API: the function's 403.
    for token in [
        entra_token(json!({"sub": "s", "roles": ["agreements.reader"]})),
        entra_token(json!({"sub": "s", "scp": "User.Read"})),
        entra_token(json!({"sub": "s"})),
    ] {
        api.call(Method::GET, "/providers", Some(&token), None)
            .await
            .assert_problem(403, "forbidden");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_another_issuer_or_audience_get_api_gateways_401() {
    let api = entra_stack().await;
    let staff = json!({"sub": "s", "scp": "agreements.admin"});
    let with = |changes: Value| {
        let mut claims = staff.clone();
        if let (Some(c), Some(changes)) = (claims.as_object_mut(), changes.as_object()) {
            c.extend(changes.clone());
        }
        claims
    };
    let refused = [
        // Entra ID's v1.0 issuer for the same tenant is another issuer.
        (
            "v1 issuer",
            entra_token(with(
                json!({"iss": format!("https://sts.windows.net/{TENANT}/")}),
            )),
        ),
        (
            "other tenant",
            entra_token(with(
                json!({"iss": "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0"}),
            )),
        ),
        (
            "another API's audience",
            entra_token(with(json!({"aud": "api://someone-else"}))),
        ),
        (
            "Microsoft Graph's audience",
            entra_token(with(json!({"aud": "00000003-0000-0000-c000-000000000000"}))),
        ),
        ("expired", entra_token(with(json!({"exp": now() - 60})))),
        (
            "not yet valid",
            entra_token(with(json!({"nbf": now() + 300}))),
        ),
        (
            "badly signed",
            local_stack::jwt::mint(
                &json!({"aud": AUDIENCE, "iss": issuer(), "exp": now() + 600, "scp": "agreements.admin"}),
                "not-the-secret",
            ),
        ),
        // The local stack's own default issuer and audience are not this stack's.
        ("local issuer", integration_tests::api::staff_token()),
    ];
    for (why, token) in &refused {
        for (method, path) in [(Method::GET, "/providers"), (Method::POST, "/accounts")] {
            let answer = api
                .call(
                    method,
                    path,
                    Some(token),
                    Some(json!({"name": "n"})).filter(|_| path == "/accounts"),
                )
                .await;
            assert_eq!(answer.status.as_u16(), 401, "{why}: {:?}", answer.body);
            answer.assert_gateway_unauthorized();
        }
    }
    // No credentials at all, on a staff route and on a portal route.
    for path in ["/providers", "/portal/agreements"] {
        api.call(Method::GET, path, None, None)
            .await
            .assert_gateway_unauthorized();
    }
    // An `aud` list passes on one accepted entry; the token alone (no `Bearer `) is accepted.
    let listed_aud = entra_token(with(json!({"aud": ["api://someone-else", AUDIENCE]})));
    let answer = api
        .send(
            api.request(Method::GET, "/providers")
                .header("authorization", listed_aud),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{:?}", answer.body);
    // Nothing was written by the refused requests.
    assert_eq!(api.item_count().await, 0);
}
