//! The Partner Center connector against the fake Partner Center: paging, agreement reads in both
//! spellings, direct-signed status, attestation and its duplicate, retries (429 with Retry-After,
//! 500, timeouts), error mapping, token expiry and refresh, request headers and path safety.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use integration_tests::fake_partner_center::{
    client_for, client_with, config_for, start, FakePartnerCenter, Fault, RecordedRequest,
    MCA_TEMPLATE_ID, REFRESH_TOKEN,
};
use serde_json::json;
use shared::connectors::partner_center::{
    AppSecret, Secret, SecretSource, TokenAudience, INVALID_CONTINUATION, INVALID_CUSTOMER_ID,
};
use shared::connectors::{
    AgreementContact, Attestation, ConnectorError, ProviderAgreement, ProviderConnector,
};
use uuid::Uuid;

const CUSTOMER: &str = "0c4e5b9a-1d2f-4a3b-8c7d-6e5f4a3b2c1d";

fn customer_id(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

async fn fake_with_customer() -> FakePartnerCenter {
    let fake = start().await;
    fake.add_customer(CUSTOMER, "Contoso Ltd", "contoso.onmicrosoft.com");
    fake
}

fn contact() -> AgreementContact {
    AgreementContact {
        first_name: "Tania".into(),
        last_name: "Carr".into(),
        email: "tania.carr@contoso.example".into(),
        phone_number: Some("1234567890".into()),
    }
}

fn attestation(date: &str) -> Attestation {
    Attestation {
        customer_id: CUSTOMER.into(),
        template_id: MCA_TEMPLATE_ID.into(),
        agreement_type: "MicrosoftCustomerAgreement".into(),
        date_agreed: date.into(),
        primary_contact: contact(),
    }
}

fn paths(requests: &[RecordedRequest]) -> Vec<String> {
    requests.iter().map(|r| r.path.clone()).collect()
}

#[tokio::test]
async fn customers_come_page_by_page_each_once() {
    let fake = start().await;
    for n in 1..=7 {
        fake.add_customer(
            &customer_id(n),
            &format!("Customer {n}"),
            &format!("customer{n}.onmicrosoft.com"),
        );
    }
    let mut config = config_for(&fake);
    config.page_size = 3;
    let client = client_with(config);

    let mut pages = Vec::new();
    let mut continuation: Option<String> = None;
    loop {
        let page = client
            .customers(continuation.as_deref())
            .await
            .expect("a page of customers");
        pages.push(page.customers.len());
        for customer in &page.customers {
            assert!(customer.company_name.starts_with("Customer "));
            assert!(customer
                .domain
                .as_deref()
                .is_some_and(|d| d.ends_with(".onmicrosoft.com")));
        }
        continuation = page.continuation.clone();
        let ids: Vec<String> = page.customers.into_iter().map(|c| c.id).collect();
        if continuation.is_none() {
            assert_eq!(ids.len(), 1, "the last page holds the seventh customer");
            break;
        }
        assert!(pages.len() < 10, "paging must end");
    }
    assert_eq!(pages, vec![3, 3, 1]);

    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].query.as_deref(), Some("size=3"));
    assert_eq!(requests[0].header("ms-continuationtoken"), None);
    for next in &requests[1..] {
        assert_eq!(next.path, "/v1/customers");
        assert!(next
            .query
            .as_deref()
            .is_some_and(|q| q.contains("seekOperation=Next")));
        assert!(next.header("ms-continuationtoken").is_some());
    }

    // Every customer exactly once, in Partner Center's order.
    let mut seen = Vec::new();
    let mut continuation: Option<String> = None;
    loop {
        let page = client
            .customers(continuation.as_deref())
            .await
            .expect("page");
        seen.extend(page.customers.into_iter().map(|c| c.id));
        continuation = page.continuation;
        if continuation.is_none() {
            break;
        }
    }
    assert_eq!(seen, (1..=7).map(customer_id).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_wrong_or_forged_continuation_is_refused() {
    let fake = start().await;
    for n in 1..=2 {
        fake.add_customer(&customer_id(n), "C", "c.onmicrosoft.com");
    }
    let client = client_for(&fake);

    // A continuation token Partner Center does not know: its 400 comes back as a refusal.
    let wrong = URL_SAFE_NO_PAD.encode(
        json!({"u": "/v1/customers?size=3&seekOperation=Next", "t": "not-a-token"}).to_string(),
    );
    match client.customers(Some(&wrong)).await {
        Err(ConnectorError::Refused { code, .. }) => assert_eq!(code, "400"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 1);

    // A continuation leading anywhere but the next customers page never leaves the client.
    for forged in [
        URL_SAFE_NO_PAD.encode(json!({"u": "/v1/customers/x/agreements"}).to_string()),
        URL_SAFE_NO_PAD.encode(json!({"u": "https://elsewhere.example/v1/customers"}).to_string()),
        "garbage!".to_string(),
    ] {
        match client.customers(Some(&forged)).await {
            Err(ConnectorError::Refused { code, .. }) => assert_eq!(code, INVALID_CONTINUATION),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn agreements_are_read_in_both_spellings_with_unknown_fields() {
    let fake = fake_with_customer().await;
    fake.add_agreement_json(
        CUSTOMER,
        json!({
            "userId": "3d6f2c09-eb40-48ca-a4b3-d24c9c007531",
            "primaryContact": {"firstName": "Tania", "lastName": "Carr", "email": "someone@example.com", "phoneNumber": "1234567890"},
            "templateId": MCA_TEMPLATE_ID,
            "dateAgreed": "2018-06-14T00:00:00.000Z",
            "type": "MicrosoftCustomerAgreement",
            "agreementLink": "https://aka.ms/customeragreement",
            "somethingNew": {"nested": [1, 2, 3]}
        }),
    );
    fake.add_agreement_json(
        CUSTOMER,
        json!({
            "templateId": "998b88de-aa99-4388-a42c-1b3517d49490",
            "agreementType": "MicrosoftCloudAgreement",
            "dateAgreed": "2017-01-01T00:00:00Z",
            "versionRank": 0
        }),
    );
    let client = client_for(&fake);
    let agreements = client
        .customer_agreements(CUSTOMER)
        .await
        .expect("agreements");
    assert_eq!(
        agreements,
        vec![
            ProviderAgreement {
                template_id: MCA_TEMPLATE_ID.into(),
                agreement_type: "MicrosoftCustomerAgreement".into(),
                date_agreed: "2018-06-14T00:00:00.000Z".into(),
                primary_contact: Some(AgreementContact {
                    first_name: "Tania".into(),
                    last_name: "Carr".into(),
                    email: "someone@example.com".into(),
                    phone_number: Some("1234567890".into()),
                }),
            },
            ProviderAgreement {
                template_id: "998b88de-aa99-4388-a42c-1b3517d49490".into(),
                agreement_type: "MicrosoftCloudAgreement".into(),
                date_agreed: "2017-01-01T00:00:00Z".into(),
                primary_contact: None,
            },
        ]
    );
    let request = &fake.requests()[0];
    assert_eq!(request.path, format!("/v1/customers/{CUSTOMER}/agreements"));
    assert_eq!(request.query.as_deref(), Some("agreementType=*"));

    // A customer Partner Center does not know.
    match client.customer_agreements(&customer_id(99)).await {
        Err(ConnectorError::Refused { code, .. }) => assert_eq!(code, "404"),
        other => panic!("expected a 404 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn direct_signed_status_is_read() {
    let fake = fake_with_customer().await;
    let client = client_for(&fake);
    assert!(!client.direct_signed(CUSTOMER).await.expect("status"));
    fake.set_direct_signed(CUSTOMER, true);
    assert!(client.direct_signed(CUSTOMER).await.expect("status"));
    assert_eq!(
        fake.requests()[0].path,
        format!("/v1/customers/{CUSTOMER}/directSignedMicrosoftCustomerAgreementStatus")
    );
}

#[tokio::test]
async fn attest_creates_and_a_duplicate_counts_as_success() {
    let fake = fake_with_customer().await;
    let client = client_for(&fake);

    let created = client
        .attest(&attestation("2024-03-01"))
        .await
        .expect("created");
    assert_eq!(created.template_id, MCA_TEMPLATE_ID);
    assert_eq!(created.agreement_type, "MicrosoftCustomerAgreement");
    assert_eq!(created.date_agreed, "2024-03-01T00:00:00Z");
    assert_eq!(created.primary_contact, Some(contact()));

    let post = &fake.requests()[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&post.body).expect("JSON body");
    assert_eq!(
        body,
        json!({
            "primaryContact": {"firstName": "Tania", "lastName": "Carr", "email": "tania.carr@contoso.example", "phoneNumber": "1234567890"},
            "templateId": MCA_TEMPLATE_ID,
            "dateAgreed": "2024-03-01T00:00:00Z",
            "type": "MicrosoftCustomerAgreement"
        })
    );

    // The same contact again (another date): Partner Center answers 600061; the client reads
    // back and answers with the acceptance Partner Center holds.
    let again = client
        .attest(&attestation("2024-04-01"))
        .await
        .expect("a duplicate is a success");
    assert_eq!(again, created);
    assert_eq!(fake.agreements(CUSTOMER).len(), 1);
    let methods: Vec<String> = fake.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, vec!["POST", "POST", "GET"]);

    // Another contact is another acceptance.
    let mut other = attestation("2024-04-01");
    other.primary_contact.email = "someone.else@contoso.example".into();
    other.primary_contact.phone_number = None;
    let second = client.attest(&other).await.expect("created");
    assert_eq!(second.primary_contact.and_then(|c| c.phone_number), None);
    assert_eq!(fake.agreements(CUSTOMER).len(), 2);

    // An unknown customer, and a bad date (refused before sending).
    let mut unknown = attestation("2024-03-01");
    unknown.customer_id = customer_id(99);
    assert!(matches!(
        client.attest(&unknown).await,
        Err(ConnectorError::Refused { code, .. }) if code == "404"
    ));
    let before = fake.requests().len();
    assert!(matches!(
        client.attest(&attestation("01/03/2024")).await,
        Err(ConnectorError::Refused { .. })
    ));
    assert_eq!(fake.requests().len(), before);
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let fake = fake_with_customer().await;
    fake.inject(
        &format!("/v1/customers/{CUSTOMER}/directSignedMicrosoftCustomerAgreementStatus"),
        1,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let client = client_for(&fake);
    let started = Instant::now();
    assert!(!client.direct_signed(CUSTOMER).await.expect("retried"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].at.duration_since(requests[0].at) >= Duration::from_secs(1));
    // A retry is the same call: Partner Center's idempotency id is kept.
    assert_eq!(
        requests[0].header("ms-requestid"),
        requests[1].header("ms-requestid")
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_as_transient() {
    let fake = fake_with_customer().await;
    let path = format!("/v1/customers/{CUSTOMER}/agreements");
    fake.inject(&path, 1, Fault::ServerError);
    let client = client_for(&fake);
    assert!(client
        .customer_agreements(CUSTOMER)
        .await
        .expect("retried")
        .is_empty());
    assert_eq!(fake.requests().len(), 2);

    fake.clear_requests();
    fake.inject(&path, 100, Fault::ServerError);
    match client.customer_agreements(CUSTOMER).await {
        Err(ConnectorError::Transient { retry_after, .. }) => assert_eq!(retry_after, None),
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert_eq!(
        fake.requests().len(),
        4,
        "max_attempts requests, then give up"
    );

    // Throttled to the end: the last Retry-After is passed on.
    fake.clear_requests();
    let status = format!("/v1/customers/{CUSTOMER}/directSignedMicrosoftCustomerAgreementStatus");
    let mut config = config_for(&fake);
    config.max_attempts = 2;
    config.max_retry_wait = Duration::from_millis(50);
    fake.inject(
        &status,
        2,
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
    );
    match client_with(config).direct_signed(CUSTOMER).await {
        Err(ConnectorError::Transient { retry_after, .. }) => assert_eq!(retry_after, Some(7)),
        other => panic!("expected a transient error, got {other:?}"),
    }
}

#[tokio::test]
async fn retries_stop_within_the_calls_budget() {
    // Retry-After asks for 7 s, four attempts are allowed, but the call has 1 s in all: it gives
    // up after the first answer instead of outliving its function.
    let fake = fake_with_customer().await;
    let status = format!("/v1/customers/{CUSTOMER}/directSignedMicrosoftCustomerAgreementStatus");
    fake.inject(
        &status,
        4,
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
    );
    let mut config = config_for(&fake);
    config.call_budget = Duration::from_secs(1);
    let started = std::time::Instant::now();
    match client_with(config).direct_signed(CUSTOMER).await {
        Err(ConnectorError::Transient { retry_after, .. }) => assert_eq!(retry_after, Some(7)),
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        fake.requests().len(),
        1,
        "one attempt, no wait past the budget"
    );

    // A slow answer is cut at what is left of the budget, not at the attempt's 20 s.
    fake.clear_requests();
    fake.inject(&status, 4, Fault::Delay(Duration::from_secs(5)));
    let mut config = config_for(&fake);
    config.call_budget = Duration::from_millis(1500);
    let started = std::time::Instant::now();
    assert!(matches!(
        client_with(config).direct_signed(CUSTOMER).await,
        Err(ConnectorError::Transient { .. })
    ));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let fake = fake_with_customer().await;
    fake.inject(
        &format!("/v1/customers/{CUSTOMER}/directSignedMicrosoftCustomerAgreementStatus"),
        1,
        Fault::Delay(Duration::from_secs(4)),
    );
    let mut config = config_for(&fake);
    config.timeout = Duration::from_secs(1);
    let client = client_with(config);
    assert!(!client.direct_signed(CUSTOMER).await.expect("retried"));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn other_client_errors_are_refusals_with_their_code() {
    let fake = fake_with_customer().await;
    fake.inject(
        &format!("/v1/customers/{CUSTOMER}/agreements"),
        1,
        Fault::Status {
            status: 400,
            body: json!({
                "code": 2001,
                "description": "The primary contact email is invalid.",
                "errorName": "InvalidPrimaryContact",
                "isRetryable": false,
                "parameters": {}
            }),
        },
    );
    let client = client_for(&fake);
    match client.attest(&attestation("2024-03-01")).await {
        Err(ConnectorError::Refused { code, detail }) => {
            assert_eq!(code, "2001");
            assert!(
                detail.contains("primary contact email is invalid"),
                "{detail}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn unreadable_answers_are_malformed() {
    let fake = fake_with_customer().await;
    let client = client_for(&fake);
    let status = format!("/v1/customers/{CUSTOMER}/directSignedMicrosoftCustomerAgreementStatus");
    let agreements = format!("/v1/customers/{CUSTOMER}/agreements");

    fake.inject("/v1/customers", 1, Fault::NotJson);
    assert!(matches!(
        client.customers(None).await,
        Err(ConnectorError::Malformed(_))
    ));
    fake.inject("/v1/customers", 1, Fault::WrongShape);
    assert!(matches!(
        client.customers(None).await,
        Err(ConnectorError::Malformed(_))
    ));
    fake.inject(&status, 1, Fault::WrongShape);
    assert!(matches!(
        client.direct_signed(CUSTOMER).await,
        Err(ConnectorError::Malformed(_))
    ));
    fake.inject(
        &status,
        1,
        Fault::Status {
            status: 200,
            body: json!({}),
        },
    );
    assert!(matches!(
        client.direct_signed(CUSTOMER).await,
        Err(ConnectorError::Malformed(_))
    ));
    fake.inject(&agreements, 1, Fault::WrongShape);
    assert!(matches!(
        client.customer_agreements(CUSTOMER).await,
        Err(ConnectorError::Malformed(_))
    ));
    fake.inject(&agreements, 1, Fault::NotJson);
    assert!(matches!(
        client.attest(&attestation("2024-03-01")).await,
        Err(ConnectorError::Malformed(_))
    ));
    fake.inject(
        &agreements,
        1,
        Fault::Status {
            status: 200,
            body: json!({"items": [{"agreementType": "MicrosoftCustomerAgreement"}]}),
        },
    );
    assert!(matches!(
        client.customer_agreements(CUSTOMER).await,
        Err(ConnectorError::Malformed(_))
    ));
    // Still usable afterwards.
    assert!(!client.direct_signed(CUSTOMER).await.expect("status"));
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_for_concurrent_callers() {
    let fake = fake_with_customer().await;
    let client = client_for(&fake);
    assert!(!client.direct_signed(CUSTOMER).await.expect("status"));
    assert_eq!(fake.token_requests().len(), 1);

    // Cached: no new token for the next calls.
    client.customers(None).await.expect("customers");
    assert_eq!(fake.token_requests().len(), 1);

    // Partner Center stops taking the token: 401, one new token, the call goes through.
    fake.expire_tokens();
    fake.clear_requests();
    let calls = (0..8).map(|_| client.direct_signed(CUSTOMER));
    for result in futures::future::join_all(calls).await {
        assert!(!result.expect("refreshed transparently"));
    }
    assert_eq!(
        fake.token_requests().len(),
        1,
        "one refresh for all concurrent callers"
    );
    let api_requests = fake.requests().len();
    assert!((9..=16).contains(&api_requests), "{api_requests}");

    // A token whose lifetime runs out is renewed before it is used (no 401 round trip).
    fake.set_token_lifetime(Duration::from_secs(2));
    fake.expire_tokens();
    client.customers(None).await.expect("customers");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    fake.clear_requests();
    client.customers(None).await.expect("customers");
    assert_eq!(fake.token_requests().len(), 1, "renewed before use");
    assert_eq!(fake.requests().len(), 1, "no request with a stale token");
}

#[tokio::test]
async fn a_persistent_401_is_a_configuration_error() {
    let fake = fake_with_customer().await;
    fake.inject(
        "/v1/customers",
        2,
        Fault::Status {
            status: 401,
            body: json!({}),
        },
    );
    let client = client_for(&fake);
    assert!(matches!(
        client.customers(None).await,
        Err(ConnectorError::Configuration(_))
    ));
    assert_eq!(fake.requests().len(), 2, "one retry with a fresh token");
    assert_eq!(fake.token_requests().len(), 2);
}

#[tokio::test]
async fn wrong_credentials_are_a_configuration_error() {
    let fake = fake_with_customer().await;
    let mut config = config_for(&fake);
    config.secret = SecretSource::Inline(AppSecret {
        client_secret: Secret::new("not-the-secret"),
        refresh_token: None,
    });
    match client_with(config).customers(None).await {
        Err(ConnectorError::Configuration(message)) => {
            assert!(message.contains("invalid_client"), "{message}");
            assert!(!message.contains("not-the-secret"));
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert_eq!(fake.token_requests().len(), 1, "not retried");
    assert!(fake.requests().is_empty());

    let mut config = config_for(&fake);
    config.audience = TokenAudience::Resource("https://graph.microsoft.com".into());
    assert!(matches!(
        client_with(config).customers(None).await,
        Err(ConnectorError::Configuration(_))
    ));
}

#[tokio::test]
async fn token_requests_follow_the_configured_grant_and_endpoint() {
    let fake = fake_with_customer().await;

    client_for(&fake).customers(None).await.expect("app-only");
    let form = &fake.token_requests()[0].body;
    assert!(form.contains("grant_type=client_credentials"), "{form}");
    assert!(
        form.contains("resource=https%3A%2F%2Fapi.partnercenter.microsoft.com"),
        "{form}"
    );

    let mut config = config_for(&fake);
    config.secret = SecretSource::Inline(AppSecret {
        client_secret: Secret::new(integration_tests::fake_partner_center::CLIENT_SECRET),
        refresh_token: Some(Secret::new(REFRESH_TOKEN)),
    });
    client_with(config).customers(None).await.expect("app+user");
    let form = &fake.token_requests()[1].body;
    assert!(form.contains("grant_type=refresh_token"), "{form}");

    let mut config = config_for(&fake);
    config.token_url = fake.token_url_v2();
    config.audience =
        TokenAudience::Scope("https://api.partnercenter.microsoft.com/.default".into());
    client_with(config)
        .customers(None)
        .await
        .expect("v2 endpoint");
    assert!(fake.token_requests()[2].body.contains("scope="));
}

#[tokio::test]
async fn every_request_carries_the_partner_center_headers() {
    let fake = fake_with_customer().await;
    let client = client_for(&fake);
    client.customers(None).await.expect("customers");
    client
        .customer_agreements(CUSTOMER)
        .await
        .expect("agreements");
    client.direct_signed(CUSTOMER).await.expect("status");
    client
        .attest(&attestation("2024-03-01"))
        .await
        .expect("attest");
    let operation = Uuid::new_v4();
    client
        .with_correlation_id(operation)
        .direct_signed(CUSTOMER)
        .await
        .expect("status");

    let requests = fake.requests();
    assert_eq!(requests.len(), 5);
    let mut request_ids = HashSet::new();
    for request in &requests {
        let request_id = request.header("ms-requestid").expect("MS-RequestId");
        Uuid::parse_str(request_id).expect("a GUID");
        request_ids.insert(request_id.to_string());
        assert_eq!(request.header("accept"), Some("application/json"));
        assert!(request
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer fake-at-")));
        assert_eq!(request.header("ms-contract-version"), Some("v1"));
    }
    assert_eq!(request_ids.len(), 5, "a new MS-RequestId per call");
    let correlation = client.correlation_id().to_string();
    for request in &requests[..4] {
        assert_eq!(
            request.header("ms-correlationid"),
            Some(correlation.as_str())
        );
    }
    assert_eq!(
        requests[4].header("ms-correlationid"),
        Some(operation.to_string().as_str())
    );
}

#[tokio::test]
async fn customer_ids_never_reach_another_path() {
    let fake = fake_with_customer().await;
    let client = client_for(&fake);
    for bad in [
        "..",
        ".",
        "../customers",
        "a/b",
        "x/../../partners",
        "%2e%2e",
        "a%2Fb",
        "a?agreementType=x",
        "a#b",
        "",
    ] {
        let refused = |result: Result<_, ConnectorError>| matches!(result, Err(ConnectorError::Refused { ref code, .. }) if code == INVALID_CUSTOMER_ID);
        assert!(
            refused(client.customer_agreements(bad).await.map(|_| ())),
            "{bad:?}"
        );
        assert!(
            refused(client.direct_signed(bad).await.map(|_| ())),
            "{bad:?}"
        );
        let mut attempt = attestation("2024-03-01");
        attempt.customer_id = bad.to_string();
        assert!(
            refused(client.attest(&attempt).await.map(|_| ())),
            "{bad:?}"
        );
    }
    assert!(fake.requests().is_empty(), "{:?}", paths(&fake.requests()));
    assert!(fake.token_requests().is_empty());
}

#[tokio::test]
async fn a_failing_token_endpoint_is_tried_once_for_concurrent_callers() {
    let fake = fake_with_customer().await;
    let token_path = format!(
        "/{}/oauth2/token",
        integration_tests::fake_partner_center::TENANT_ID
    );
    fake.inject(&token_path, 2, Fault::ServerError);
    let mut config = config_for(&fake);
    config.max_attempts = 2;
    let client = client_with(config);
    let calls = (0..4).map(|_| client.direct_signed(CUSTOMER));
    for result in futures::future::join_all(calls).await {
        assert!(
            matches!(result, Err(ConnectorError::Transient { .. })),
            "{result:?}"
        );
    }
    assert_eq!(
        fake.token_requests().len(),
        2,
        "one caller's attempts, shared"
    );
    assert!(fake.requests().is_empty());

    // The endpoint is back: the next call gets a token.
    assert!(!client.direct_signed(CUSTOMER).await.expect("status"));
}
