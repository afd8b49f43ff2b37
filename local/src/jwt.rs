//! HS256 JSON Web Tokens: minting for tests and scripts, and the verification that stands in
//! for API Gateway's JWT authorizer locally: signature, `exp`, `nbf`, `iat`, then `iss` and `aud`
//! against the authorizer's `JwtConfiguration`, as API Gateway checks them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported algorithm {0:?}: only HS256 is accepted")]
    UnsupportedAlgorithm(String),
    #[error("invalid signature")]
    InvalidSignature,
    #[error("token has no exp claim")]
    MissingExpiry,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid (nbf)")]
    NotYetValid,
    #[error("token issued in the future (iat)")]
    IssuedInFuture,
    #[error("token has an issuer the authorizer does not accept")]
    InvalidIssuer,
    #[error("token has no audience the authorizer accepts")]
    InvalidAudience,
}

/// What a JWT authorizer's `JwtConfiguration` requires of a token's claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// `issuer`: `iss` must be exactly this (unchecked when `None`).
    pub issuer: Option<String>,
    /// `audience`: `aud` (or `client_id` when the token has no `aud`) must be one of these
    /// (unchecked when empty).
    pub audiences: Vec<String>,
}

impl JwtError {
    /// The short reason a 401 response gives.
    pub fn detail(&self) -> &'static str {
        match self {
            JwtError::Malformed(_) | JwtError::MissingExpiry => "malformed token",
            // A token signed some other way does not carry a valid HS256 signature.
            JwtError::UnsupportedAlgorithm(_) | JwtError::InvalidSignature => "invalid signature",
            JwtError::Expired => "token expired",
            JwtError::NotYetValid | JwtError::IssuedInFuture => "token not yet valid",
            JwtError::InvalidIssuer => "the token has an invalid issuer",
            JwtError::InvalidAudience => "the token does not have a valid audience",
        }
    }
}

fn mac(secret: &str) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length")
}

/// Signs `claims` (normally a JSON object) as a compact HS256 JWT.
pub fn mint(claims: &Value, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

fn numeric_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or(JwtError::Malformed("numeric date out of range")),
        Some(_) => Err(JwtError::Malformed("exp and nbf must be numbers")),
    }
}

/// Checks an HS256 token's signature, `exp` (required, must be after `now_epoch_secs`) and `nbf`
/// (if present, must not be after `now_epoch_secs`), and returns its claims.
pub fn verify(
    token: &str,
    secret: &str,
    now_epoch_secs: u64,
) -> Result<Map<String, Value>, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("a JWT has three dot-separated parts"));
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(JwtError::Malformed("header is not base64url JSON"))?;
    match header.get("alg").and_then(Value::as_str) {
        Some("HS256") => {}
        Some(other) => return Err(JwtError::UnsupportedAlgorithm(other.to_string())),
        None => return Err(JwtError::Malformed("header has no alg")),
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
    let mut mac = mac(secret);
    // The signature covers `header.payload` exactly as sent.
    let signed = token.rsplit_once('.').map_or("", |(signed, _)| signed);
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::InvalidSignature)?;

    let claims: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(JwtError::Malformed(
            "payload is not a base64url JSON object",
        ))?;
    // Precision loss is irrelevant for epoch seconds.
    #[allow(clippy::cast_precision_loss)]
    let now = now_epoch_secs as f64;
    let expiry = numeric_claim(&claims, "exp")?.ok_or(JwtError::MissingExpiry)?;
    if expiry <= now {
        return Err(JwtError::Expired);
    }
    if numeric_claim(&claims, "nbf")?.is_some_and(|nbf| nbf > now) {
        return Err(JwtError::NotYetValid);
    }
    if numeric_claim(&claims, "iat")?.is_some_and(|iat| iat > now) {
        return Err(JwtError::IssuedInFuture);
    }
    Ok(claims)
}

