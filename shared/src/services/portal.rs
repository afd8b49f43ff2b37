//! The self-service portal: a customer sees its own account's open agreements and confirms the
//! pending ones. Another account's agreement is a 404, never a 403 and never its data.

use std::collections::HashMap;

use serde::Serialize;

use crate::connectors::ProviderConnector;
use crate::error::{ServiceError, ServiceResult};
use crate::model::{
    Actor, Agreement, AgreementAttestation, AgreementSource, AgreementStatus, AgreementTemplate,
    Day, HistoryAction, Id, Instant, Principal, Provider,
};
use crate::queue::{BulkQueue, EmailQueue};
use crate::services::accounts::find_contact;
use crate::services::agreements::{transition, Transition};
use crate::services::attestations::{self, must_attest, Follow};
use crate::services::jobs::attestation::queue_attestation;
use crate::services::notices::queue_receipt;
use crate::services::PageRequest;
use crate::store::{Page, Store};

/// An agreement as its customer sees it, with what the portal shows of its template.
#[derive(Debug, Clone, Serialize)]
pub struct PortalAgreement {
    #[serde(flatten)]
    pub agreement: Agreement,
    pub template_name: String,
    pub agreement_link: String,
    pub display_inline: bool,
    pub portal_instructions: Option<String>,
    /// The customer accepts it in Microsoft's page (`POST …/attestation` gives the link), not
    /// with `…/confirm`.
    pub attestation_required: bool,
    /// An accepted agreement awaiting a newer document version: what changed in it.
    pub change_summary: Option<String>,
}

/// Where a confirmation came from, as the API saw it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

fn customer(caller: &Principal) -> ServiceResult<(&Id, &Id)> {
    match caller {
        Principal::Customer {
            account_id,
            contact_id,
            ..
        } => Ok((account_id, contact_id)),
        Principal::Staff { .. } => Err(ServiceError::Forbidden(
            "portal routes are for customers (scope agreements.portal)".into(),
        )),
    }
}

async fn template(store: &Store, id: &Id) -> ServiceResult<AgreementTemplate> {
    let found: Option<AgreementTemplate> = store.by_id(id).await?;
    found.ok_or_else(|| ServiceError::internal(format!("agreement's template {id} is missing")))
}

fn view(agreement: Agreement, t: &AgreementTemplate, p: &Provider) -> PortalAgreement {
    PortalAgreement {
        template_name: t.name.clone(),
        agreement_link: t.agreement_link.clone(),
        display_inline: t.display_inline,
        portal_instructions: t.portal_instructions.clone(),
        attestation_required: must_attest(p, t),
        change_summary: agreement
            .awaiting_document_version
            .as_ref()
            .filter(|v| **v == t.document_version)
            .and_then(|_| t.change_summary.clone()),
        agreement,
    }
}

async fn provider(store: &Store, id: &Id) -> ServiceResult<Provider> {
    let found: Option<Provider> = store.by_id(id).await?;
    found.ok_or_else(|| ServiceError::internal(format!("agreement's provider {id} is missing")))
}

pub async fn list_own_agreements(
    store: &Store,
    caller: &Principal,
    page: &PageRequest,
) -> ServiceResult<Page<PortalAgreement>> {
    let (account_id, _) = customer(caller)?;
    let agreements = store
        .open_agreements_of_account(account_id, page.spec())
        .await?;
    let mut templates: HashMap<Id, AgreementTemplate> = HashMap::new();
    let mut providers: HashMap<Id, Provider> = HashMap::new();
    let mut items = Vec::with_capacity(agreements.items.len());
    for a in agreements.items {
        if !templates.contains_key(&a.template_id) {
            let t = template(store, &a.template_id).await?;
            templates.insert(a.template_id.clone(), t);
        }
        if !providers.contains_key(&a.provider_id) {
            let p = provider(store, &a.provider_id).await?;
            providers.insert(a.provider_id.clone(), p);
        }
        if let (Some(t), Some(p)) = (templates.get(&a.template_id), providers.get(&a.provider_id)) {
            items.push(view(a, t, p));
        }
    }
    Ok(Page {
        items,
        next_cursor: agreements.next_cursor,
    })
}

/// The caller's own open agreement, or a 404 that says nothing of anyone else's.
async fn own(store: &Store, account_id: &Id, id: &str) -> ServiceResult<Agreement> {
    let found: Option<Agreement> = match Id::parse(id) {
        Some(id) => store.by_id(&id).await?,
        None => None,
    };
    match found {
        Some(a) if &a.account_id == account_id && a.status != AgreementStatus::Inactive => Ok(a),
        // The same answer for another account's id as for one that never existed.
        _ => Err(ServiceError::NotFound(
            "your account has no such agreement".into(),
        )),
    }
}

