//! The push of a customer's acceptance to its provider (Partner Center's attestation): queued
//! after a confirmation on the portal, done once per agreement by the queue's worker, its
//! outcome recorded on the agreement's history for staff.

use crate::connectors::{
    confirms_agreements, Acceptance, AgreementContact, ConnectorError, ProviderConnector,
};
use crate::error::ServiceError;
use crate::model::{
    Actor, Agreement, AgreementSource, AgreementStatus, AgreementTemplate, Day, HistoryAction,
    HistoryEvent, Provider,
};
use crate::queue::{BulkQueue, JobMessage};
use crate::services::accounts::find_contact;
use crate::services::agreements::require_agreement;
use crate::store::{Store, StoreError};

use super::runner::JobError;

/// After an acceptance: queue its attestation when the agreement's provider syncs agreements.
/// A failure to queue is logged and leaves the acceptance as it is.
pub async fn queue_attestation(store: &Store, queue: Option<&BulkQueue>, agreement: &Agreement) {
    let provider: Result<Option<Provider>, StoreError> = store.by_id(&agreement.provider_id).await;
    match provider {
        Ok(Some(p)) if confirms_agreements(&p) => {}
        Ok(_) => return,
        Err(e) => {
            tracing::error!(agreement_id = %agreement.id, error = %crate::error::Chain(&e), "cannot tell whether to attest");
            return;
        }
    }
    let Some(queue) = queue else {
        tracing::error!(agreement_id = %agreement.id, "no queue configured to attest the acceptance");
        return;
    };
    let message = JobMessage::attest_agreement(agreement.id.as_str());
    if let Err(e) = queue.send(&message).await {
        tracing::error!(agreement_id = %agreement.id, error = %crate::error::Chain(&e), "the attestation could not be queued");
    }
}

async fn note(
    store: &Store,
    agreement: &Agreement,
    action: HistoryAction,
    details: serde_json::Value,
) -> Result<(), JobError> {
    let event = HistoryEvent::note(
        agreement,
        action,
        Actor::system("partner center push"),
        AgreementSource::PartnerCenter,
        details,
    );
    store.note_on_agreement(&agreement.id, &event).await?;
    Ok(())
}

/// Attests an accepted agreement to Partner Center. Done once: a later delivery finds the
/// `attested` event and stops. A refusal is recorded on the agreement's history for staff.
pub async fn attest_agreement<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    agreement_id: &str,
) -> Result<(), JobError> {
    let agreement = match require_agreement(store, agreement_id).await {
        Ok(a) => a,
        Err(ServiceError::NotFound(d)) => return Err(JobError::Poison(d)),
        Err(e) => return Err(e.into()),
    };
    if agreement.status != AgreementStatus::Accepted {
        tracing::info!(agreement_id = %agreement.id, "not accepted (any more): nothing to attest");
        return Ok(());
    }
    let history = store.history(&agreement.id).await?.unwrap_or_default();
    if history.iter().any(|e| e.action == HistoryAction::Attested) {
        return Ok(());
    }
    let template: AgreementTemplate =
        store.by_id(&agreement.template_id).await?.ok_or_else(|| {
            JobError::Poison(format!("template {} is missing", agreement.template_id))
        })?;
    let link = store
        .provider_account_of_account(&agreement.account_id, &agreement.provider_id)
        .await?;
    let contact = match &agreement.signed_by {
        Some(c) => find_contact(store, &agreement.account_id, c).await?,
        None => None,
    };
    let (Some(pa), Some(contact)) = (link, contact) else {
        note(
            store,
            &agreement,
            HistoryAction::AttestationFailed,
            serde_json::json!({"reason": "the account has no Partner Center tenant id or the signer is not a contact of the account"}),
        )
        .await?;
        return Ok(());
    };
    let acceptance = Acceptance {
        customer_id: pa.provider_specific_id.clone(),
        template_id: template.template_id.clone(),
        accepted_on: agreement.signed_on.unwrap_or_else(Day::today),
        signer: AgreementContact::from(&contact),
    };
    match connector.confirm_acceptance(&acceptance).await {
        Ok(confirmed) => {
            note(
                store,
                &agreement,
                HistoryAction::Attested,
                serde_json::json!({"partner_center": {"customer_id": acceptance.customer_id,
                    "template_id": confirmed.template_id, "date_agreed": confirmed.date_agreed}}),
            )
            .await?;
            tracing::info!(agreement_id = %agreement.id, "acceptance attested to Partner Center");
            Ok(())
        }
        Err(e @ ConnectorError::Transient { .. }) => Err(e.into()),
        Err(e) => {
            let (code, detail) = match &e {
                ConnectorError::Refused { code, detail } => (code.clone(), detail.clone()),
                other => ("client".to_string(), other.to_string()),
            };
            note(
                store,
                &agreement,
                HistoryAction::AttestationFailed,
                serde_json::json!({"partner_center": {"code": code, "detail": detail}}),
            )
            .await?;
            tracing::warn!(agreement_id = %agreement.id, %code, "Partner Center refused the attestation");
            Ok(())
        }
    }
}

/// The attestation's message will not be delivered again: the failure goes on the agreement's
/// history for staff.
pub async fn give_up(store: &Store, agreement_id: &str, reason: &str) -> Result<(), JobError> {
    let agreement = match require_agreement(store, agreement_id).await {
        Ok(a) => a,
        Err(ServiceError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    note(
        store,
        &agreement,
        HistoryAction::AttestationFailed,
        serde_json::json!({"reason": reason}),
    )
    .await
}
