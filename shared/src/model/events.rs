//! The agreement events published to EventBridge for integrations: which change of an agreement
//! (its item's old and new image on the table's stream) is which event. Pure; `publish-events`
//! does the I/O.
//!
//! A change is recognised from the two images, first match wins (see [`change_of`]); a write
//! that is not one of these (a notice recorded, an attestation step, a tag) publishes nothing.
//! A new kind is one more variant and one more rule here.

use serde::Serialize;

use crate::model::{Agreement, AgreementStatus};

pub use crate::model::agreement::TEMPLATE_EXPIRED;

/// The `source` of every event the stack publishes.
pub const EVENT_SOURCE: &str = "agreements";

/// What happened to an agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementChange {
    Created,
    Accepted,
    Declined,
    Deactivated,
    /// Ended because its template expired (an inactive reason of `template_expired`).
    Expired,
    /// An accepted agreement is asked to accept a newer document version of its template.
    ReacceptanceRequested,
}

impl AgreementChange {
    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            AgreementChange::Created => "Agreement Created",
            AgreementChange::Accepted => "Agreement Accepted",
            AgreementChange::Declined => "Agreement Declined",
            AgreementChange::Deactivated => "Agreement Deactivated",
            AgreementChange::Expired => "Agreement Expired",
            AgreementChange::ReacceptanceRequested => "Agreement Reacceptance Requested",
        }
    }
}

/// The change from `old` to `new` (either absent: the item did not exist before, or was
/// removed), or `None` when it is not one integrations are told about.
pub fn change_of(old: Option<&Agreement>, new: Option<&Agreement>) -> Option<AgreementChange> {
    let new = new?;
    let Some(old) = old else {
        return Some(AgreementChange::Created);
    };
    if new.version <= old.version {
        // Not a newer version of the record (a rewrite of the same version): nothing happened.
        return None;
    }
    match (old.status, new.status) {
        (AgreementStatus::Pending, AgreementStatus::Accepted) => Some(AgreementChange::Accepted),
        (from, AgreementStatus::Inactive) if from != AgreementStatus::Inactive => {
            if new.inactive_reason.as_deref() == Some(TEMPLATE_EXPIRED) {
                Some(AgreementChange::Expired)
            } else {
                Some(AgreementChange::Deactivated)
            }
        }
        (AgreementStatus::Pending, AgreementStatus::Pending)
            if old.declined_on.is_none() && new.declined_on.is_some() =>
        {
            Some(AgreementChange::Declined)
        }
        // A new document version to accept, then its acceptance (the version accepted moves).
        (AgreementStatus::Accepted, AgreementStatus::Accepted)
            if new.awaiting_document_version.is_some()
                && new.awaiting_document_version != old.awaiting_document_version =>
        {
            Some(AgreementChange::ReacceptanceRequested)
        }
        (AgreementStatus::Accepted, AgreementStatus::Accepted)
            if old.awaiting_document_version.is_some()
                && new.accepted_document_version != old.accepted_document_version =>
        {
            Some(AgreementChange::Accepted)
        }
        _ => None,
    }
}

/// The `detail` of an agreement's event: what changed, an id that is the same however often the
/// change is delivered (the agreement's id and version), and the agreement as it is after it.
#[derive(Debug, Clone, Serialize)]
pub struct AgreementEventDetail<'a> {
    /// `<agreement id>:<version>`: consumers drop an event whose id they have seen.
    pub idempotency_id: String,
    pub change: AgreementChange,
    /// The stream record the event was published from.
    pub stream_event_id: &'a str,
    pub agreement: &'a Agreement,
}

