//! Who may use the portal: the decision of the portal routes' Lambda authorizer.
//!
//! Two kinds of bearer token are accepted:
//! - a portal link token (`pl1_…`): signed with the stack's link key, not expired, and naming a
//!   link that exists, is active and belongs to the account and contact the token names;
//! - where a customer identity provider is configured, its RS256 JWT: signature by a key of its
//!   JWKS, `iss`, `aud`, `exp`, scope `agreements.portal`, and `account_id` and `contact_id`.
//!
//! The answer is the context API Gateway hands the portal functions
//! (`requestContext.authorizer.lambda`), read by [`crate::model::Principal::from_claims`].

use std::collections::HashMap;
use std::time::{Duration, Instant as Clock};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::RwLock;

use crate::model::principal::PORTAL_SCOPE;
use crate::model::{Id, Instant, LinkKey, PortalLink};
use crate::store::Store;

/// Why a token was refused: API Gateway answers 403 for any of them; the reason is logged.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    #[error("no bearer token")]
    NoToken,
    #[error("portal link token refused: {0}")]
    Link(String),
    #[error("identity provider token refused: {0}")]
    Jwt(String),
    #[error("no customer identity provider is configured for a JWT")]
    NoIdentityProvider,
}

/// A customer identity provider: whose JWTs the portal accepts.
#[derive(Debug)]
pub struct CustomerIdp {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
    /// Made on the first fetch of the key set, not at start.
    http: std::sync::OnceLock<reqwest::Client>,
    keys: RwLock<Option<(JwkSet, Clock)>>,
}

/// The JWKS is fetched again at most this often (e.g. for a key id not seen before).
const JWKS_REFRESH: Duration = Duration::from_secs(300);

impl CustomerIdp {
    /// From `CUSTOMER_IDP_ISSUER`, `CUSTOMER_IDP_AUDIENCE` and `CUSTOMER_IDP_JWKS_URL`; None
    /// when no issuer is set. An issuer without the other two is a configuration error.
    pub fn from_env() -> Result<Option<CustomerIdp>, String> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let Some(issuer) = get("CUSTOMER_IDP_ISSUER") else {
            return Ok(None);
        };
        let audience = get("CUSTOMER_IDP_AUDIENCE")
            .ok_or("CUSTOMER_IDP_AUDIENCE must be set with CUSTOMER_IDP_ISSUER")?;
        let jwks_url = get("CUSTOMER_IDP_JWKS_URL")
            .ok_or("CUSTOMER_IDP_JWKS_URL must be set with CUSTOMER_IDP_ISSUER")?;
        if !(jwks_url.starts_with("https://") || jwks_url.starts_with("http://127.0.0.1")) {
            return Err("CUSTOMER_IDP_JWKS_URL must be an https URL".into());
        }
        Ok(Some(CustomerIdp {
            issuer,
            audience,
            jwks_url,
            http: std::sync::OnceLock::new(),
            keys: RwLock::new(None),
        }))
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let http = match self.http.get() {
            Some(http) => http,
            None => {
                let http = crate::tls::http_client()
                    .timeout(Duration::from_secs(3))
                    .build()
                    .map_err(|e| format!("no HTTP client: {e}"))?;
                self.http.get_or_init(|| http)
            }
        };
        let response = http
            .get(&self.jwks_url)
            .send()
            .await
            .map_err(|e| format!("the JWKS could not be fetched: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("the JWKS answered {}", response.status()));
        }
        response
            .json::<JwkSet>()
            .await
            .map_err(|e| format!("the JWKS is not a key set: {e}"))
    }

    /// The key of `kid`, fetching the JWKS when it is unknown (at most every JWKS_REFRESH).
    async fn key(&self, kid: &str) -> Result<DecodingKey, String> {
        {
            let cached = self.keys.read().await;
            if let Some((set, fetched)) = cached.as_ref() {
                if let Some(jwk) = set.find(kid) {
                    return DecodingKey::from_jwk(jwk).map_err(|e| e.to_string());
                }
                if fetched.elapsed() < JWKS_REFRESH {
                    return Err(format!("no key `{kid}` in the JWKS"));
                }
            }
        }
        let set = self.fetch().await?;
        let key = set
            .find(kid)
            .map(|jwk| DecodingKey::from_jwk(jwk).map_err(|e| e.to_string()));
        *self.keys.write().await = Some((set, Clock::now()));
        key.unwrap_or_else(|| Err(format!("no key `{kid}` in the JWKS")))
    }

    /// The verified claims of an RS256 token of this provider.
    pub async fn verify(&self, token: &str) -> Result<HashMap<String, Value>, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        if header.alg != Algorithm::RS256 {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let kid = header.kid.ok_or("the token names no key (kid)")?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<HashMap<String, Value>>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| e.to_string())
    }
}

/// What the portal functions learn of an admitted caller.
pub type Context = HashMap<String, String>;

fn context(subject: String, account_id: &str, contact_id: &str, via: &str) -> Context {
    HashMap::from([
        ("sub".to_string(), subject),
        ("scope".to_string(), PORTAL_SCOPE.to_string()),
        ("account_id".to_string(), account_id.to_string()),
        ("contact_id".to_string(), contact_id.to_string()),
        ("via".to_string(), via.to_string()),
    ])
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Admits or refuses the bearer token `token`.
pub async fn authorize(
    store: &Store,
    key: &LinkKey,
    idp: Option<&CustomerIdp>,
    token: &str,
) -> Result<Context, Denied> {
    if token.starts_with(crate::model::portal_link::TOKEN_PREFIX) {
        let now = Instant::now();
        let claims = key
            .verify(token, now.unix_secs())
            .map_err(|e| Denied::Link(e.to_string()))?;
        let link: PortalLink = store
            .by_id(&claims.lid)
            .await
            .map_err(|e| Denied::Link(format!("the link could not be read: {e}")))?
            .ok_or_else(|| Denied::Link("no such link".into()))?;
        if link.account_id != claims.aid || link.contact_id != claims.cid {
            return Err(Denied::Link("the link is not the token's".into()));
        }
        if !link.admits(now) {
            return Err(Denied::Link(format!(
                "the link is {:?}",
                link.status_at(now)
            )));
        }
        return Ok(context(
            format!("link:{}", link.id),
            link.account_id.as_str(),
            link.contact_id.as_str(),
            "portal_link",
        ));
    }
    let idp = idp.ok_or(Denied::NoIdentityProvider)?;
    let claims = idp.verify(token).await.map_err(Denied::Jwt)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
    let scopes: Vec<String> = ["scope", "scp"]
        .iter()
        .filter_map(|k| claims.get(*k))
        .flat_map(|v| match v {
            Value::String(s) => s.split(' ').map(str::to_string).collect::<Vec<_>>(),
            Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    if !scopes.iter().any(|s| s == PORTAL_SCOPE) {
        return Err(Denied::Jwt(format!("no scope {PORTAL_SCOPE}")));
    }
    let account = text("account_id").and_then(|a| Id::parse(&a));
    let contact = text("contact_id").and_then(|c| Id::parse(&c));
    match (account, contact) {
        (Some(account), Some(contact)) => Ok(context(
            text("sub").unwrap_or_default(),
            account.as_str(),
            contact.as_str(),
            "identity_provider",
        )),
        _ => Err(Denied::Jwt("no valid account_id and contact_id".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }
}
