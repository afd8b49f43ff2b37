//! Portal links: a personal, expiring, revocable way in to the self-service portal for one
//! contact of one account. The link record is kept in the table; the token that goes into the
//! link's URL names the link, the account and the contact, and is signed with the stack's portal
//! link key so that nobody can make one up. A token alone is not enough: the authorizer also
//! reads the link and refuses it once revoked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{ServiceError, ServiceResult};
use crate::model::{validate, Id, Instant};

/// Days a link lives unless the request says otherwise, and the bounds of what it may say.
pub const DEFAULT_LINK_DAYS: i64 = 14;
pub const MAX_LINK_DAYS: i64 = 90;
/// A link's record stays readable (in the account's list) this long after it expired; then the
/// table's TTL removes it.
pub const KEEP_EXPIRED_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    Active,
    Revoked,
    /// Not stored: an active link past its `expires_at` reads as expired.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalLink {
    pub id: Id,
    pub account_id: Id,
    pub contact_id: Id,
    pub status: LinkStatus,
    pub expires_at: Instant,
    pub created_at: Instant,
    pub updated_at: Instant,
    pub version: u64,
    /// Who made it: a staff subject, or `system:<what>` for the links the e-mails carry.
    pub created_by: String,
    /// The agreement whose e-mail carried the link, for links made by a notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement_id: Option<Id>,
    #[serde(default)]
    pub sent_at: Option<Instant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Instant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// Epoch seconds after which the table may drop the record (the table's TTL attribute).
    #[serde(default)]
    pub ttl: i64,
}

/// What staff send to make a link.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPortalLink {
    pub contact_id: String,
    #[serde(default)]
    pub expires_in_days: Option<i64>,
    #[serde(default)]
    pub send: bool,
}

impl PortalLink {
    pub fn create(
        account_id: Id,
        contact_id: Id,
        days: Option<i64>,
        created_by: String,
        agreement_id: Option<Id>,
        now: Instant,
    ) -> ServiceResult<PortalLink> {
        let days = days.unwrap_or(DEFAULT_LINK_DAYS);
        if !(1..=MAX_LINK_DAYS).contains(&days) {
            return Err(validate::invalid(
                "expires_in_days",
                &format!("must be a whole number of days from 1 to {MAX_LINK_DAYS}"),
            ));
        }
        let expires_at = now.plus_days(days);
        Ok(PortalLink {
            id: Id::generate(),
            account_id,
            contact_id,
            status: LinkStatus::Active,
            expires_at,
            created_at: now,
            updated_at: now,
            version: 1,
            created_by,
            agreement_id,
            sent_at: None,
            revoked_at: None,
            revoked_by: None,
            ttl: expires_at.plus_days(KEEP_EXPIRED_DAYS).unix_secs(),
        })
    }

    /// The status as of `now`: a stored active link past its expiry is expired.
    pub fn status_at(&self, now: Instant) -> LinkStatus {
        match self.status {
            LinkStatus::Active if now >= self.expires_at => LinkStatus::Expired,
            other => other,
        }
    }

    /// Whether the link lets its contact in at `now`.
    pub fn admits(&self, now: Instant) -> bool {
        self.status_at(now) == LinkStatus::Active
    }

    pub fn revoked(&self, by: &str, now: Instant) -> ServiceResult<PortalLink> {
        if self.status == LinkStatus::Revoked {
            return Err(ServiceError::conflict(format!(
                "portal link {} is already revoked",
                self.id
            )));
        }
        let mut next = self.clone();
        next.status = LinkStatus::Revoked;
        next.revoked_at = Some(now);
        next.revoked_by = Some(by.to_string());
        next.updated_at = now;
        next.version += 1;
        Ok(next)
    }

    pub fn claims(&self) -> LinkClaims {
        LinkClaims {
            lid: self.id.clone(),
            aid: self.account_id.clone(),
            cid: self.contact_id.clone(),
            exp: self.expires_at.unix_secs(),
        }
    }
}

