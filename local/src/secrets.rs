//! The template's generated Secrets Manager secrets (`AWS::SecretsManager::Secret` with
//! `GenerateSecretString`), created on the endpoint as CloudFormation would create them.
//!
//! Each is named `<queue_prefix>-<LogicalId>` and gets a random value of `PasswordLength`
//! characters (default 32) from letters, digits and, unless `ExcludePunctuation`, punctuation,
//! without `ExcludeCharacters`; with `SecretStringTemplate` and `GenerateStringKey` the value is
//! the template's JSON with the generated string under that key. A secret that exists already
//! (a second `make local`) is kept as it is. `!Ref` of the secret is its ARN. Not done locally:
//! `RequireEachIncludedType`, `IncludeSpace`, `ExcludeUppercase`/`ExcludeLowercase`/
//! `ExcludeNumbers`, rotation, and a `SecretString` given in the template.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;
use rand::Rng;
use serde_yaml::Value;

use crate::intrinsics::{ACCOUNT_ID, REGION};
use crate::template::Template;

const LETTERS_AND_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Secrets Manager's punctuation characters.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Why the secrets could not be made ready.
#[derive(Debug, thiserror::Error)]
#[error("Secrets Manager secret {logical_id}: {message}")]
pub struct SecretSetupError {
    logical_id: String,
    message: String,
}

/// A generated secret of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedSecret {
    pub logical_id: String,
    pub length: usize,
    /// The characters the value is drawn from.
    pub alphabet: Vec<char>,
    /// `SecretStringTemplate` and `GenerateStringKey`.
    pub json_template: Option<(String, String)>,
}

impl GeneratedSecret {
    /// A fresh value.
    pub fn generate(&self, rng: &mut impl Rng) -> String {
        let value: String = (0..self.length)
            .map(|_| self.alphabet[rng.gen_range(0..self.alphabet.len())])
            .collect();
        let Some((template, key)) = &self.json_template else {
            return value;
        };
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(template).unwrap_or_default();
        object.insert(key.clone(), serde_json::Value::String(value));
        serde_json::Value::Object(object).to_string()
    }
}

/// The secret's local name.
pub fn secret_name(prefix: &str, logical_id: &str) -> String {
    format!("{prefix}-{logical_id}")
}

/// The ARN a secret is predicted to have before it exists (Secrets Manager adds a random suffix).
pub fn predicted_arn(name: &str) -> String {
    format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{name}")
}

/// Every `AWS::SecretsManager::Secret` of the template with `GenerateSecretString`.
pub fn generated_secrets(template: &Template) -> Result<Vec<GeneratedSecret>, String> {
    let mut secrets = Vec::new();
    for (logical_id, resource) in template.resources_of_type("AWS::SecretsManager::Secret") {
        let Some(generate) = resource
            .get("Properties")
            .and_then(|p| p.get("GenerateSecretString"))
        else {
            continue;
        };
        let context = |message: &str| format!("secret {logical_id}: {message}");
        let length = match generate.get("PasswordLength") {
            None => 32,
            Some(value) => value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| context("PasswordLength must be a number from 1 to 4096"))?,
        };
        let flag = |name: &str| generate.get(name).and_then(Value::as_bool) == Some(true);
        let excluded = generate
            .get("ExcludeCharacters")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut alphabet: Vec<char> = LETTERS_AND_DIGITS.chars().collect();
        if !flag("ExcludePunctuation") {
            alphabet.extend(PUNCTUATION.chars());
        }
        alphabet.retain(|c| !excluded.contains(*c));
        if alphabet.is_empty() {
            return Err(context("ExcludeCharacters leaves nothing to choose from"));
        }
        let text = |name: &str| generate.get(name).and_then(Value::as_str);
        let json_template = match (text("SecretStringTemplate"), text("GenerateStringKey")) {
            (Some(template), Some(key)) => Some((template.to_string(), key.to_string())),
            (None, None) => None,
            _ => {
                return Err(context(
                    "SecretStringTemplate and GenerateStringKey go together",
                ))
            }
        };
        secrets.push(GeneratedSecret {
            logical_id: logical_id.to_string(),
            length,
            alphabet,
            json_template,
        });
    }
    Ok(secrets)
}

