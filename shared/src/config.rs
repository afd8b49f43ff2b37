//! What a function builds once at start-up: configuration from the environment and the clients.

use aws_config::BehaviorVersion;

use crate::connectors::Connector;
use crate::email::{Mailer, SenderAddress};
use crate::error::ServiceError;
use crate::model::{LinkKey, ReminderCadence};
use crate::queue::{BulkQueue, EmailQueue, ExportQueue};
use crate::secrets::Secret;
use crate::store::{CursorSigner, Store};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("the provider connection is misconfigured")]
    Connector(#[from] crate::connectors::ConnectorError),
    #[error("setting {0} is invalid: {1}")]
    Setting(&'static str, String),
}

/// Everything a handler needs, built once per Lambda instance.
#[derive(Clone, Debug)]
pub struct AppContext {
    pub store: Store,
    /// Only for functions deployed with `BULK_QUEUE_URL` (and the permission to send to it).
    pub bulk_queue: Option<BulkQueue>,
    /// The provider connection: Partner Center for functions deployed with its credentials.
    pub connector: Connector,
    /// Platforms with a provider connection in this deployment, for functions that start syncs
    /// without calling the provider themselves.
    pub sync_platforms: Vec<&'static str>,
    /// E-mail, for functions deployed with `EMAIL_SENDER` (and the portal link key).
    pub email: Option<EmailSettings>,
    /// The portal link key, for functions deployed with `PORTAL_LINK_KEY_SECRET_ARN`; read on
    /// first use.
    pub link_key: Option<Secret<LinkKey>>,
    /// Only for functions deployed with `EMAIL_QUEUE_URL`.
    pub email_queue: Option<EmailQueue>,
    /// The reminder days (`REMINDER_DAYS`).
    pub reminders: ReminderCadence,
    /// Seconds between the scheduled checks of an open attestation (`ATTESTATION_CHECK_SECONDS`).
    pub attestation_check_secs: u32,
    /// Only for functions deployed with `EXPORT_QUEUE_URL`.
    pub export_queue: Option<ExportQueue>,
    /// The exports' bucket, for functions deployed with `EXPORTS_BUCKET`.
    pub exports: Option<crate::services::exports::ExportsBucket>,
}

/// What sending e-mail needs.
#[derive(Clone, Debug)]
pub struct EmailSettings {
    pub mailer: Mailer,
    /// The portal page's address for e-mails not sent in answer to a request (`PORTAL_URL`);
    /// a request's own e-mails use the address the request came to.
    pub portal_url: Option<String>,
    /// E-mails per second this instance may send (`EMAIL_SEND_RATE` / `EMAIL_SENDERS`).
    pub per_second: f64,
}

const MIN_SIGNING_KEY: usize = 32;

/// The setting that names the cursor key's secret.
const CURSOR_KEY_SETTING: &str = "CURSOR_KEY_SECRET_ARN";

fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

impl AppContext {
    /// Reads `TABLE_NAME` and the other settings; the AWS SDK reads its own variables, including
    /// `AWS_ENDPOINT_URL` for a local endpoint. No request is made here: the cursor key (the
    /// Secrets Manager secret named by `CURSOR_KEY_SECRET_ARN`; no secret travels in the
    /// environment) and the portal link key are read on first use, and the clients connect on
    /// their first call, so a cold start costs no round trip.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table = required("TABLE_NAME")?;
        let key_arn = required(CURSOR_KEY_SETTING)?;
        let sdk = tune_sdk(aws_config::defaults(BehaviorVersion::latest()))
            .http_client(crate::tls::aws_http_client())
            .load()
            .await;
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let cursors = Secret::lazy(secrets.clone(), CURSOR_KEY_SETTING, key_arn, cursor_signer);
        let mut ctx = Self::with_store(Store::new(dynamodb_client(&sdk), table, cursors));
        if let Ok(url) = std::env::var("BULK_QUEUE_URL") {
            ctx.bulk_queue = Some(BulkQueue::new(sqs_client(&sdk), url));
        }
        ctx.connector = Connector::from_env()?;
        ctx.sync_platforms = crate::connectors::configured_platforms();
        if let Ok(url) = std::env::var("EMAIL_QUEUE_URL") {
            ctx.email_queue = Some(EmailQueue::new(sqs_client(&sdk), url));
        }
        if let Ok(url) = std::env::var("EXPORT_QUEUE_URL") {
            ctx.export_queue = Some(ExportQueue::new(sqs_client(&sdk), url));
        }
        if let Ok(bucket) = std::env::var("EXPORTS_BUCKET") {
            ctx.exports = Some(crate::services::exports::ExportsBucket::new(
                s3_client(&sdk),
                bucket,
            ));
        }
        ctx.attestation_check_secs = crate::services::attestations::check_secs_from_env();
        if let Ok(raw) = std::env::var("REMINDER_DAYS") {
            ctx.reminders = ReminderCadence::parse(&raw)
                .map_err(|why| ConfigError::Setting("REMINDER_DAYS", why))?;
        }
        if let Ok(arn) = std::env::var("PORTAL_LINK_KEY_SECRET_ARN") {
            ctx.link_key = Some(Secret::lazy(
                secrets,
                "PORTAL_LINK_KEY_SECRET_ARN",
                arn,
                |raw| LinkKey::new(raw.as_bytes()),
            ));
        }
        if let Ok(raw) = std::env::var("EMAIL_SENDER") {
            let sender = SenderAddress::parse(&raw)
                .map_err(|why| ConfigError::Setting("EMAIL_SENDER", why))?;
            ctx.email = Some(EmailSettings {
                mailer: Mailer::new(&sdk, sender),
                portal_url: std::env::var("PORTAL_URL").ok().filter(|u| !u.is_empty()),
                per_second: send_rate()?,
            });
        }
        Ok(ctx)
    }

    /// The e-mail settings, for the functions that send e-mail.
    pub fn email(&self) -> Result<&EmailSettings, ServiceError> {
        self.email
            .as_ref()
            .ok_or_else(|| ServiceError::internal("EMAIL_SENDER is not configured"))
    }

    /// The portal link key, for the functions that make or check portal links; the first call
    /// of an instance reads it from Secrets Manager.
    pub async fn link_key(&self) -> Result<&LinkKey, ServiceError> {
        let secret = self.link_key.as_ref().ok_or_else(|| {
            ServiceError::internal("PORTAL_LINK_KEY_SECRET_ARN is not configured")
        })?;
        secret
            .get()
            .await
            .map_err(|e| ServiceError::internal(e.to_string()))
    }

    /// The provider connection of this function: Partner Center when configured.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Whether a sync of `provider` can run in this deployment: a connection to its platform is
    /// configured.
    pub fn can_sync(&self, provider: &crate::model::Provider) -> bool {
        use crate::connectors::ProviderConnector;
        self.connector.serves(provider) || self.sync_platforms.contains(&provider.platform.as_str())
    }

    /// Where an attestation's checks and e-mails go, and how often it is checked.
    pub fn follow(&self) -> crate::services::attestations::Follow<'_> {
        crate::services::attestations::Follow {
            queue: self.bulk_queue.as_ref(),
            emails: self.email_queue.as_ref(),
            check_secs: self.attestation_check_secs,
        }
    }

    /// The export queue, for the function that queues exports.
    pub fn export_queue(&self) -> Result<&ExportQueue, ServiceError> {
        self.export_queue
            .as_ref()
            .ok_or_else(|| ServiceError::internal("EXPORT_QUEUE_URL is not configured"))
    }

    /// The exports' bucket, for the functions that write or hand out exports.
    pub fn exports(&self) -> Result<&crate::services::exports::ExportsBucket, ServiceError> {
        self.exports
            .as_ref()
            .ok_or_else(|| ServiceError::internal("EXPORTS_BUCKET is not configured"))
    }

    /// The bulk queue, for the functions that send to it.
    pub fn bulk_queue(&self) -> Result<&BulkQueue, ServiceError> {
        self.bulk_queue
            .as_ref()
            .ok_or_else(|| ServiceError::internal("BULK_QUEUE_URL is not configured"))
    }

    /// A context on `client` with a cursor key given in place of the secret (tests, benchmarks).
    pub fn with_client(
        client: aws_sdk_dynamodb::Client,
        table: String,
        signing_key: &[u8],
    ) -> Result<Self, ConfigError> {
        let cursors = cursor_signer_of(signing_key)
            .map_err(|why| ConfigError::Setting(CURSOR_KEY_SETTING, why))?;
        Ok(Self::with_store(Store::new(client, table, cursors)))
    }

    fn with_store(store: Store) -> Self {
        AppContext {
            store,
            bulk_queue: None,
            connector: Connector::Unconfigured,
            sync_platforms: Vec::new(),
            email: None,
            link_key: None,
            email_queue: None,
            reminders: ReminderCadence::default(),
            attestation_check_secs: crate::services::attestations::DEFAULT_CHECK_SECS,
            export_queue: None,
            exports: None,
        }
    }
}