pub async fn get_own_agreement(
    store: &Store,
    caller: &Principal,
    id: &str,
) -> ServiceResult<PortalAgreement> {
    let (account_id, _) = customer(caller)?;
    let agreement = own(store, account_id, id).await?;
    let t = template(store, &agreement.template_id).await?;
    let p = provider(store, &agreement.provider_id).await?;
    Ok(view(agreement, &t, &p))
}

/// The customer starts (or gets back the live) Microsoft attestation of its pending agreement,
/// as its own contact: the answer carries Microsoft's link.
pub async fn start_attestation<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    follow: Follow<'_>,
    caller: &Principal,
    id: &str,
) -> ServiceResult<AgreementAttestation> {
    let (account_id, contact_id) = customer(caller)?;
    let agreement = own(store, account_id, id).await?;
    let contact = find_contact(store, account_id, contact_id)
        .await?
        .ok_or_else(|| {
            ServiceError::Forbidden("the token's contact is not a contact of its account".into())
        })?;
    attestations::start(
        store,
        connector,
        follow,
        Actor::of(caller),
        agreement,
        contact,
    )
    .await
}

/// Pending → accepted, signed by the caller's contact today, with the evidence of who, when,
/// from where and what in the same write.
pub async fn confirm_agreement(
    store: &Store,
    queue: Option<&BulkQueue>,
    emails: Option<&EmailQueue>,
    caller: &Principal,
    id: &str,
    origin: &Origin,
) -> ServiceResult<PortalAgreement> {
    let (account_id, contact_id) = customer(caller)?;
    let agreement = own(store, account_id, id).await?;
    let contact = find_contact(store, account_id, contact_id)
        .await?
        .ok_or_else(|| {
            ServiceError::Forbidden("the token's contact is not a contact of its account".into())
        })?;
    let t = template(store, &agreement.template_id).await?;
    let p = provider(store, &agreement.provider_id).await?;
    if must_attest(&p, &t) && agreement.status == AgreementStatus::Pending {
        return Err(ServiceError::AttestationRequired(format!(
            "agreement {} is accepted in Microsoft's own page: start it with \
             POST /portal/agreements/{}/attestation and open its link",
            agreement.id, agreement.id
        )));
    }
    let now = Instant::now();
    // The version the customer was shown: the one it is asked to accept again, or the
    // template's current one.
    let shown = agreement
        .awaiting_document_version
        .clone()
        .unwrap_or_else(|| t.document_version.clone());
    let evidence = serde_json::json!({
        "who": {
            "contact_id": contact.id,
            "name": contact.full_name(),
            "email": contact.email,
            "subject": caller.subject(),
        },
        "when": now,
        "from": {
            "source_ip": origin.source_ip,
            "user_agent": origin.user_agent,
        },
        "what": {
            "template_id": t.id,
            "provider_template_id": t.template_id,
            "template_version": shown,
            "agreement_link": t.agreement_link,
        },
    });
    let signer = contact.id.clone();
    let apply = move |a: &Agreement| {
        a.accepted_on_version(signer.clone(), Day::today(), Instant::now(), &shown)
    };
    let accepted = transition(
        store,
        &agreement.id,
        Transition {
            action: HistoryAction::Accepted,
            actor: Actor::of(caller),
            source: AgreementSource::Manual,
            if_match: None,
            details: Some(evidence),
            apply: &apply,
        },
    )
    .await?;
    tracing::info!(agreement_id = %accepted.id, contact_id = %contact.id, "agreement confirmed on the portal");
    // For a Direct CSP partner the acceptance goes on to Partner Center through the queue.
    queue_attestation(store, queue, &accepted).await;
    queue_receipt(emails, &accepted).await;
    Ok(view(accepted, &t, &p))
}

/// The customer declines a pending agreement, with an optional reason: it stays pending with
/// `declined_on`, the history says who and why, and reminders stop.
pub async fn decline_agreement(
    store: &Store,
    caller: &Principal,
    id: &str,
    reason: Option<String>,
) -> ServiceResult<PortalAgreement> {
    let (account_id, contact_id) = customer(caller)?;
    let agreement = own(store, account_id, id).await?;
    find_contact(store, account_id, contact_id)
        .await?
        .ok_or_else(|| {
            ServiceError::Forbidden("the token's contact is not a contact of its account".into())
        })?;
    let t = template(store, &agreement.template_id).await?;
    let p = provider(store, &agreement.provider_id).await?;
    let why = reason.clone();
    let apply = move |a: &Agreement| a.declined(why.as_deref(), Instant::now());
    let declined = transition(
        store,
        &agreement.id,
        Transition {
            action: HistoryAction::Declined,
            actor: Actor::of(caller),
            source: AgreementSource::Manual,
            if_match: None,
            details: Some(serde_json::json!({ "reason": reason, "contact_id": contact_id })),
            apply: &apply,
        },
    )
    .await?;
    tracing::info!(agreement_id = %declined.id, contact_id = %contact_id, "agreement declined on the portal");
    Ok(view(declined, &t, &p))
}
