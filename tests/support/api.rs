//! The local API as a client sees it: a stack of its own per test (own table, own queues),
//! HTTP calls with tokens, and the problem documents that come back.

use std::time::{SystemTime, UNIX_EPOCH};

use local_stack::{Config, RunningStack};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{endpoint, unique, workspace_root};

pub const SECRET: &str = local_stack::DEFAULT_JWT_SECRET;

/// A running local stack and a client for it.
pub struct Api {
    pub stack: RunningStack,
    pub base: String,
    http: reqwest::Client,
}

/// An answer: status, headers and the JSON body (Null when there is none).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts API Gateway's own 401 (`{"message":"Unauthorized"}`): an authorizer refused the
    /// request before any function ran.
    pub fn assert_gateway_unauthorized(&self) {
        assert_eq!(self.status.as_u16(), 401, "{:?}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{:?}",
            self.body
        );
        assert_eq!(self.body, json!({"message": "Unauthorized"}));
    }

    /// Asserts a problem+json answer with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{:?}",
            self.body
        );
        assert_eq!(self.body["code"], code, "{:?}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A staff token as the partner's identity provider would issue it: the local JWT authorizer's
/// issuer and audience, and `claims` on top.
pub fn token_with(claims: Value) -> String {
    let mut all = json!({
        "iss": local_stack::intrinsics::LOCAL_JWT_ISSUER,
        "aud": local_stack::intrinsics::LOCAL_JWT_AUDIENCE,
        "exp": now() + 600,
    });
    if let (Some(all), Some(claims)) = (all.as_object_mut(), claims.as_object()) {
        all.extend(claims.clone());
    }
    local_stack::jwt::mint(&all, SECRET)
}

pub fn staff_token() -> String {
    token_with(json!({"sub": "staff-test", "scope": "agreements.admin"}))
}

/// A customer's token from the customer identity provider the local stack plays (RS256, its
/// JWKS served by the stack), as the portal's Lambda authorizer accepts it.
pub fn customer_token(account_id: &str, contact_id: &str) -> String {
    local_stack::customer_idp::mint(&json!({
        "sub": format!("contact-{contact_id}"), "scope": "agreements.portal",
        "account_id": account_id, "contact_id": contact_id, "exp": now() + 600,
        "iss": local_stack::customer_idp::ISSUER, "aud": local_stack::customer_idp::AUDIENCE,
    }))
}

pub fn expired_token() -> String {
    token_with(json!({"sub": "staff-test", "scope": "agreements.admin", "exp": now() - 60}))
}

pub fn forged_token() -> String {
    local_stack::jwt::mint(
        &json!({"sub": "staff-test", "scope": "agreements.admin", "exp": now() + 600,
                "iss": local_stack::intrinsics::LOCAL_JWT_ISSUER,
                "aud": local_stack::intrinsics::LOCAL_JWT_AUDIENCE}),
        "not-the-secret",
    )
}

/// A valid token that carries no role of this API.
pub fn roleless_token() -> String {
    token_with(json!({"sub": "someone", "scope": "openid"}))
}

impl Api {
    /// Starts a stack of its own on an ephemeral port over the local endpoint.
    pub async fn start() -> Api {
        Api::start_with(&[]).await
    }

    /// The same, with template parameters set (e.g. Partner Center's address and credentials).
    pub async fn start_with(params: &[(&str, String)]) -> Api {
        Api::start_configured(params, &[], 1).await
    }

    /// The same, with every queue's visibility timeout (the tests' 1 s brings a failed message
    /// back at once; a long run wants the template's, so slow batches are not redelivered).
    pub async fn start_with_visibility(params: &[(&str, String)], visibility_timeout: u32) -> Api {
        Api::start_configured(params, &[], visibility_timeout).await
    }

    /// The same, with values for the template's generated secrets (by logical id).
    pub async fn start_configured(
        params: &[(&str, String)],
        secrets: &[(&str, &str)],
        visibility_timeout: u32,
    ) -> Api {
        let root = workspace_root();
        let config = Config {
            template: root.join("template.yaml"),
            port: 0,
            endpoint: endpoint(),
            table_name: unique("contract"),
            queue_prefix: unique("q"),
            // A long run may use a copy of the binaries, so that a rebuild does not change them
            // under it.
            bin_dir: std::env::var_os("AGREEMENTS_BIN_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| root.join("target").join("debug")),
            visibility_timeout,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            secret_values: secrets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Config::default()
        };
        let stack = local_stack::start(config).await.unwrap_or_else(|e| {
            panic!(
                "the local stack did not start (run `cargo build --workspace --bins` first): {e}"
            )
        });
        let base = stack.base_url().to_string();
        Api {
            stack,
            base,
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        self.send(request).await
    }

    /// A request built by the caller (raw bodies, headers).
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends a request and reads the answer, which must be one docs/openapi.yaml allows.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let (client, request) = request.build_split();
        let request = request.expect("a well-formed request");
        let method = request.method().to_string();
        let path = request.url().path().to_string();
        let response = client
            .execute(request)
            .await
            .expect("the local API answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        crate::openapi::assert_answer(
            &method,
            &path,
            status.as_u16(),
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            &text,
        );
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(&staff_token()), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(&staff_token()), Some(body))
            .await
    }

    /// Creates through the API and answers the new record, asserting 201.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let a = self.post(path, body).await;
        assert_eq!(a.status, StatusCode::CREATED, "POST {path}: {:?}", a.body);
        a.body
    }

    /// Two accounts, "Twin A" and "Twin B", of the same e-mail domain: a customer of that
    /// domain matches neither, since no single account is its.
    pub async fn twin_accounts(&self, domain: &str) {
        for name in ["Twin A", "Twin B"] {
            self.create("/accounts", json!({"name": name, "email_domain": domain}))
                .await;
        }
    }

    /// A provider, an account with a contact, and an active template of the provider.
    pub async fn basics(&self) -> Basics {
        let provider = self
            .create(
                "/providers",
                json!({"name": "Microsoft Partner Center", "kind": "automatic",
                       "platform": "microsoft_partner_center", "syncs_agreements": true}),
            )
            .await;
        let account = self
            .create("/accounts", json!({"name": "Contoso Ltd", "email_domain": format!("{}.example", unique("contoso"))}))
            .await;
        let account_id = account["id"].as_str().unwrap_or_default().to_string();
        let contact = self
            .create(
                &format!("/accounts/{account_id}/contacts"),
                json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@contoso.example"}),
            )
            .await;
        let template = self
            .create(
                "/agreement-templates",
                json!({"name": "Microsoft Customer Agreement", "template_id": "117a69e4",
                       "provider_id": provider["id"], "document_version": "2024-01",
                       "effective_date": "2024-01-01", "agreement_link": "https://example.com/mca",
                       "display_inline": true, "portal_instructions": "Read, then confirm."}),
            )
            .await;
        Basics {
            provider,
            account,
            contact,
            template,
        }
    }

    /// Every item of a list, following cursors.
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next: Option<String> = None;
        loop {
            let url = match &next {
                Some(c) => format!("{path}{sep}limit=500&cursor={c}"),
                None => format!("{path}{sep}limit=500"),
            };
            let a = self.get(&url).await;
            assert_eq!(a.status, StatusCode::OK, "GET {url}: {:?}", a.body);
            items.extend(a.body["items"].as_array().cloned().unwrap_or_default());
            match a.body["next_cursor"].as_str() {
                Some(c) => next = Some(c.to_string()),
                None => return items,
            }
        }
    }

    /// Polls a bulk job until it finishes; checks that its counts only grow while it runs.
    pub async fn wait_for_job(&self, job_id: &str) -> Value {
        let mut last = (0, 0, 0);
        for _ in 0..900 {
            let j = self.get(&format!("/bulk-jobs/{job_id}")).await;
            assert_eq!(j.status, StatusCode::OK, "{:?}", j.body);
            let counts = (
                j.body["created"].as_u64().unwrap_or(0),
                j.body["skipped"].as_u64().unwrap_or(0),
                j.body["failed"].as_u64().unwrap_or(0),
            );
            assert!(
                counts.0 >= last.0 && counts.1 >= last.1 && counts.2 >= last.2,
                "counts never go back"
            );
            last = counts;
            if j.body["status"] == "completed" || j.body["status"] == "failed" {
                return j.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("job {job_id} did not finish");
    }

    /// How many items the stack's table holds: to show a refused request wrote nothing.
    pub async fn item_count(&self) -> i32 {
        crate::dynamodb()
            .await
            .scan()
            .table_name(self.stack.table_name())
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .map(|o| o.count)
            .expect("scan count")
    }
}

pub struct Basics {
    pub provider: Value,
    pub account: Value,
    pub contact: Value,
    pub template: Value,
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}