/// Creates each secret unless it exists, with its value from `values` (by logical id) or a
/// generated one; a given value is also put into a secret that exists. Answers their ARNs by
/// logical id.
pub async fn ensure_secrets(
    client: &aws_sdk_secretsmanager::Client,
    prefix: &str,
    secrets: &[GeneratedSecret],
    values: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SecretSetupError> {
    let mut arns = BTreeMap::new();
    for secret in secrets {
        let name = secret_name(prefix, &secret.logical_id);
        let error = |message: String| SecretSetupError {
            logical_id: secret.logical_id.clone(),
            message,
        };
        let given = values.get(&secret.logical_id);
        let value = given
            .cloned()
            .unwrap_or_else(|| secret.generate(&mut rand::thread_rng()));
        let arn = match client
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await
        {
            Ok(output) => {
                tracing::info!(secret = %name, "created the secret");
                output.arn
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(CreateSecretError::ResourceExistsException(_))
                ) =>
            {
                if let Some(value) = given {
                    client
                        .put_secret_value()
                        .secret_id(&name)
                        .secret_string(value)
                        .send()
                        .await
                        .map_err(|e| {
                            error(format!("PutSecretValue failed: {}", DisplayErrorContext(e)))
                        })?;
                    tracing::info!(secret = %name, "secret exists; set its given value");
                } else {
                    tracing::info!(secret = %name, "secret exists; keeping its value");
                }
                client
                    .describe_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .map_err(|e| {
                        error(format!("DescribeSecret failed: {}", DisplayErrorContext(e)))
                    })?
                    .arn
            }
            Err(e) => {
                return Err(error(format!(
                    "CreateSecret failed: {}",
                    DisplayErrorContext(e)
                )))
            }
        };
        let arn = arn.ok_or_else(|| error("the endpoint answered no ARN".into()))?;
        arns.insert(secret.logical_id.clone(), arn);
    }
    Ok(arns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> Template {
        let value: Value = serde_yaml::from_str(text).unwrap_or(Value::Null);
        Template::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reads_and_generates_the_templates_secrets() {
        let template = template(
            r#"
Resources:
  Key:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true }
  Default:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: { ExcludeCharacters: "abc" }
  Json:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: { SecretStringTemplate: '{"user":"u"}', GenerateStringKey: password, PasswordLength: 8 }
  Given:
    Type: AWS::SecretsManager::Secret
    Properties: { SecretString: x }
"#,
        );
        let secrets = generated_secrets(&template).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = secrets.iter().map(|s| s.logical_id.as_str()).collect();
        assert_eq!(ids, ["Key", "Default", "Json"]);
        let mut rng = rand::thread_rng();

        let key = secrets[0].generate(&mut rng);
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
        assert_ne!(key, secrets[0].generate(&mut rng));

        assert_eq!(secrets[1].length, 32);
        assert!(secrets[1].alphabet.contains(&'!'));
        assert!(!secrets[1].alphabet.contains(&'a'));
        let default = secrets[1].generate(&mut rng);
        assert_eq!(default.chars().count(), 32);
        assert!(!default.contains(['a', 'b', 'c']));

        let json: serde_json::Value =
            serde_json::from_str(&secrets[2].generate(&mut rng)).unwrap_or_default();
        assert_eq!(json["user"], "u");
        assert_eq!(
            json["password"].as_str().map(|p| p.chars().count()),
            Some(8)
        );

        assert_eq!(
            secret_name("agreements-local", "Key"),
            "agreements-local-Key"
        );
        assert_eq!(
            predicted_arn("p-Key"),
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:p-Key"
        );
    }

    #[test]
    fn the_workspace_templates_secrets() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
        let template = Template::load(path).unwrap_or_else(|e| panic!("{e}"));
        let secrets = generated_secrets(&template).unwrap_or_else(|e| panic!("{e}"));
        let signing = secrets
            .iter()
            .find(|s| s.logical_id == "PortalLinkSigningKey")
            .unwrap_or_else(|| panic!("no PortalLinkSigningKey"));
        assert_eq!(signing.length, 64);
        assert!(signing.alphabet.iter().all(char::is_ascii_alphanumeric));
        assert!(secrets
            .iter()
            .any(|s| s.logical_id == "PartnerCenterClientSecret"));
    }

    #[test]
    fn refuses_impossible_settings() {
        for properties in [
            "{ PasswordLength: 0 }",
            "{ PasswordLength: many }",
            "{ SecretStringTemplate: '{}' }",
        ] {
            let template = template(&format!(
                "Resources:\n  S:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n      GenerateSecretString: {properties}\n"
            ));
            assert!(generated_secrets(&template).is_err(), "{properties}");
        }
    }
}