/// Checks verified claims against the authorizer's configuration as API Gateway does: `iss` must
/// be the configured issuer; `aud` must be one of the configured audiences (a token whose `aud`
/// is a list passes when one of its entries is), and only a token without `aud` is judged by its
/// `client_id` instead.
pub fn check_claims(claims: &Map<String, Value>, expected: &Expected) -> Result<(), JwtError> {
    if let Some(issuer) = &expected.issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(JwtError::InvalidIssuer);
        }
    }
    if expected.audiences.is_empty() {
        return Ok(());
    }
    let accepted = |value: &Value| {
        value
            .as_str()
            .is_some_and(|v| expected.audiences.iter().any(|a| a == v))
    };
    let audience_ok = match claims.get("aud") {
        Some(Value::Array(entries)) => entries.iter().any(accepted),
        Some(aud) => accepted(aud),
        None => claims.get("client_id").is_some_and(accepted),
    };
    if audience_ok {
        Ok(())
    } else {
        Err(JwtError::InvalidAudience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "s3cret";
    const NOW: u64 = 1_700_000_000;

    fn claims() -> Value {
        json!({"sub": "user-1", "exp": NOW + 60, "roles": ["a", "b"]})
    }

    #[test]
    fn round_trips() {
        let token = mint(&claims(), SECRET);
        let verified = verify(&token, SECRET, NOW);
        assert_eq!(verified.ok().map(Value::Object), Some(claims()));
    }

    #[test]
    fn refuses_expired_and_premature_tokens() {
        let token = mint(&json!({"exp": NOW}), SECRET);
        assert_eq!(verify(&token, SECRET, NOW), Err(JwtError::Expired));
        let token = mint(&json!({"exp": NOW + 10, "nbf": NOW + 5}), SECRET);
        assert_eq!(verify(&token, SECRET, NOW), Err(JwtError::NotYetValid));
        assert!(verify(&token, SECRET, NOW + 5).is_ok());
        let token = mint(&json!({"sub": "x"}), SECRET);
        assert_eq!(verify(&token, SECRET, NOW), Err(JwtError::MissingExpiry));
        assert_eq!(JwtError::MissingExpiry.detail(), "malformed token");
        let token = mint(&json!({"exp": "soon"}), SECRET);
        assert!(matches!(
            verify(&token, SECRET, NOW),
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn refuses_a_token_issued_in_the_future() {
        let token = mint(&json!({"exp": NOW + 60, "iat": NOW + 5}), SECRET);
        assert_eq!(verify(&token, SECRET, NOW), Err(JwtError::IssuedInFuture));
        let token = mint(&json!({"exp": NOW + 60, "iat": NOW}), SECRET);
        assert!(verify(&token, SECRET, NOW).is_ok());
    }

    #[test]
    fn checks_issuer_and_audience_as_api_gateway_does() {
        let expected = Expected {
            issuer: Some("https://login.microsoftonline.com/t/v2.0".into()),
            audiences: vec!["api://agreements".into(), "c1".into()],
        };
        let claims = |value: Value| value.as_object().cloned().unwrap_or_default();
        let iss = "https://login.microsoftonline.com/t/v2.0";
        for good in [
            json!({"iss": iss, "aud": "api://agreements"}),
            json!({"iss": iss, "aud": ["other", "c1"]}),
            // Without `aud`, `client_id` stands for it.
            json!({"iss": iss, "client_id": "c1"}),
        ] {
            assert_eq!(
                check_claims(&claims(good.clone()), &expected),
                Ok(()),
                "{good}"
            );
        }
        for (bad, error) in [
            (json!({"aud": "c1"}), JwtError::InvalidIssuer),
            (
                json!({"iss": "https://sts.windows.net/t/", "aud": "c1"}),
                JwtError::InvalidIssuer,
            ),
            (json!({"iss": iss}), JwtError::InvalidAudience),
            (
                json!({"iss": iss, "aud": "other"}),
                JwtError::InvalidAudience,
            ),
            (
                json!({"iss": iss, "aud": ["a", "b"]}),
                JwtError::InvalidAudience,
            ),
            // `aud` is judged when present, even with an accepted `client_id`.
            (
                json!({"iss": iss, "aud": "other", "client_id": "c1"}),
                JwtError::InvalidAudience,
            ),
        ] {
            assert_eq!(
                check_claims(&claims(bad.clone()), &expected),
                Err(error),
                "{bad}"
            );
        }
        // An authorizer configured with neither checks neither.
        assert_eq!(
            check_claims(&claims(json!({})), &Expected::default()),
            Ok(())
        );
    }

    #[test]
    fn refuses_a_bad_signature() {
        let token = mint(&claims(), "other");
        assert_eq!(verify(&token, SECRET, NOW), Err(JwtError::InvalidSignature));
        // A payload swapped under a valid signature.
        let good = mint(&claims(), SECRET);
        let forged_payload =
            URL_SAFE_NO_PAD.encode(json!({"sub": "admin", "exp": NOW + 60}).to_string());
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(
            verify(&forged, SECRET, NOW),
            Err(JwtError::InvalidSignature)
        );
        assert_eq!(JwtError::InvalidSignature.detail(), "invalid signature");
    }

    #[test]
    fn refuses_other_algorithms() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
        let token = format!("{header}.{payload}.");
        assert_eq!(
            verify(&token, SECRET, NOW),
            Err(JwtError::UnsupportedAlgorithm("none".into()))
        );
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let token = format!("{header}.{payload}.c2ln");
        assert_eq!(
            verify(&token, SECRET, NOW).map_err(|e| e.detail()),
            Err("invalid signature")
        );
    }

    #[test]
    fn refuses_malformed_tokens() {
        for token in ["", "abc", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.e30"] {
            let result = verify(token, SECRET, NOW);
            assert!(
                matches!(result, Err(JwtError::Malformed(_))),
                "{token}: {result:?}"
            );
            if let Err(error) = result {
                assert_eq!(error.detail(), "malformed token");
            }
        }
        // Valid signature over a payload that is not an object.
        let token = mint(&json!([1, 2]), SECRET);
        assert!(matches!(
            verify(&token, SECRET, NOW),
            Err(JwtError::Malformed(_))
        ));
    }
}
