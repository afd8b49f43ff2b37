//! A customer identity provider for local runs and tests: RS256 tokens signed with the committed
//! dev key `local/dev/customer-idp.pem` (a local-only key, never trusted anywhere else), and its
//! JWKS, which the stack serves at [`JWKS_PATH`]. The stack sets the template parameters
//! `CustomerIdpIssuer`, `CustomerIdpAudience` and `CustomerIdpJwksUrl` to [`ISSUER`],
//! [`AUDIENCE`] and that JWKS unless they are overridden.

use std::sync::LazyLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// The `iss` of the local customer identity provider's tokens.
pub const ISSUER: &str = "https://customer-idp.local";
/// The `aud` the portal expects of them.
pub const AUDIENCE: &str = "agreements-portal";
/// The `kid` of the dev key.
pub const KEY_ID: &str = "local-dev-1";
/// Where the local HTTP API serves the JWKS.
pub const JWKS_PATH: &str = "/_local/customer-idp/jwks.json";

const PEM: &str = include_str!("../dev/customer-idp.pem");

/// The dev key: its PKCS#1 DER, and the modulus and exponent.
struct DevKey {
    der: Vec<u8>,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

static KEY: LazyLock<DevKey> = LazyLock::new(|| {
    let body: String = PEM
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD
        .decode(body.trim())
        .expect("local/dev/customer-idp.pem is base64");
    let (modulus, exponent) =
        rsa_public_numbers(&der).expect("local/dev/customer-idp.pem is a PKCS#1 RSA private key");
    DevKey {
        der,
        modulus,
        exponent,
    }
});

/// One DER element: its tag, its content and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, after) = rest.split_at_checked(count)?;
        rest = after;
        bytes
            .iter()
            .fold(0usize, |length, &b| (length << 8) | usize::from(b))
    };
    let (content, rest) = rest.split_at_checked(length)?;
    Some((tag, content, rest))
}

/// The modulus and public exponent of a PKCS#1 `RSAPrivateKey`, unsigned big-endian.
fn rsa_public_numbers(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    let (tag, key, _) = der_element(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, _version, rest) = der_element(key)?;
    if tag != INTEGER {
        return None;
    }
    let (tag, modulus, rest) = der_element(rest)?;
    if tag != INTEGER {
        return None;
    }
    let (tag, exponent, _) = der_element(rest)?;
    if tag != INTEGER {
        return None;
    }
    let unsigned = |n: &[u8]| {
        let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
        n[start..].to_vec()
    };
    Some((unsigned(modulus), unsigned(exponent)))
}

/// Signs `claims` as an RS256 JWT of the local customer identity provider (header `kid`
/// [`KEY_ID`]). The claims are taken as given: put `iss` ([`ISSUER`]), `aud` ([`AUDIENCE`]),
/// `exp` and the portal's claims in them.
pub fn mint(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KEY_ID.to_string());
    let key = EncodingKey::from_rsa_der(&KEY.der);
    jsonwebtoken::encode(&header, claims, &key).expect("the dev key signs")
}

/// The JWKS of the local customer identity provider.
pub fn jwks() -> Value {
    json!({"keys": [{
        "kty": "RSA",
        "kid": KEY_ID,
        "alg": "RS256",
        "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(&KEY.modulus),
        "e": URL_SAFE_NO_PAD.encode(&KEY.exponent),
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn minted_tokens_verify_with_the_jwks() {
        let jwks = jwks();
        let key = &jwks["keys"][0];
        assert_eq!(key["kid"], KEY_ID);
        assert_eq!(key["e"], "AQAB");
        // A 2048-bit modulus.
        let n = URL_SAFE_NO_PAD
            .decode(key["n"].as_str().unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(n.len(), 256);

        let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "c1",
                            "scope": "agreements.portal", "exp": 4_000_000_000_u64});
        let token = mint(&claims);
        let header = jsonwebtoken::decode_header(&token).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(header.kid.as_deref(), Some(KEY_ID));
        assert_eq!(header.alg, Algorithm::RS256);
        let decoding = DecodingKey::from_rsa_components(
            key["n"].as_str().unwrap_or_default(),
            key["e"].as_str().unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        let decoded = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.claims, claims);

        let mut tampered = token.clone();
        tampered.push('x');
        assert!(jsonwebtoken::decode::<Value>(&tampered, &decoding, &validation).is_err());
    }

    #[test]
    fn reads_der_lengths() {
        assert_eq!(
            der_element(&[0x02, 0x01, 0x05, 0xff]),
            Some((0x02, &[0x05][..], &[0xff][..]))
        );
        assert_eq!(der_element(&[0x02, 0x02, 0x05]), None);
        assert_eq!(der_element(&[0x30, 0x81]), None);
        assert!(rsa_public_numbers(b"not der").is_none());
    }
}