/// The cursor key from its secret's string.
fn cursor_signer(raw: &str) -> Result<CursorSigner, String> {
    cursor_signer_of(raw.as_bytes())
}

fn cursor_signer_of(key: &[u8]) -> Result<CursorSigner, String> {
    if key.len() < MIN_SIGNING_KEY {
        return Err("the cursor key must be at least 32 bytes".into());
    }
    CursorSigner::new(key).ok_or_else(|| "the cursor key is empty".into())
}

/// `EMAIL_SEND_RATE` (per second, for the whole stack) shared by `EMAIL_SENDERS` instances.
fn send_rate() -> Result<f64, ConfigError> {
    let number = |name: &'static str, default: f64| -> Result<f64, ConfigError> {
        match std::env::var(name) {
            Err(_) => Ok(default),
            Ok(raw) => match raw.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
                _ => Err(ConfigError::Setting(
                    name,
                    format!("`{raw}` is not a positive number"),
                )),
            },
        }
    };
    Ok(number("EMAIL_SEND_RATE", 1.0)? / number("EMAIL_SENDERS", 1.0)?)
}

/// How every AWS call of the functions retries and when it gives up:
/// - standard retries (exponential backoff with full jitter, throttling included), at most 4
///   attempts, waits from 100 ms up to 2 s;
/// - each attempt at most 5 s, each operation with its retries at most 8 s, so a call never eats
///   a function's whole time (API functions have 10 s; the worker stops its chunks at half of
///   its time) and there is time left to record the outcome.
pub fn tune_sdk(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use std::time::Duration;
    loader
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(8))
                .build(),
        )
}

