//! List cursors: DynamoDB's LastEvaluatedKey, sealed with an HMAC and bound to the list it came
//! from, so that a forged, corrupt or borrowed cursor is refused instead of read.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::StoreError;

type HmacSha256 = Hmac<Sha256>;

const TAG_LEN: usize = 16;
const MAX_CURSOR_LEN: usize = 2048;

#[derive(Clone)]
pub struct CursorSigner {
    mac: HmacSha256,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSigner(..)")
    }
}

impl CursorSigner {
    /// HMAC takes a key of any length, so this only fails for an empty key.
    pub fn new(key: &[u8]) -> Option<Self> {
        if key.is_empty() {
            return None;
        }
        HmacSha256::new_from_slice(key)
            .ok()
            .map(|mac| CursorSigner { mac })
    }

    fn tag(&self, scope: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
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
        let tag = self.tag(scope, &payload).finalize().into_bytes();
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN])
        ))
    }

    /// Opens a cursor issued for the same list; anything else is a 400.
    pub fn decode(
        &self,
        scope: &str,
        cursor: &str,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let invalid = || StoreError::BadCursor;
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(invalid());
        }
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        self.tag(scope, &payload)
            .verify_truncated_left(&tag)
            .map_err(|_| invalid())?;
        let plain: BTreeMap<String, String> =
            serde_json::from_slice(&payload).map_err(|_| invalid())?;
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
    fn forged_or_borrowed_cursors_are_refused() {
        let s = CursorSigner::new(b"k").expect("key");
        let c = s.encode("accounts", &key()).expect("encodes");
        assert!(s.decode("providers", &c).is_err(), "other list");
        assert!(CursorSigner::new(b"other")
            .expect("key")
            .decode("accounts", &c)
            .is_err());
        let (payload, tag) = c.split_once('.').expect("dot");
        let forged = URL_SAFE_NO_PAD.encode(br##"{"PK":"ACCOUNT#2","SK":"#META"}"##);
        assert!(s.decode("accounts", &format!("{forged}.{tag}")).is_err());
        for junk in ["", ".", "abc", "!!!.???", &payload[..payload.len() / 2]] {
            assert!(s.decode("accounts", junk).is_err(), "{junk}");
        }
    }
}
