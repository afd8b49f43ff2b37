//! End-to-end test of the local stack against a moto server (`AWS_ENDPOINT_URL`, default
//! http://127.0.0.1:5005), with the `local-stack-echo` binary as the function.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use local_stack::{jwt, Config, RunningStack};
use serde_json::{json, Value};

const SECRET: &str = "end-to-end-secret";

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5005".to_string())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn unique(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("e2e-{label}-{}-{nanos}", std::process::id())
}

fn echo_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_local-stack-echo"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

async fn require_moto() {
    let endpoint = endpoint();
    if let Err(error) = reqwest::get(&endpoint).await {
        panic!(
            "moto is not reachable at {endpoint} ({error}); start it with \
             `moto_server -H 127.0.0.1 -p 5005` or point AWS_ENDPOINT_URL at one"
        );
    }
}

fn config(label: &str, record_dir: &str) -> Config {
    let name = unique(label);
    Config {
        template: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/echo-template.yaml"),
        port: 0,
        endpoint: endpoint(),
        table_name: name.clone(),
        queue_prefix: name,
        bin_dir: echo_dir(),
        visibility_timeout: 1,
        params: BTreeMap::from([("RecordDir".to_string(), record_dir.to_string())]),
        max_instances: 4,
        jwt_secret: SECRET.to_string(),
        ..Config::default()
    }
}

async fn start(config: Config) -> RunningStack {
    match local_stack::start(config).await {
        Ok(stack) => stack,
        Err(error) => panic!("local stack did not start: {error}"),
    }
}

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => panic!("request failed: {error}"),
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        json,
    }
}