impl<'a> AgreementEventDetail<'a> {
    pub fn new(
        change: AgreementChange,
        agreement: &'a Agreement,
        stream_event_id: &'a str,
    ) -> Self {
        AgreementEventDetail {
            idempotency_id: format!("{}:{}", agreement.id, agreement.version),
            change,
            stream_event_id,
            agreement,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgreementSource, AgreementTemplate, Day, Id, Instant, NewTemplate};

    fn pending() -> Agreement {
        let input: NewTemplate = serde_json::from_value(serde_json::json!({
            "name": "MCA", "template_id": "mca", "provider_id": "p",
            "document_version": "2024-01", "effective_date": "2024-01-01",
            "agreement_link": "https://example.com/mca"
        }))
        .expect("valid");
        let t = AgreementTemplate::create(input, Id::generate(), Instant::now()).expect("ok");
        Agreement::pending(
            Id::generate(),
            &t,
            Id::generate(),
            None,
            None,
            AgreementSource::Manual,
            Instant::now(),
        )
        .expect("active template")
    }

    fn next(a: &Agreement, f: impl FnOnce(&mut Agreement)) -> Agreement {
        let mut b = a.clone();
        b.version += 1;
        f(&mut b);
        b
    }

    #[test]
    fn a_new_item_is_created() {
        let a = pending();
        assert_eq!(change_of(None, Some(&a)), Some(AgreementChange::Created));
    }

    #[test]
    fn status_transitions_are_their_changes() {
        let a = pending();
        let accepted = next(&a, |b| b.status = AgreementStatus::Accepted);
        assert_eq!(
            change_of(Some(&a), Some(&accepted)),
            Some(AgreementChange::Accepted)
        );
        let ended = next(&accepted, |b| {
            b.status = AgreementStatus::Inactive;
            b.inactive_reason = Some("staff".into());
        });
        assert_eq!(
            change_of(Some(&accepted), Some(&ended)),
            Some(AgreementChange::Deactivated)
        );
        let expired = next(&a, |b| {
            b.status = AgreementStatus::Inactive;
            b.inactive_reason = Some(TEMPLATE_EXPIRED.into());
        });
        assert_eq!(
            change_of(Some(&a), Some(&expired)),
            Some(AgreementChange::Expired)
        );
    }

    #[test]
    fn a_new_version_to_accept_and_its_acceptance_are_changes() {
        let a = pending();
        let accepted = a
            .accepted(Id::generate(), Day::today(), Instant::now())
            .expect("accepted");
        let asked = accepted.awaiting("2025-06", Instant::now()).expect("asked");
        assert_eq!(
            change_of(Some(&accepted), Some(&asked)),
            Some(AgreementChange::ReacceptanceRequested)
        );
        // A notice recorded while it awaits is no second request.
        let noted = next(&asked, |_| {});
        assert_eq!(change_of(Some(&asked), Some(&noted)), None);
        let again = asked
            .accepted(Id::generate(), Day::today(), Instant::now())
            .expect("accepted again");
        assert_eq!(again.accepted_document_version.as_deref(), Some("2025-06"));
        assert_eq!(
            change_of(Some(&asked), Some(&again)),
            Some(AgreementChange::Accepted)
        );
    }

    #[test]
    fn declining_keeps_it_pending_and_is_its_own_change() {
        let a = pending();
        let declined = next(&a, |b| b.declined_on = Some(Day::today()));
        assert_eq!(
            change_of(Some(&a), Some(&declined)),
            Some(AgreementChange::Declined)
        );
        // A second write while declined (a notice recorded) is not a second decline.
        let again = next(&declined, |_| {});
        assert_eq!(change_of(Some(&declined), Some(&again)), None);
    }

    #[test]
    fn other_writes_and_replays_publish_nothing() {
        let a = pending();
        assert_eq!(change_of(Some(&a), Some(&next(&a, |_| {}))), None);
        assert_eq!(change_of(Some(&a), None), None);
        assert_eq!(change_of(None, None), None);
        // The same version rewritten (no real change) is not an event, whatever it holds.
        let mut same = a.clone();
        same.status = AgreementStatus::Accepted;
        assert_eq!(change_of(Some(&a), Some(&same)), None);
    }

    #[test]
    fn the_detail_carries_a_stable_idempotency_id_and_the_agreement() {
        let a = pending();
        let detail = AgreementEventDetail::new(AgreementChange::Created, &a, "e-1");
        let v = serde_json::to_value(&detail).expect("serialises");
        assert_eq!(v["idempotency_id"], format!("{}:1", a.id));
        assert_eq!(v["change"], "created");
        assert_eq!(v["agreement"]["id"], a.id.to_string());
        assert_eq!(v["agreement"]["status"], "pending");
    }
}
