//! History events: the immutable trail of every change to an agreement (what, when, who).

use serde::{Deserialize, Serialize};

use crate::model::{Agreement, AgreementSource, AgreementStatus, Id, Instant, Principal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryAction {
    Created,
    Accepted,
    Deactivated,
    /// The acceptance was attested to the provider (Partner Center).
    Attested,
    /// Attesting to the provider failed for good; the agreement keeps its local state.
    AttestationFailed,
    /// Microsoft's enhanced attestation was started (its id and link in `details`).
    AttestationStarted,
    /// The attestation's link expired before the customer accepted.
    AttestationExpired,
    /// The customer declined it on the portal (it stays pending).
    Declined,
    /// E-mails to the signing contact: a portal link, a reminder, the receipt of acceptance.
    LinkSent,
    ReminderSent,
    ReceiptSent,
    /// An e-mail could not be sent (refused, or its outcome unknown and not retried).
    NoticeFailed,
    /// A new document version of the template asks the customer to accept again (the version
    /// and its change summary in `details`); the acceptance before it stands meanwhile.
    ReacceptanceRequested,
    /// The template expired while the agreement was pending: it is inactive.
    Expired,
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// `staff`, `customer` or `system`.
    pub kind: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<Id>,
}

impl Actor {
    pub fn of(principal: &Principal) -> Actor {
        match principal {
            Principal::Staff { subject } => Actor {
                kind: "staff".into(),
                subject: subject.clone(),
                contact_id: None,
            },
            Principal::Customer {
                subject,
                contact_id,
                ..
            } => Actor {
                kind: "customer".into(),
                subject: subject.clone(),
                contact_id: Some(contact_id.clone()),
            },
        }
    }

    pub fn system(what: &str) -> Actor {
        Actor {
            kind: "system".into(),
            subject: what.into(),
            contact_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub id: Id,
    pub agreement_id: Id,
    pub at: Instant,
    pub action: HistoryAction,
    pub from_status: Option<AgreementStatus>,
    pub to_status: AgreementStatus,
    /// The agreement's version after the change.
    pub agreement_version: u64,
    pub actor: Actor,
    pub source: AgreementSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Acceptance evidence and other facts of the change, as recorded at the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl HistoryEvent {
    /// An event that records something about the agreement without changing it.
    pub fn note(
        agreement: &Agreement,
        action: HistoryAction,
        actor: Actor,
        source: AgreementSource,
        details: serde_json::Value,
    ) -> HistoryEvent {
        HistoryEvent {
            id: Id::generate(),
            agreement_id: agreement.id.clone(),
            at: Instant::now(),
            action,
            from_status: Some(agreement.status),
            to_status: agreement.status,
            agreement_version: agreement.version,
            actor,
            source,
            reason: None,
            details: Some(details),
        }
    }

    /// The event that records `after` replacing `before` (or creating it, when there is no before).
    pub fn of_change(
        before: Option<&Agreement>,
        after: &Agreement,
        action: HistoryAction,
        actor: Actor,
        source: AgreementSource,
    ) -> HistoryEvent {
        HistoryEvent {
            id: Id::generate(),
            agreement_id: after.id.clone(),
            at: after.updated_at,
            action,
            from_status: before.map(|b| b.status),
            to_status: after.status,
            agreement_version: after.version,
            actor,
            source,
            reason: after
                .inactive_reason
                .clone()
                .filter(|_| action == HistoryAction::Deactivated),
            details: None,
        }
    }
}