/// The echo function's answer: the event it got and what it saw.
fn echoed(reply: &Reply) -> &Value {
    assert_eq!(reply.status, 200, "{}", reply.json);
    &reply.json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_routes_authorizes_and_invokes() {
    require_moto().await;
    let stack = start(config("http", "")).await;
    let base = stack.base_url().to_string();
    let client = reqwest::Client::new();
    let token = jwt::mint(
        &json!({"sub": "user-1", "scope": "agreements.admin", "groups": ["x", "y"], "n": 5,
                "roles": ["agreements.admin"], "scp": "User.Read agreements.admin",
                "exp": now() + 300, "iss": "local", "aud": "local"}),
        SECRET,
    );

    // A guarded route with path and query parameters, cookies and claims.
    let reply = send(
        client
            .get(format!("{base}/things/a%20b?x=1&x=2&y=%C3%A9"))
            .bearer_auth(&token)
            .header("cookie", "c1=v1; c2=v2"),
    )
    .await;
    let body = echoed(&reply);
    assert_eq!(reply.headers["x-echo"], "1");
    assert_eq!(reply.headers.get_all("set-cookie").iter().count(), 2);
    assert!(reply.headers.contains_key("apigw-requestid"));
    let event = &body["event"];
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /things/{id}");
    assert_eq!(event["rawPath"], "/things/a%20b");
    assert_eq!(event["pathParameters"], json!({"id": "a b"}));
    assert_eq!(
        event["queryStringParameters"],
        json!({"x": "1,2", "y": "é"})
    );
    assert_eq!(event["cookies"], json!(["c1=v1", "c2=v2"]));
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["headers"]["authorization"], format!("Bearer {token}"));
    let context = &event["requestContext"];
    assert_eq!(context["stage"], "$default");
    assert_eq!(context["http"]["method"], "GET");
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    let claims = &context["authorizer"]["jwt"]["claims"];
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["groups"], "[x y]");
    // Entra ID's claims as API Gateway passes them: app roles (an array) as `[a b]`, delegated
    // scopes as the space-separated string they are.
    assert_eq!(claims["roles"], "[agreements.admin]");
    assert_eq!(claims["scp"], "User.Read agreements.admin");
    assert_eq!(claims["aud"], "local");
    assert_eq!(claims["n"], "5");
    // lambda_http reads the same event the way the real functions do.
    let seen = &body["seen"];
    assert_eq!(seen["path_parameters"], json!({"id": "a b"}));
    assert_eq!(seen["claims"]["sub"], "user-1");
    assert_eq!(seen["method"], "GET");
    // The function's environment: template intrinsics and the Lambda runtime's variables.
    let env = &body["env"];
    let table = stack.table_name();
    assert_eq!(env["TABLE_NAME"], table);
    assert_eq!(env["ISSUER"], "local");
    assert_eq!(env["JOBS_URL"].as_str(), stack.queue_url("Jobs"));
    assert_eq!(env["JOBS_ARN"].as_str(), stack.queue_arn("Jobs"));
    assert_eq!(
        env["TABLE_ARN"],
        format!("arn:aws:dynamodb:us-east-1:000000000000:table/{table}")
    );
    assert_eq!(env["SUBBED"], format!("us-east-1:000000000000:{table}"));
    assert_eq!(env["ECHO_FAIL_BODY"], "poison");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "local-stack-echo");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_ENDPOINT_URL"], endpoint());
    assert_eq!(env["AWS_ENDPOINT_URL_SESV2"], stack.ses_endpoint());
    assert_eq!(env["AWS_REGION"], "us-east-1");
    // `!GetAtt <Api>.ApiEndpoint` is the address the stack listens on (port 0 picked one).
    assert_eq!(env["API_URL"], format!("{base}/x"));
    assert_eq!(
        body["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:local-stack-echo"
    );
    let mut pids = vec![body["pid"].as_u64().unwrap_or_default()];

    // A greedy route with a JSON body.
    let reply = send(
        client
            .post(format!("{base}/files/a/b/c"))
            .bearer_auth(&token)
            .json(&json!({"k": "v"})),
    )
    .await;
    let body = echoed(&reply);
    assert_eq!(body["event"]["routeKey"], "ANY /files/{path+}");
    assert_eq!(body["event"]["pathParameters"], json!({"path": "a/b/c"}));
    assert_eq!(body["seen"]["json_body"], json!({"k": "v"}));

    // The authorizer refuses before the function runs.
    let claims = |extra: Value| {
        let mut all = json!({"sub": "u", "exp": now() + 60, "iss": "local", "aud": "local"});
        if let (Some(all), Some(extra)) = (all.as_object_mut(), extra.as_object()) {
            all.extend(extra.clone());
        }
        all
    };
    let expired = jwt::mint(&claims(json!({"exp": now() - 10})), SECRET);
    let forged = jwt::mint(&claims(json!({})), "other-secret");
    // The authorizer's JwtConfiguration: issuer !Ref JwtIssuer ("local"), audience [local].
    let other_issuer = jwt::mint(&claims(json!({"iss": "https://elsewhere"})), SECRET);
    let no_issuer = jwt::mint(
        &json!({"sub": "u", "exp": now() + 60, "aud": "local"}),
        SECRET,
    );
    let other_audience = jwt::mint(&claims(json!({"aud": "someone-else"})), SECRET);
    let no_audience = jwt::mint(
        &json!({"sub": "u", "exp": now() + 60, "iss": "local"}),
        SECRET,
    );
    let future = jwt::mint(&claims(json!({"iat": now() + 120})), SECRET);
    // API Gateway's own 401, whatever the reason.
    for (authorization, reason) in [
        (None, "missing bearer token"),
        (Some(format!("Bearer {expired}")), "token expired"),
        (Some(format!("Bearer {forged}")), "invalid signature"),
        (Some("Bearer not.a.jwt".to_string()), "malformed token"),
        (Some(format!("Basic {token}")), "not a bearer token"),
        (Some(format!("Bearer {other_issuer}")), "other issuer"),
        (Some(format!("Bearer {no_issuer}")), "no issuer"),
        (Some(format!("Bearer {other_audience}")), "other audience"),
        (Some(format!("Bearer {no_audience}")), "no audience"),
        (Some(format!("Bearer {future}")), "issued in the future"),
    ] {
        let mut request = client.get(format!("{base}/things/1"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let reply = send(request).await;
        assert_eq!(reply.status, 401, "{reason}");
        assert_eq!(reply.headers["content-type"], "application/json");
        assert_eq!(reply.json, json!({"message": "Unauthorized"}), "{reason}");
    }

    // As API Gateway, the identity source may hold the token alone; an audience list passes on
    // one accepted entry, and `client_id` stands for a missing `aud`.
    for accepted in [
        token.clone(),
        jwt::mint(&claims(json!({"aud": ["x", "local"]})), SECRET),
        jwt::mint(
            &json!({"sub": "u", "exp": now() + 60, "iss": "local", "client_id": "local"}),
            SECRET,
        ),
    ] {
        let reply = send(
            client
                .get(format!("{base}/things/1"))
                .header("authorization", accepted.as_str()),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }

    // A public route needs no token and carries no authorizer.
    let reply = send(client.get(format!("{base}/public/hello"))).await;
    let body = echoed(&reply);
    assert!(body["event"]["requestContext"].get("authorizer").is_none());

    // No route.
    for (method, path) in [
        ("GET", "/nope"),
        ("DELETE", "/things/1"),
        ("GET", "/things"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_default();
        let reply = send(
            client
                .request(method, format!("{base}{path}"))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.json, json!({"message": "Not Found"}));
    }

    // Too large a body.
    let reply = send(
        client
            .post(format!("{base}/public/big"))
            .body(vec![b'a'; 10 * 1024 * 1024 + 1]),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json, json!({"message": "Request Entity Too Large"}));

    // Function error, crash and timeout are a 500; the next request still works.
    for path in ["/public/fail", "/public/crash", "/public/sleep/5000"] {
        let started = Instant::now();
        let reply = send(client.get(format!("{base}{path}"))).await;
        assert_eq!(reply.status, 500, "{path}");
        assert_eq!(reply.json, json!({"message": "Internal Server Error"}));
        if path.contains("sleep") {
            let elapsed = started.elapsed();
            assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
            assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        }
        let reply = send(client.get(format!("{base}/public/after"))).await;
        pids.push(echoed(&reply)["pid"].as_u64().unwrap_or_default());
    }

    // Concurrent invocations get more processes.
    let requests = (0..4).map(|_| send(client.get(format!("{base}/public/sleep/400"))));
    let replies = futures_join_all(requests).await;
    let mut concurrent: Vec<u64> = replies
        .iter()
        .map(|reply| echoed(reply)["pid"].as_u64().unwrap_or_default())
        .collect();
    concurrent.sort_unstable();
    concurrent.dedup();
    assert!(concurrent.len() >= 2, "{concurrent:?}");
    pids.extend(concurrent);

    // The table exists, created from shared's schema.
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk().await);
    let described = dynamo.describe_table().table_name(table).send().await;
    assert!(described.is_ok(), "{described:?}");

    stack.shutdown().await;
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "function process {pid} outlived the stack"
        );
    }
}

/// Runs futures concurrently (the test needs nothing more than this from `futures`).
async fn futures_join_all<F: std::future::Future<Output = Reply> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<Reply> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut replies = Vec::new();
    for handle in handles {
        match handle.await {
            Ok(reply) => replies.push(reply),
            Err(error) => panic!("request task failed: {error}"),
        }
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_binary_is_a_502() {
    require_moto().await;
    let empty = std::env::temp_dir().join(unique("nobin"));
    if let Err(error) = std::fs::create_dir_all(&empty) {
        panic!("{error}");
    }
    let stack = start(Config {
        bin_dir: empty.clone(),
        ..config("nobin", "")
    })
    .await;
    let reply = send(reqwest::Client::new().get(format!("{}/public/x", stack.base_url()))).await;
    assert_eq!(reply.status, 502);
    let message = reply.json["message"].as_str().unwrap_or_default();
    assert!(message.contains("local-stack-echo"), "{message}");
    assert!(message.contains("cargo build --workspace"), "{message}");
    stack.shutdown().await;
    let _ = std::fs::remove_dir_all(empty);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_partial_batch_failure_ends_in_the_dead_letter_queue() {
    require_moto().await;
    let record_dir = std::env::temp_dir().join(unique("records"));
    if let Err(error) = std::fs::create_dir_all(&record_dir) {
        panic!("{error}");
    }
    let stack = start(config("sqs", &record_dir.to_string_lossy())).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk().await);
    let jobs = stack.queue_url("Jobs").unwrap_or_default().to_string();
    let dlq = stack.queue_url("JobsDlq").unwrap_or_default().to_string();
    assert!(!jobs.is_empty() && !dlq.is_empty());

    // The template's 60s visibility timeout is overridden locally.
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&jobs)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await;
    let attributes = match attributes {
        Ok(output) => output.attributes.unwrap_or_default(),
        Err(error) => panic!("{error:?}"),
    };
    assert_eq!(
        attributes
            .get(&QueueAttributeName::VisibilityTimeout)
            .map(String::as_str),
        Some("1")
    );
    let redrive: Value = attributes
        .get(&QueueAttributeName::RedrivePolicy)
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    assert_eq!(
        redrive["deadLetterTargetArn"].as_str(),
        stack.queue_arn("JobsDlq")
    );

    let mut entries = Vec::new();
    for (id, body) in [("a", "ok-1"), ("b", "poison"), ("c", "ok-2")] {
        let mut entry = SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(body);
        if let Ok(attribute) = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(format!("attr-{id}"))
            .build()
        {
            entry = entry.message_attributes("origin", attribute);
        }
        match entry.build() {
            Ok(entry) => entries.push(entry),
            Err(error) => panic!("{error}"),
        }
    }
    let sent = sqs
        .send_message_batch()
        .queue_url(&jobs)
        .set_entries(Some(entries))
        .send()
        .await;
    let sent = match sent {
        Ok(output) => output,
        Err(error) => panic!("{error:?}"),
    };
    let ids: BTreeMap<String, String> = sent
        .successful()
        .iter()
        .map(|s| (s.id().to_string(), s.message_id().to_string()))
        .collect();
    assert_eq!(ids.len(), 3);

    // The poison message fails twice, then moto moves it to the dead-letter queue.
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut dead = Vec::new();
    while dead.is_empty() && Instant::now() < deadline {
        if let Ok(output) = sqs
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(1)
            .send()
            .await
        {
            dead.extend(
                output
                    .messages()
                    .iter()
                    .filter_map(|m| m.body().map(str::to_string)),
            );
        }
    }
    assert_eq!(dead, ["poison"]);

    // Everything else was deleted after one successful delivery.
    let mut remaining = (u64::MAX, u64::MAX);
    while remaining != (0, 0) && Instant::now() < deadline {
        if let Ok(output) = sqs
            .get_queue_attributes()
            .queue_url(&jobs)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
        {
            let count = |name: QueueAttributeName| {
                output
                    .attributes()
                    .and_then(|a| a.get(&name))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(u64::MAX)
            };
            remaining = (
                count(QueueAttributeName::ApproximateNumberOfMessages),
                count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(remaining, (0, 0));

    let mut deliveries: Vec<String> = std::fs::read_dir(&record_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    deliveries.sort();
    let mut expected = vec![
        format!("{}-1.json", ids["a"]),
        format!("{}-1.json", ids["b"]),
        format!("{}-2.json", ids["b"]),
        format!("{}-1.json", ids["c"]),
    ];
    expected.sort();
    assert_eq!(deliveries, expected);

    let record: Value = std::fs::read(record_dir.join(format!("{}-1.json", ids["a"])))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    assert_eq!(record["body"], "ok-1");
    assert_eq!(record["eventSource"], "aws:sqs");
    assert_eq!(record["eventSourceARN"].as_str(), stack.queue_arn("Jobs"));
    assert_eq!(record["awsRegion"], "us-east-1");
    assert_eq!(record["attributes"]["ApproximateReceiveCount"], "1");
    assert!(record["attributes"]["SentTimestamp"].is_string());
    assert_eq!(
        record["messageAttributes"]["origin"],
        json!({"stringValue": "attr-a", "stringListValues": [], "binaryListValues": [], "dataType": "String"})
    );
    assert!(record["md5OfBody"].is_string());

    stack.shutdown().await;
    let _ = std::fs::remove_dir_all(record_dir);
}

/// The gated route's event as the echo function got it, after the authorizer let it through.
async fn gated(client: &reqwest::Client, base: &str, authorization: Option<&str>) -> Reply {
    let mut request = client.get(format!("{base}/gated/g1?q=1"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    send(request).await
}

fn lambda_context(reply: &Reply) -> Value {
    echoed(reply)["event"]["requestContext"]["authorizer"]["lambda"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_authorizer_guards_its_routes_and_caches_its_answers() {
    require_moto().await;
    let stack = start(config("lambda-auth", "")).await;
    let base = stack.base_url().to_string();
    let client = reqwest::Client::new();

    // No identity source (or an empty one): API Gateway's 401, no invocation.
    for authorization in [None, Some("")] {
        let reply = gated(&client, &base, authorization).await;
        assert_eq!(reply.status, 401, "{authorization:?}");
        assert_eq!(reply.headers["content-type"], "application/json");
        assert_eq!(reply.json, json!({"message": "Unauthorized"}));
    }

    let reply = gated(&client, &base, Some("Bearer allow-1")).await;
    let context = lambda_context(&reply);
    assert_eq!(context["type"], "REQUEST");
    assert_eq!(
        context["route_arn"],
        "arn:aws:execute-api:us-east-1:000000000000:local/$default/GET/gated/g1"
    );
    assert_eq!(context["route_key"], "GET /gated/{id}");
    assert_eq!(context["identity_source"], json!(["Bearer allow-1"]));
    assert_eq!(context["path_parameters"], json!({"id": "g1"}));
    // The route's event has no JWT claims, only the authorizer's context.
    assert!(echoed(&reply)["event"]["requestContext"]["authorizer"]
        .get("jwt")
        .is_none());
    // Within ReauthorizeEvery (60 s here) the same identity gets the cached answer.
    let again = lambda_context(&gated(&client, &base, Some("Bearer allow-1")).await);
    assert_eq!(again["invocation"], context["invocation"]);
    assert_eq!(again["request_id"], context["request_id"]);
    let other = lambda_context(&gated(&client, &base, Some("Bearer allow-2")).await);
    assert_ne!(other["invocation"], context["invocation"]);

    for (authorization, status, message) in [
        ("Bearer deny", 403, "Forbidden"),
        ("Bearer fail", 500, "Internal Server Error"),
        ("Bearer garbage", 500, "Internal Server Error"),
    ] {
        let reply = gated(&client, &base, Some(authorization)).await;
        assert_eq!(reply.status, status, "{authorization}");
        assert_eq!(reply.json, json!({ "message": message }), "{authorization}");
    }
    // The JWT routes keep their authorizer.
    let reply = send(
        client
            .get(format!("{base}/things/1"))
            .header("authorization", "Bearer allow-1"),
    )
    .await;
    assert_eq!(reply.status, 401);
    stack.shutdown().await;

    // ReauthorizeEvery 0 (as `make local` runs it): every request asks the authorizer.
    let mut uncached = config("lambda-auth-0", "");
    uncached
        .params
        .insert("AuthCacheSeconds".into(), "0".into());
    let stack = start(uncached).await;
    let base = stack.base_url().to_string();
    let first = lambda_context(&gated(&client, &base, Some("Bearer allow-1")).await);
    let second = lambda_context(&gated(&client, &base, Some("Bearer allow-1")).await);
    assert_ne!(first["invocation"], second["invocation"]);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_ses_outbox_and_the_customer_identity_provider() {
    require_moto().await;
    let config = config("secrets", "");
    let prefix = config.queue_prefix.clone();
    let stack = start(config.clone()).await;
    let base = stack.base_url().to_string();
    let client = reqwest::Client::new();
    let sdk = sdk().await;

    // The generated secret: `<queue_prefix>-<LogicalId>`, 64 letters and digits, its ARN the
    // function's `!Ref`.
    let env = echoed(&send(client.get(format!("{base}/public/env"))).await)["env"].clone();
    let arn = stack
        .secret_arn("SigningKey")
        .unwrap_or_default()
        .to_string();
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
        "{arn}"
    );
    assert!(
        arn.contains(&format!(":secret:{prefix}-SigningKey")),
        "{arn}"
    );
    assert_eq!(env["SIGNING_KEY_ARN"], arn);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let value = |arn: String| {
        let secrets = secrets.clone();
        async move {
            secrets
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map(|o| o.secret_string.unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e:?}"))
        }
    };
    let first_value = value(arn.clone()).await;
    assert_eq!(first_value.len(), 64);
    assert!(first_value.chars().all(|c| c.is_ascii_alphanumeric()));

    // SES through the stack's proxy: the sender's domain is an identity the stack created.
    let ses_endpoint = env["AWS_ENDPOINT_URL_SESV2"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(ses_endpoint, stack.ses_endpoint());
    let ses_config = aws_sdk_sesv2::config::Builder::from(&sdk)
        .endpoint_url(&ses_endpoint)
        .build();
    let ses = aws_sdk_sesv2::Client::from_conf(ses_config);
    let content = |data: &str| {
        aws_sdk_sesv2::types::Content::builder()
            .data(data)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let link = format!("{base}/portal#token=abc");
    let sent = ses
        .send_email()
        .from_email_address("Agreements <agreements@agreements.local>")
        .destination(
            aws_sdk_sesv2::types::Destination::builder()
                .to_addresses("ada@contoso.example")
                .build(),
        )
        .content(
            aws_sdk_sesv2::types::EmailContent::builder()
                .simple(
                    aws_sdk_sesv2::types::Message::builder()
                        .subject(content("Your agreements"))
                        .body(
                            aws_sdk_sesv2::types::Body::builder()
                                .text(content(&format!("Open {link} to confirm.")))
                                .html(content(&format!("<a href=\"{link}\">Open</a>")))
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let message_id = sent.message_id.unwrap_or_default();
    assert!(!message_id.is_empty());
    let outbox = stack.outbox();
    assert_eq!(outbox.len(), 1);
    let mail = &outbox[0];
    assert_eq!(mail.to, ["ada@contoso.example"]);
    assert_eq!(mail.from, "Agreements <agreements@agreements.local>");
    assert_eq!(mail.subject, "Your agreements");
    assert_eq!(mail.text, format!("Open {link} to confirm."));
    assert!(mail.html.contains(&link));
    assert_eq!(mail.message_id, message_id);
    assert_eq!(mail.first_link(), Some(link.as_str()));
    let listed = send(client.get(format!("{base}{}", local_stack::OUTBOX_PATH))).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json[0]["message_id"], message_id);
    assert_eq!(listed.json[0]["to"], json!(["ada@contoso.example"]));
    assert!(listed.json[0]["sent_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    // Another sender's domain is no identity: moto refuses, nothing is recorded.
    let refused = ses
        .send_email()
        .from_email_address("someone@elsewhere.example")
        .destination(
            aws_sdk_sesv2::types::Destination::builder()
                .to_addresses("ada@contoso.example")
                .build(),
        )
        .content(
            aws_sdk_sesv2::types::EmailContent::builder()
                .simple(
                    aws_sdk_sesv2::types::Message::builder()
                        .subject(content("x"))
                        .body(
                            aws_sdk_sesv2::types::Body::builder()
                                .text(content("x"))
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await;
    assert!(refused.is_err());
    assert_eq!(stack.outbox().len(), 1);

    // The customer identity provider's JWKS verifies its tokens.
    let jwks = send(client.get(format!("{base}{}", local_stack::customer_idp::JWKS_PATH))).await;
    assert_eq!(jwks.status, 200);
    let key = &jwks.json["keys"][0];
    assert_eq!(key["kid"], "local-dev-1");
    let claims = json!({"iss": local_stack::customer_idp::ISSUER,
                        "aud": local_stack::customer_idp::AUDIENCE,
                        "sub": "c", "exp": now() + 60});
    let token = local_stack::customer_idp::mint(&claims);
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap_or_default(),
        key["e"].as_str().unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[local_stack::customer_idp::ISSUER]);
    validation.set_audience(&[local_stack::customer_idp::AUDIENCE]);
    assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &validation).is_ok());
    stack.shutdown().await;

    // Started again with the same names (a second `make local`), the secret keeps its value.
    let again = start(config).await;
    assert_eq!(again.secret_arn("SigningKey"), Some(arn.as_str()));
    assert_eq!(value(arn.clone()).await, first_value);
    assert!(again.outbox().is_empty());
    again.shutdown().await;
}