/// What a portal link token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkClaims {
    /// The link.
    pub lid: Id,
    /// The account.
    pub aid: Id,
    /// The contact.
    pub cid: Id,
    /// Expiry, epoch seconds.
    pub exp: i64,
}

/// Tokens start with this, which also tells them apart from a JWT (three dot-separated parts).
pub const TOKEN_PREFIX: &str = "pl1_";

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a portal link token")]
    Malformed,
    #[error("the portal link token's signature is not ours")]
    BadSignature,
    #[error("the portal link expired")]
    Expired,
}

/// The key that signs and checks portal link tokens (HMAC-SHA256).
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// The shortest key accepted: the stack generates 64 characters.
pub const MIN_KEY_BYTES: usize = 32;

impl LinkKey {
    pub fn new(secret: &[u8]) -> Result<LinkKey, String> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the portal link key has {} bytes; it needs at least {MIN_KEY_BYTES}",
                secret.len()
            ));
        }
        Ok(LinkKey(secret.to_vec()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }

    pub fn sign(&self, claims: &LinkClaims) -> String {
        // A struct of ids and a number always serialises.
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(TOKEN_PREFIX.as_bytes());
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{TOKEN_PREFIX}{payload}.{signature}")
    }

    /// The claims of a token this key signed that has not expired at `now_secs`.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<LinkClaims, TokenError> {
        let rest = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Malformed)?;
        let (payload, signature) = rest.split_once('.').ok_or(TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(TOKEN_PREFIX.as_bytes());
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: LinkClaims =
            serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
        if now_secs >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LinkKey {
        LinkKey::new(&[7u8; 48]).expect("long enough")
    }

    fn link(days: i64) -> PortalLink {
        PortalLink::create(
            Id::generate(),
            Id::generate(),
            Some(days),
            "staff".into(),
            None,
            Instant::now(),
        )
        .expect("valid")
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let l = link(14);
        let token = key().sign(&l.claims());
        assert!(token.starts_with(TOKEN_PREFIX));
        let now = Instant::now().unix_secs();
        assert_eq!(key().verify(&token, now), Ok(l.claims()));
        assert_eq!(
            key().verify(&token, l.expires_at.unix_secs()),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn another_key_or_a_changed_payload_is_refused() {
        let l = link(1);
        let token = key().sign(&l.claims());
        let other = LinkKey::new(&[8u8; 48]).expect("long enough");
        let now = Instant::now().unix_secs();
        assert_eq!(other.verify(&token, now), Err(TokenError::BadSignature));
        // Another account in the same token shape, signature kept.
        let mut forged = l.claims();
        forged.aid = Id::generate();
        let forged_payload = key().sign(&forged);
        let (_, forged_payload) = forged_payload
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|r| r.split_once('.'))
            .map(|(p, _)| ((), p.to_string()))
            .expect("shape");
        let signature = token.rsplit_once('.').map(|(_, s)| s).expect("shape");
        let tampered = format!("{TOKEN_PREFIX}{forged_payload}.{signature}");
        assert_eq!(key().verify(&tampered, now), Err(TokenError::BadSignature));
        for junk in ["", "pl1_", "pl1_abc", "eyJ.a.b", "pl1_!!.??"] {
            assert!(key().verify(junk, now).is_err(), "{junk}");
        }
    }

    #[test]
    fn days_are_bounded_and_revocation_happens_once() {
        for bad in [0, -1, 91] {
            assert!(PortalLink::create(
                Id::generate(),
                Id::generate(),
                Some(bad),
                "s".into(),
                None,
                Instant::now()
            )
            .is_err());
        }
        let l = link(90);
        assert!(l.admits(Instant::now()));
        assert_eq!(l.status_at(l.expires_at), LinkStatus::Expired);
        let r = l.revoked("staff", Instant::now()).expect("active");
        assert_eq!(r.status, LinkStatus::Revoked);
        assert!(!r.admits(Instant::now()));
        assert!(r.revoked("staff", Instant::now()).is_err());
        assert!(LinkKey::new(b"short").is_err());
    }
}
