//! List cursors: DynamoDB's LastEvaluatedKey, encrypted and authenticated (AES-256-GCM-SIV) under
//! a key derived from the cursor signing key, with the list it came from as associated data. A
//! cursor reveals nothing of the table's keys, and a forged, corrupt or borrowed one is refused
//! instead of read.

use std::collections::{BTreeMap, HashMap};

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::StoreError;

type HmacSha256 = Hmac<Sha256>;

const NONCE_LEN: usize = 12;
/// A list of every agreement names a position in each of its 16 shards (about 3 KB sealed).
const MAX_CURSOR_LEN: usize = 4096;
/// HKDF's salt and info for the cursor key: a key of its own, whatever else the signing key
/// is used for.
const KDF_SALT: &[u8] = b"agreements/list-cursor";
const KDF_INFO: &[u8] = b"AES-256-GCM-SIV v1";

#[derive(Clone)]
pub struct CursorSigner {
    cipher: Aes256GcmSiv,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSigner(..)")
    }
}

/// HKDF-SHA256 (RFC 5869) of one block: 32 bytes of key from the signing key.
fn derive_key(secret: &[u8]) -> Option<[u8; 32]> {
    let mut extract = <HmacSha256 as Mac>::new_from_slice(KDF_SALT).ok()?;
    extract.update(secret);
    let prk = extract.finalize().into_bytes();
    let mut expand = <HmacSha256 as Mac>::new_from_slice(&prk).ok()?;
    expand.update(KDF_INFO);
    expand.update(&[1]);
    Some(expand.finalize().into_bytes().into())
}

impl CursorSigner {
    /// Any non-empty key; an empty one is refused.
    pub fn new(key: &[u8]) -> Option<Self> {
        if key.is_empty() {
            return None;
        }
        let key = derive_key(key)?;
        Aes256GcmSiv::new_from_slice(&key)
            .ok()
            .map(|cipher| CursorSigner { cipher })
    }

    /// Seals a LastEvaluatedKey (all our key attributes are strings) for the list named `scope`.
    pub fn encode(
        &self,
        scope: &str,
        key: &HashMap<String, AttributeValue>,
    ) -> Result<String, StoreError> {
        let plain: BTreeMap<&str, &str> = key
            .iter()
            .map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
            .collect::<Option<_>>()
            .ok_or_else(|| StoreError::Corrupt("a key attribute is not a string".into()))?;
        let payload = serde_json::to_vec(&plain)
            .map_err(|e| StoreError::Corrupt(format!("a key cannot be sealed: {e}")))?;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &payload,
                    aad: scope.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Corrupt("a cursor could not be sealed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a cursor issued for the same list; anything else is `BadCursor`.
    pub fn decode(
        &self,
        scope: &str,
        cursor: &str,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(StoreError::BadCursor);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| StoreError::BadCursor)?;
        if raw.len() <= NONCE_LEN {
            return Err(StoreError::BadCursor);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let payload = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: scope.as_bytes(),
                },
            )
            .map_err(|_| StoreError::BadCursor)?;
        let plain: BTreeMap<String, String> =
            serde_json::from_slice(&payload).map_err(|_| StoreError::BadCursor)?;
        Ok(plain
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("PK".to_string(), AttributeValue::S("ACCOUNT#1".into())),
            ("SK".to_string(), AttributeValue::S("#META".into())),
        ])
    }

    #[test]
    fn round_trip() {
        let s = CursorSigner::new(b"k").expect("key");
        let c = s.encode("accounts", &key()).expect("encodes");
        assert_eq!(s.decode("accounts", &c).expect("decodes"), key());
    }

    #[test]
    fn a_cursor_reveals_nothing_of_the_keys() {
        let s = CursorSigner::new(b"k").expect("key");
        let c = s.encode("accounts", &key()).expect("encodes");
        let raw = URL_SAFE_NO_PAD.decode(&c).expect("base64");
        let text = String::from_utf8_lossy(&raw);
        for secret in ["ACCOUNT", "PK", "META"] {
            assert!(!text.contains(secret), "{secret} shows in {c}");
        }
        // A fresh nonce each time: the same key gives different cursors.
        assert_ne!(c, s.encode("accounts", &key()).expect("encodes"));
    }

    #[test]
    fn forged_or_borrowed_cursors_are_refused() {
        let s = CursorSigner::new(b"k").expect("key");
        let c = s.encode("accounts", &key()).expect("encodes");
        assert!(s.decode("providers", &c).is_err(), "other list");
        assert!(CursorSigner::new(b"other")
            .expect("key")
            .decode("accounts", &c)
            .is_err());
        let mut raw = URL_SAFE_NO_PAD.decode(&c).expect("base64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(
            s.decode("accounts", &URL_SAFE_NO_PAD.encode(&raw)).is_err(),
            "tampered"
        );
        let forged = URL_SAFE_NO_PAD.encode(br##"{"PK":"ACCOUNT#2","SK":"#META"}"##);
        assert!(s.decode("accounts", &forged).is_err());
        for junk in ["", ".", "abc", "!!!.???", &c[..c.len() / 2]] {
            assert!(s.decode("accounts", junk).is_err(), "{junk}");
        }
        assert!(CursorSigner::new(b"").is_none());
    }
}
