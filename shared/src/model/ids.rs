//! Server-chosen identifiers: ULIDs, so they sort by creation time and carry 80 random bits.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An opaque identifier chosen by the server (a ULID in its canonical 26-character form).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    /// A fresh, unguessable id.
    pub fn generate() -> Self {
        Id(ulid::Ulid::new().to_string())
    }

    /// An id derived from a seed, for writes that must land on the same key when repeated.
    /// The time part keeps ids sortable by creation; the rest comes from the seed's hash.
    pub fn derived(timestamp_ms: u64, seed: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(seed);
        let mut random = [0u8; 16];
        random.copy_from_slice(&digest[..16]);
        let random = u128::from_be_bytes(random) & ((1u128 << 80) - 1);
        Id(ulid::Ulid::from_parts(timestamp_ms, random).to_string())
    }

    /// Accepts what a caller sent as an id; anything that is not a ULID cannot name a record.
    pub fn parse(raw: &str) -> Option<Self> {
        ulid::Ulid::from_string(raw)
            .ok()
            .filter(|_| raw.len() == 26)
            .map(|u| Id(u.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Milliseconds since the epoch at which the id was made.
    pub fn timestamp_ms(&self) -> u64 {
        ulid::Ulid::from_string(&self.0)
            .map(|u| u.timestamp_ms())
            .unwrap_or_default()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_differ() {
        let a = Id::generate();
        let b = Id::generate();
        assert_ne!(a, b);
        assert_eq!(Id::parse(a.as_str()), Some(a));
    }

    #[test]
    fn parse_refuses_what_is_not_a_ulid() {
        for raw in [
            "",
            "1",
            "../etc/passwd",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            "01ARZ3NDEKTSV4RRFFQ69G5FAVV",
        ] {
            assert_eq!(Id::parse(raw), None, "{raw}");
        }
    }

    #[test]
    fn parse_normalises_case() {
        let id = Id::generate();
        let lower = id.as_str().to_lowercase();
        assert_eq!(Id::parse(&lower), Some(id));
    }

    #[test]
    fn derived_ids_are_stable_per_seed() {
        let a = Id::derived(1_700_000_000_000, b"job-1/account-1");
        assert_eq!(a, Id::derived(1_700_000_000_000, b"job-1/account-1"));
        assert_ne!(a, Id::derived(1_700_000_000_000, b"job-1/account-2"));
        assert_eq!(a.timestamp_ms(), 1_700_000_000_000);
    }
}
