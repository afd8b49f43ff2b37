//! Keys kept in Secrets Manager, read on first use rather than at start-up.
//!
//! A function that never lists (so never seals a cursor) or never signs a portal link never
//! reads those secrets, and one that does pays for the read on its first such request, not in
//! its cold start. A failed read is not remembered: the next use tries again, so a throttled or
//! briefly unreachable Secrets Manager costs one request its answer (a 500), not the instance.

use std::sync::Arc;

use tokio::sync::OnceCell;

/// A value made from a secret's string: either given (tests, benchmarks) or read once, on
/// first use, from the secret an environment setting names.
#[derive(Clone)]
pub enum Secret<T> {
    Ready(Arc<T>),
    Lazy(Arc<LazySecret<T>>),
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Ready(_) => f.write_str("Secret::Ready(..)"),
            Secret::Lazy(lazy) => write!(f, "Secret::Lazy({})", lazy.setting),
        }
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret::Ready(Arc::new(value))
    }
}

/// Why a secret's value is not available.
#[derive(Debug, Clone, thiserror::Error)]
#[error("setting {setting}: {reason}")]
pub struct SecretError {
    pub setting: &'static str,
    pub reason: String,
}

/// How a secret's string becomes the value a function uses.
pub type Parse<T> = fn(&str) -> Result<T, String>;

/// The secret named by `arn`, read through `client` the first time it is asked for.
pub struct LazySecret<T> {
    setting: &'static str,
    arn: String,
    client: aws_sdk_secretsmanager::Client,
    parse: Parse<T>,
    value: OnceCell<T>,
}

impl<T> Secret<T> {
    /// A secret to read on first use; `setting` names the variable that gave its ARN.
    pub fn lazy(
        client: aws_sdk_secretsmanager::Client,
        setting: &'static str,
        arn: impl Into<String>,
        parse: Parse<T>,
    ) -> Self {
        Secret::Lazy(Arc::new(LazySecret {
            setting,
            arn: arn.into(),
            client,
            parse,
            value: OnceCell::new(),
        }))
    }

    /// The value; the first call of a lazy secret reads it (concurrent first calls share one
    /// read), later calls answer from memory.
    pub async fn get(&self) -> Result<&T, SecretError> {
        match self {
            Secret::Ready(value) => Ok(value),
            Secret::Lazy(lazy) => lazy.value.get_or_try_init(|| lazy.read()).await,
        }
    }

    /// Whether the value is at hand without a request (given, or read already).
    pub fn is_loaded(&self) -> bool {
        match self {
            Secret::Ready(_) => true,
            Secret::Lazy(lazy) => lazy.value.initialized(),
        }
    }
}

impl<T> LazySecret<T> {
    async fn read(&self) -> Result<T, SecretError> {
        let error = |reason: String| SecretError {
            setting: self.setting,
            reason,
        };
        let answer = self
            .client
            .get_secret_value()
            .secret_id(&self.arn)
            .send()
            .await
            .map_err(|e| {
                error(format!(
                    "the secret could not be read: {}",
                    crate::error::Chain(&e)
                ))
            })?;
        let raw = answer
            .secret_string()
            .ok_or_else(|| error("the secret has no string value".into()))?;
        (self.parse)(raw).map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable_client() -> aws_sdk_secretsmanager::Client {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            // Nothing listens on port 9 of loopback: every read fails at once.
            .endpoint_url("http://127.0.0.1:9")
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }

    #[tokio::test]
    async fn a_given_value_needs_no_read() {
        let secret: Secret<String> = String::from("k").into();
        assert!(secret.is_loaded());
        assert_eq!(secret.get().await.expect("value"), "k");
    }

    #[tokio::test]
    async fn nothing_is_read_until_asked_and_a_failed_read_is_not_kept() {
        let secret: Secret<String> = Secret::lazy(
            unreachable_client(),
            "SOME_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:x",
            |raw| Ok(raw.to_string()),
        );
        assert!(!secret.is_loaded(), "made without a request");
        let first = secret.get().await.expect_err("nothing answers");
        assert_eq!(first.setting, "SOME_SECRET_ARN");
        assert!(first.reason.contains("could not be read"), "{first}");
        assert!(!secret.is_loaded(), "a failure is not remembered");
        assert!(secret.get().await.is_err(), "and the next use tries again");
    }
}
