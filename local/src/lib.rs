//! A docker-free stand-in for `sam local`: runs template.yaml's functions (their cargo binaries)
//! behind a local HTTP API with the JWT and Lambda authorizers and SQS event sources, against a
//! moto server; creates the template's generated secrets and SES identities there, and keeps the
//! e-mails the functions send in an outbox (`GET /_local/outbox`, [`RunningStack::outbox`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), local_stack::Error> {
//! let stack = local_stack::start(local_stack::Config::default()).await?;
//! println!("{}", stack.base_url());
//! stack.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod apigw;
pub mod authorizer;
mod aws;
pub mod customer_idp;
pub mod eventbridge;
mod http_api;
mod ids;
pub mod intrinsics;
pub mod jwt;
pub mod lambda;
pub mod routes;
mod runtime_api;
pub mod s3;
pub mod secrets;
pub mod server;
pub mod ses;
pub mod sqs;
pub mod streams;
pub mod template;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use aws::TableSetupError;
pub use eventbridge::PublishedEvent;
pub use http_api::{EVENTS_PATH, OUTBOX_PATH};
use intrinsics::{QueueAddress, ResolveError, Resolver, ACCOUNT_ID, REGION};
use lambda::{FunctionSpec, Pool};
use routes::{Route, RouteGuard, Router};
pub use secrets::SecretSetupError;
use server::ShutdownTrigger;
pub use ses::OutboxEntry;
pub use sqs::QueueSetupError;
use template::{RouteAuth, Template, TemplateError};

/// Logs of the local binaries to stderr, filtered by `LOCAL_STACK_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOCAL_STACK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The JWT secret when `LOCAL_JWT_SECRET` is not set.
pub const DEFAULT_JWT_SECRET: &str = "local-dev-secret";