/// A DynamoDB client with its own retry partition and no retry quota: the SDK's default token
/// bucket runs dry under sustained throttling in a long-lived worker, after which every fault
/// fails at once; the attempts and the operation timeout above bound the retries instead.
pub fn dynamodb_client(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::retry::{RetryPartition, TokenBucket};
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .retry_partition(
            RetryPartition::custom("agreements-dynamodb")
                .token_bucket(TokenBucket::unlimited())
                .build(),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// An SQS client with its own retry partition and no retry quota (see `dynamodb_client`).
pub fn sqs_client(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    use aws_sdk_sqs::config::retry::{RetryPartition, TokenBucket};
    let config = aws_sdk_sqs::config::Builder::from(sdk)
        .retry_partition(
            RetryPartition::custom("agreements-sqs")
                .token_bucket(TokenBucket::unlimited())
                .build(),
        )
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// JSON logs to stdout, where Lambda sends them to CloudWatch; `RUST_LOG` sets the level.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (tests build several contexts) finds a subscriber in place; that is fine.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .try_init();
}

/// An S3 client from the shared configuration, without a retry quota like the others. With a
/// local endpoint (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`) it addresses buckets by path
/// (`http://host:port/bucket/key`), so presigned URLs point at that endpoint.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::retry::{RetryPartition, TokenBucket};
    let local = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|u| !u.is_empty()));
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .retry_partition(
            RetryPartition::custom("agreements-s3")
                .token_bucket(TokenBucket::unlimited())
                .build(),
        )
        .force_path_style(local)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
