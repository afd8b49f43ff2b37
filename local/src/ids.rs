//! Identifiers in the shapes AWS uses: request ids, X-Ray trace ids, log stream suffixes.

use std::time::{SystemTime, UNIX_EPOCH};

use ulid::Ulid;

fn random_u128() -> u128 {
    Ulid::new().0
}

/// A UUID-shaped id, like Lambda's request ids.
pub fn uuid() -> String {
    let hex = format!("{:032x}", random_u128());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// 32 hex digits.
pub fn hex32() -> String {
    format!("{:032x}", random_u128())
}

/// An X-Ray trace header (`Root=1-<epoch hex>-<24 hex>;Parent=<16 hex>;Sampled=0`).
pub fn trace_id() -> String {
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let random = format!("{:032x}", random_u128());
    let parent = format!("{:032x}", random_u128());
    format!(
        "Root=1-{epoch:08x}-{};Parent={};Sampled=0",
        &random[8..],
        &parent[16..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(uuid(), uuid());
        let trace = trace_id();
        assert!(trace.starts_with("Root=1-"), "{trace}");
        assert!(trace.ends_with(";Sampled=0"), "{trace}");
        assert_eq!(hex32().len(), 32);
    }
}