/// Everything the runner can be told; `Default` gives the CLI's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub template: PathBuf,
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// The moto server (DynamoDB and SQS).
    pub endpoint: String,
    pub table_name: String,
    /// Queues and generated secrets are named `<queue_prefix>-<LogicalId>`.
    pub queue_prefix: String,
    /// Where the functions' binaries are.
    pub bin_dir: PathBuf,
    /// Every queue's visibility timeout, in seconds, so failed messages come back quickly.
    pub visibility_timeout: u32,
    /// Template parameter overrides. Without one, a parameter takes the local stack's value
    /// (`intrinsics::local_parameter_values`), else its template `Default`, else the
    /// `intrinsics::BUILT_IN_PARAMETER_DEFAULTS` entry.
    pub params: BTreeMap<String, String>,
    /// Delete and recreate the table if it exists.
    pub reset_table: bool,
    /// Most processes one function may run at once.
    pub max_instances: usize,
    /// The HS256 secret of the JWT authorizer.
    pub jwt_secret: String,
    /// Values for the template's generated secrets, by logical id, in place of a random one
    /// (set even on a secret that exists): what an operator puts into a secret after deploying,
    /// such as `PartnerCenterClientSecret`.
    pub secret_values: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            template: PathBuf::from("template.yaml"),
            host: "127.0.0.1".into(),
            port: 3000,
            endpoint: "http://127.0.0.1:5005".into(),
            table_name: "agreements-local".into(),
            queue_prefix: "agreements-local".into(),
            bin_dir: PathBuf::from("target/debug"),
            visibility_timeout: 5,
            params: BTreeMap::new(),
            reset_table: false,
            max_instances: 8,
            jwt_secret: DEFAULT_JWT_SECRET.into(),
            secret_values: BTreeMap::new(),
        }
    }
}

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{0}")]
    Config(String),
    #[error("function {function}: environment variable {variable}: {source}")]
    Environment {
        function: String,
        variable: String,
        source: ResolveError,
    },
    #[error("routes: {0}")]
    Route(String),
    #[error(transparent)]
    Table(#[from] TableSetupError),
    #[error(transparent)]
    Queue(#[from] QueueSetupError),
    #[error(transparent)]
    Secret(#[from] SecretSetupError),
    #[error("{0}")]
    Ses(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// A started stack. Dropping it stops everything too, without waiting.
#[derive(Debug)]
pub struct RunningStack {
    local_addr: SocketAddr,
    base_url: String,
    table_name: String,
    queues: BTreeMap<String, QueueAddress>,
    secrets: BTreeMap<String, String>,
    buckets: BTreeMap<String, String>,
    ses_endpoint: String,
    outbox: ses::Outbox,
    events: eventbridge::EventLog,
    trigger: ShutdownTrigger,
    pools: Vec<Pool>,
    servers: Vec<JoinHandle<()>>,
    pollers: Vec<JoinHandle<()>>,
}

impl RunningStack {
    /// The function whose binary is `binary`: its executable and resolved environment (the
    /// Lambda runtime's own variables are not in it).
    pub fn function(&self, binary: &str) -> Option<FunctionSpec> {
        self.pools
            .iter()
            .find(|pool| pool.name() == binary)
            .map(|pool| pool.spec().clone())
    }

    /// `http://<host>:<port>` of the HTTP API.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the HTTP API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The local URL of a template queue, by logical id.
    pub fn queue_url(&self, logical_id: &str) -> Option<&str> {
        self.queues.get(logical_id).map(|q| q.url.as_str())
    }

    /// The local ARN of a template queue, by logical id.
    pub fn queue_arn(&self, logical_id: &str) -> Option<&str> {
        self.queues.get(logical_id).map(|q| q.arn.as_str())
    }

    /// The local name of an S3 bucket of the template, by logical id.
    pub fn bucket(&self, logical_id: &str) -> Option<&str> {
        self.buckets.get(logical_id).map(String::as_str)
    }

    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// The ARN of a generated secret of the template, by logical id.
    pub fn secret_arn(&self, logical_id: &str) -> Option<&str> {
        self.secrets.get(logical_id).map(String::as_str)
    }

    /// The SES proxy the functions send e-mail through (`AWS_ENDPOINT_URL_SESV2`).
    pub fn ses_endpoint(&self) -> &str {
        &self.ses_endpoint
    }

    /// The e-mails the functions sent, newest first (also `GET /_local/outbox`).
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        self.outbox.entries()
    }

    /// The events the functions published to EventBridge, oldest first (also
    /// `GET /_local/events`).
    pub fn events(&self) -> Vec<PublishedEvent> {
        self.events.entries()
    }

    /// Stops the pollers, kills every function process and waits for them, then stops the
    /// servers. (Processes go before the Runtime API so that none sees its connection drop.)
    pub async fn shutdown(mut self) {
        for poller in std::mem::take(&mut self.pollers) {
            poller.abort();
            let _ = poller.await;
        }
        for pool in std::mem::take(&mut self.pools) {
            pool.shutdown().await;
        }
        self.trigger.trigger();
        for server in std::mem::take(&mut self.servers) {
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                tracing::warn!("a server did not stop in time");
            }
        }
    }
}

impl Drop for RunningStack {
    fn drop(&mut self) {
        for poller in &self.pollers {
            poller.abort();
        }
        for pool in &self.pools {
            // Dropping the monitors' kill switches kills the processes; kill_on_drop covers a
            // runtime that is itself going away.
            drop(pool.close());
        }
        self.trigger.trigger();
        for server in &self.servers {
            server.abort();
        }
    }
}

/// Where moto puts a queue, used to check the template before anything is created.
fn predicted_queue_addresses(
    config: &Config,
    template: &Template,
) -> BTreeMap<String, QueueAddress> {
    template
        .queues
        .iter()
        .map(|queue| {
            let name = sqs::queue_name(&config.queue_prefix, queue);
            let address = QueueAddress {
                url: format!(
                    "{}/{ACCOUNT_ID}/{name}",
                    config.endpoint.trim_end_matches('/')
                ),
                arn: format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"),
                name,
            };
            (queue.logical_id.clone(), address)
        })
        .collect()
}

/// Each function's environment: template variables, then the local AWS settings (SES through
/// the proxy at `ses_endpoint`).
fn environments(
    config: &Config,
    template: &Template,
    resolver: &Resolver,
    ses_endpoint: &str,
    events_endpoint: &str,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, Error> {
    let runner_rust_log = std::env::var("RUST_LOG").ok();
    let mut all = BTreeMap::new();
    for function in &template.functions {
        let mut environment = BTreeMap::new();
        for (variable, value) in &function.environment {
            let resolved = resolver
                .resolve(value)
                .map_err(|source| Error::Environment {
                    function: function.logical_id.clone(),
                    variable: variable.clone(),
                    source,
                })?;
            environment.insert(variable.clone(), resolved);
        }
        for (name, value) in [
            ("AWS_ENDPOINT_URL", config.endpoint.as_str()),
            ("AWS_ENDPOINT_URL_SESV2", ses_endpoint),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", events_endpoint),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ] {
            environment.insert(name.to_string(), value.to_string());
        }
        if let Some(level) = &runner_rust_log {
            environment.insert("RUST_LOG".into(), level.clone());
        }
        all.insert(function.logical_id.clone(), environment);
    }
    Ok(all)
}

/// What a JWT authorizer of the template requires of a token's `iss` and `aud`, resolved.
fn jwt_expectations(
    template: &Template,
    resolver: &Resolver,
    api: &str,
    name: &str,
) -> Result<jwt::Expected, Error> {
    let Some(authorizer) = template.jwt_authorizer(api, name) else {
        return Err(Error::Config(format!(
            "HTTP API {api} has no JWT authorizer {name}"
        )));
    };
    let resolve = |what: &str, value: &serde_yaml::Value| {
        resolver.resolve(value).map_err(|e| {
            Error::Config(format!(
                "HTTP API {api} authorizer {name}: JwtConfiguration.{what}: {e}"
            ))
        })
    };
    Ok(jwt::Expected {
        issuer: authorizer
            .issuer
            .as_ref()
            .map(|issuer| resolve("issuer", issuer))
            .transpose()?,
        audiences: authorizer
            .audience
            .iter()
            .map(|audience| resolve("audience", audience))
            .collect::<Result<_, _>>()?,
    })
}

fn router(template: &Template, resolver: &Resolver) -> Result<Router, Error> {
    let mut routes = Vec::new();
    for function in &template.functions {
        for event in &function.http_events {
            let guard = match &event.auth {
                RouteAuth::Public => RouteGuard::Public,
                RouteAuth::Jwt { authorizer } => RouteGuard::Jwt(jwt_expectations(
                    template, resolver, &event.api, authorizer,
                )?),
                RouteAuth::Lambda { authorizer } => RouteGuard::Lambda {
                    api: event.api.clone(),
                    authorizer: authorizer.clone(),
                },
            };
            routes.push(
                Route::new(&event.method, &event.path, &function.binary, guard)
                    .map_err(Error::Route)?,
            );
        }
    }
    Router::new(routes).map_err(Error::Route)
}

/// The Lambda authorizers of the template's APIs, their `ReauthorizeEvery` resolved.
fn lambda_authorizers(
    template: &Template,
    resolver: &Resolver,
) -> Result<http_api::Authorizers, Error> {
    let mut authorizers = http_api::Authorizers::new();
    for api in &template.apis {
        for name in api.authorizers.keys() {
            let Some(spec) = template.lambda_authorizer(&api.logical_id, name) else {
                continue;
            };
            let context = |message: String| {
                Error::Config(format!(
                    "HTTP API {} authorizer {name}: {message}",
                    api.logical_id
                ))
            };
            let function = template
                .function(&spec.function)
                .ok_or_else(|| context(format!("no function {}", spec.function)))?;
            let ttl_secs = match &spec.reauthorize_every {
                None => 0,
                Some(value) => {
                    let resolved = resolver
                        .resolve(value)
                        .map_err(|e| context(format!("Identity.ReauthorizeEvery: {e}")))?;
                    resolved.trim().parse::<u64>().map_err(|_| {
                        context(format!(
                            "Identity.ReauthorizeEvery {resolved:?} is not a number of seconds"
                        ))
                    })?
                }
            };
            authorizers.insert(
                (api.logical_id.clone(), name.to_string()),
                Arc::new(authorizer::LambdaAuthorizer::new(
                    name,
                    &function.binary,
                    spec.identity_headers.clone(),
                    Duration::from_secs(ttl_secs),
                )),
            );
        }
    }
    Ok(authorizers)
}

/// The identities of the template's `AWS::SES::EmailIdentity` resources, resolved; an empty one
/// is not created (the template's condition on it is taken to be exactly "not empty").
fn email_identities(template: &Template, resolver: &Resolver) -> Result<Vec<String>, Error> {
    let mut identities = Vec::new();
    for (logical_id, resource) in template.resources_of_type("AWS::SES::EmailIdentity") {
        let Some(value) = resource
            .get("Properties")
            .and_then(|p| p.get("EmailIdentity"))
        else {
            continue;
        };
        let identity = resolver
            .resolve(value)
            .map_err(|e| Error::Config(format!("SES identity {logical_id}: EmailIdentity: {e}")))?;
        if !identity.trim().is_empty() {
            identities.push(identity.trim().to_string());
        }
    }
    Ok(identities)
}

async fn bind(address: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(address)
        .await
        .map_err(|source| Error::Bind {
            address: address.to_string(),
            source,
        })
}

/// Starts the stack: table, queues, Runtime API, HTTP API and SQS pollers. Returns once all of
/// it is ready.
pub async fn start(config: Config) -> Result<RunningStack, Error> {
    let template = Template::load(&config.template)?;
    for ignored in &template.ignored_events {
        tracing::info!(
            function = %ignored.function,
            event = %ignored.name,
            r#type = %ignored.event_type,
            "event type is not run locally; ignoring it"
        );
    }
    let mut binaries: Vec<&str> = template
        .functions
        .iter()
        .map(|f| f.binary.as_str())
        .collect();
    binaries.sort_unstable();
    if let Some(pair) = binaries.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(Error::Config(format!(
            "binary {} serves more than one function; the local stack runs one function per binary",
            pair[0]
        )));
    }

    // The HTTP API listens first: `!GetAtt <Api>.ApiEndpoint` and the customer identity
    // provider's JWKS URL name its address.
    let address = format!("{}:{}", config.host, config.port);
    let listener = bind(&address).await?;
    let local_addr = listener.local_addr().map_err(|source| Error::Bind {
        address: address.clone(),
        source,
    })?;
    let host = if local_addr.ip().is_ipv6() {
        format!("[{}]", local_addr.ip())
    } else {
        local_addr.ip().to_string()
    };
    let base_url = format!("http://{host}:{}", local_addr.port());
    let local_values = intrinsics::local_parameter_values(&base_url);

    // Check parameters, intrinsics and routes before touching the endpoint.
    let generated_secrets = secrets::generated_secrets(&template).map_err(Error::Config)?;
    if let Some(unknown) = config
        .secret_values
        .keys()
        .find(|id| !generated_secrets.iter().any(|s| &s.logical_id == *id))
    {
        return Err(Error::Config(format!(
            "a value is given for secret {unknown}, which is no generated secret of the template"
        )));
    }
    let predicted_secrets = generated_secrets
        .iter()
        .map(|secret| {
            let name = secrets::secret_name(&config.queue_prefix, &secret.logical_id);
            (secret.logical_id.clone(), secrets::predicted_arn(&name))
        })
        .collect();
    let predicted = Resolver::new(
        &template,
        &config.params,
        &local_values,
        &config.table_name,
        predicted_queue_addresses(&config, &template),
    )
    .map_err(Error::Config)?
    .with_secrets(predicted_secrets)
    .with_buckets(s3::buckets(&template, &config.queue_prefix))
    .with_api_endpoint(&base_url);
    environments(
        &config,
        &template,
        &predicted,
        "http://127.0.0.1:0",
        "http://127.0.0.1:0",
    )?;
    let router = Arc::new(router(&template, &predicted)?);
    let authorizers = Arc::new(lambda_authorizers(&template, &predicted)?);
    let identities = email_identities(&template, &predicted)?;

    let sdk = aws::sdk_config(&config.endpoint).await;
    if template.table.is_some() {
        aws::ensure_table(
            &aws_sdk_dynamodb::Client::new(&sdk),
            &config.table_name,
            config.reset_table,
        )
        .await?;
    }
    let sqs_client = aws_sdk_sqs::Client::new(&sdk);
    let queues = sqs::ensure_queues(
        &sqs_client,
        &template.queues,
        &config.queue_prefix,
        config.visibility_timeout,
    )
    .await?;
    let secret_arns = secrets::ensure_secrets(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &config.queue_prefix,
        &generated_secrets,
        &config.secret_values,
    )
    .await?;
    let buckets = s3::buckets(&template, &config.queue_prefix);
    let s3_client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    s3::ensure_buckets(&s3_client, &buckets)
        .await
        .map_err(Error::Config)?;
    let ses_client = aws_sdk_sesv2::Client::new(&sdk);
    for identity in &identities {
        ses::ensure_identity(&ses_client, identity)
            .await
            .map_err(Error::Ses)?;
    }
    let resolver = Resolver::new(
        &template,
        &config.params,
        &local_values,
        &config.table_name,
        queues.clone(),
    )
    .map_err(Error::Config)?
    .with_secrets(secret_arns.clone())
    .with_buckets(buckets.clone())
    .with_api_endpoint(&base_url);

    let (trigger, shutdown) = ShutdownTrigger::new();
    let mut servers = Vec::new();
    let outbox = ses::Outbox::default();
    let (ses_addr, ses_proxy) =
        ses::start_proxy(&config.endpoint, outbox.clone(), shutdown.clone())
            .await
            .map_err(|source| Error::Bind {
                address: "127.0.0.1:0".into(),
                source,
            })?;
    servers.push(ses_proxy);
    let ses_endpoint = format!("http://{ses_addr}");
    let events = eventbridge::EventLog::default();
    let (events_addr, events_proxy) =
        eventbridge::start_proxy(&config.endpoint, events.clone(), shutdown.clone())
            .await
            .map_err(|source| Error::Bind {
                address: "127.0.0.1:0".into(),
                source,
            })?;
    servers.push(events_proxy);
    for (logical_id, _) in template.resources_of_type("AWS::Events::EventBus") {
        let mut reference = serde_yaml::Mapping::new();
        reference.insert("Ref".into(), logical_id.into());
        let name = resolver
            .resolve(&serde_yaml::Value::Mapping(reference))
            .map_err(|e| Error::Config(format!("event bus {logical_id}: {e}")))?;
        eventbridge::ensure_bus(&config.endpoint, &name)
            .await
            .map_err(Error::Config)?;
    }
    let events_endpoint = format!("http://{events_addr}");
    let mut environments = environments(
        &config,
        &template,
        &resolver,
        &ses_endpoint,
        &events_endpoint,
    )?;

    let runtime_listener = bind("127.0.0.1:0").await?;
    let runtime_addr = runtime_listener
        .local_addr()
        .map_err(|source| Error::Bind {
            address: "127.0.0.1:0".into(),
            source,
        })?;
    let mut pools = HashMap::new();
    for function in &template.functions {
        let spec = FunctionSpec {
            name: function.binary.clone(),
            executable: config.bin_dir.join(&function.binary),
            environment: environments
                .remove(&function.logical_id)
                .unwrap_or_default(),
            timeout: Duration::from_secs(function.timeout_secs),
            memory_mb: function.memory_mb,
            max_instances: config.max_instances,
        };
        if !spec.executable.is_file() {
            tracing::warn!(
                function = %function.logical_id,
                path = %spec.executable.display(),
                "function binary not found; its invocations fail until you run `cargo build --workspace`"
            );
        }
        pools.insert(
            function.binary.clone(),
            Pool::new(spec, runtime_addr.to_string()),
        );
    }
    let pools = Arc::new(pools);

    let runtime_api = runtime_api::RuntimeApi::new(pools.clone());
    servers.push(tokio::spawn(server::serve(
        runtime_listener,
        shutdown.clone(),
        move |request, _peer| {
            let api = runtime_api.clone();
            async move { api.handle(request).await }
        },
    )));

    let http_api = http_api::HttpApi::new(
        router,
        pools.clone(),
        authorizers,
        &config.jwt_secret,
        local_addr.port(),
        outbox.clone(),
        events.clone(),
    );
    servers.push(tokio::spawn(server::serve(
        listener,
        shutdown.clone(),
        move |request, peer| {
            let api = http_api.clone();
            async move { api.handle(request, peer).await }
        },
    )));

    let mut pollers = start_event_sources(&template, &pools, &queues, &sqs_client);
    pollers.extend(start_stream_sources(
        &template,
        &pools,
        &queues,
        &sqs_client,
        &config,
    ));

    Ok(RunningStack {
        local_addr,
        base_url,
        table_name: config.table_name.clone(),
        queues,
        secrets: secret_arns,
        buckets,
        ses_endpoint,
        outbox,
        events,
        trigger,
        pools: pools.values().cloned().collect(),
        servers,
        pollers,
    })
}

fn start_event_sources(
    template: &Template,
    pools: &HashMap<String, Pool>,
    queues: &BTreeMap<String, QueueAddress>,
    client: &aws_sdk_sqs::Client,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for function in &template.functions {
        let Some(pool) = pools.get(&function.binary) else {
            continue;
        };
        for event in function.sqs_events.iter().filter(|e| e.enabled) {
            let Some(queue) = queues.get(&event.queue) else {
                continue;
            };
            let mapping = sqs::EventSourceMapping {
                function: pool.clone(),
                queue_url: queue.url.clone(),
                queue_arn: queue.arn.clone(),
                batch_size: event.batch_size,
                report_batch_item_failures: event.report_batch_item_failures,
                pollers: event.maximum_concurrency.unwrap_or(sqs::DEFAULT_POLLERS),
            };
            tracing::info!(function = %function.binary, queue = %queue.name, pollers = mapping.pollers, "polling queue");
            tasks.extend(sqs::spawn_pollers(mapping, client.clone()));
        }
    }
    tasks
}

fn start_stream_sources(
    template: &Template,
    pools: &HashMap<String, Pool>,
    queues: &BTreeMap<String, QueueAddress>,
    client: &aws_sdk_sqs::Client,
    config: &Config,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if template.table.is_none() {
        return tasks;
    }
    for function in &template.functions {
        let Some(pool) = pools.get(&function.binary) else {
            continue;
        };
        for event in function.stream_events.iter().filter(|e| e.enabled) {
            let mapping = streams::StreamMapping {
                function: pool.clone(),
                table_name: config.table_name.clone(),
                batch_size: event.batch_size as usize,
                report_batch_item_failures: event.report_batch_item_failures,
                bisect_on_error: event.bisect_on_error,
                maximum_retry_attempts: event
                    .maximum_retry_attempts
                    .unwrap_or(streams::DEFAULT_MAXIMUM_RETRY_ATTEMPTS),
                on_failure_queue_url: event
                    .on_failure_queue
                    .as_ref()
                    .and_then(|q| queues.get(q))
                    .map(|q| q.url.clone()),
            };
            tasks.extend(streams::spawn(mapping, &config.endpoint, client.clone()));
        }
    }
    tasks
}
