//! Automatic providers: the provider sync job (customers → provider accounts → Pending
//! agreements of every Active template; for Partner Center also the acceptances it holds), and
//! the push of a customer's acceptance to Partner Center. Both run on the bulk queue's worker
//! and reuse the bulk job's chunk pointer for exactly-once counting.

use futures::stream::{self, StreamExt};

use crate::connectors::{
    Attestation, ConnectorError, ProviderAgreement, ProviderConnector, ProviderCustomer,
};
use crate::error::{ServiceError, ServiceResult};
use crate::model::provider_account::specific_id;
use crate::model::{
    validate, Actor, Agreement, AgreementSource, AgreementStatus, AgreementTemplate, BulkJob,
    Contact, Day, HistoryAction, HistoryEvent, Instant, JobKind, JobStatus, NewContact,
    NewProviderAccount, Principal, Provider, ProviderAccount, ProviderKind, TemplateState,
    UnmatchedCustomer,
};
use crate::queue::{AttestMessage, BulkMessage, BulkQueue};
use crate::services::accounts::find_contact;
use crate::services::agreements::{
    open_agreement, require_agreement, transition, Transition, HISTORY,
};
use crate::services::bulk::{create_one, BulkSettings, Chunk, ChunkError, Outcome};
use crate::services::providers::require_provider;
use crate::services::provisioning::{contact_of, is_direct_partner_center, CUSTOMER_AGREEMENT};
use crate::store::{keys, ChunkCounts, ChunkEnd, Store, StoreError};

/// Unmatched customers a chunk records on the job (all are counted in `failed`).
const UNMATCHED_PER_CHUNK: usize = 50;

/// Queues a sync of an automatic provider; answers at once.
pub async fn start_provider_sync(
    store: &Store,
    queue: &BulkQueue,
    requested_by: &str,
    provider_id: &str,
) -> ServiceResult<BulkJob> {
    let provider = require_provider(store, provider_id).await?;
    if provider.kind != ProviderKind::Automatic {
        return Err(ServiceError::conflict(format!(
            "provider {} is manual; only automatic providers sync",
            provider.id
        )));
    }
    let job = BulkJob::queued(
        JobKind::ProviderSync,
        None,
        provider.id.clone(),
        requested_by.to_string(),
        Instant::now(),
    );
    store.create(&job).await?;
    if let Err(e) = queue
        .send(&BulkMessage::sync_provider(
            job.id.as_str(),
            provider.id.as_str(),
            None,
        ))
        .await
    {
        store
            .fail_job(&job.id, "the job could not be queued", Instant::now())
            .await?;
        return Err(ServiceError::internal(e));
    }
    tracing::info!(job_id = %job.id, provider_id = %provider.id, "provider sync queued");
    Ok(job)
}

/// Staff ask for a sync now.
pub async fn request_provider_sync(
    store: &Store,
    queue: &BulkQueue,
    caller: &Principal,
    provider_id: &str,
) -> ServiceResult<BulkJob> {
    caller.require_staff()?;
    start_provider_sync(store, queue, caller.subject(), provider_id).await
}

/// The schedule: a sync job for every automatic provider.
pub async fn sync_all_providers(store: &Store, queue: &BulkQueue) -> ServiceResult<Vec<BulkJob>> {
    let providers: Vec<Provider> = store
        .query_index_all("GSI1", keys::ALL_PROVIDERS, keys::PROVIDER_PREFIX, 10_000)
        .await?;
    let mut jobs = Vec::new();
    for p in providers
        .iter()
        .filter(|p| p.kind == ProviderKind::Automatic)
    {
        jobs.push(start_provider_sync(store, queue, "schedule", p.id.as_str()).await?);
    }
    Ok(jobs)
}

fn transient(e: ConnectorError) -> ChunkError {
    ChunkError::Retry(e.to_string())
}

/// One page of the provider's customers.
pub(crate) async fn sync_chunk<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    settings: BulkSettings,
    job: &BulkJob,
    cursor: &str,
) -> Result<Chunk, ChunkError> {
    let provider: Provider = store
        .get_entity(keys::provider, &job.provider_id)
        .await?
        .ok_or_else(|| {
            ChunkError::Poison(format!("provider {} does not exist", job.provider_id))
        })?;
    if job.status == JobStatus::Queued {
        store.start_job(&job.id, 0, Instant::now()).await?;
    }
    let page = connector
        .customers((!cursor.is_empty()).then_some(cursor))
        .await
        .map_err(transient)?;
    let templates: Vec<AgreementTemplate> = store
        .query_index_all::<AgreementTemplate>(
            "GSI2",
            &keys::provider(&provider.id),
            keys::TEMPLATE_PREFIX,
            1000,
        )
        .await?
        .into_iter()
        .filter(|t| t.state == TemplateState::Active)
        .collect();
    let direct = is_direct_partner_center(&provider);
    let results: Vec<Result<CustomerOutcome, ChunkError>> = stream::iter(page.customers.iter())
        .map(|customer| {
            sync_customer(
                store, connector, job, &provider, &templates, direct, customer,
            )
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    let mut counts = ChunkCounts::default();
    let mut unmatched = Vec::new();
    for r in results {
        let r = r?;
        counts.created += r.created;
        counts.skipped += r.skipped;
        counts.accepted += r.accepted;
        if let Some(u) = r.unmatched {
            counts.failed += 1;
            if unmatched.len() < UNMATCHED_PER_CHUNK {
                unmatched.push(u);
            }
        }
    }
    let end = match page.continuation {
        Some(next) => ChunkEnd::Continue(next),
        None => ChunkEnd::Complete,
    };
    Ok(Chunk {
        counts,
        end,
        unmatched,
    })
}

#[derive(Default)]
struct CustomerOutcome {
    created: u64,
    skipped: u64,
    accepted: u64,
    unmatched: Option<UnmatchedCustomer>,
}

async fn sync_customer<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    job: &BulkJob,
    provider: &Provider,
    templates: &[AgreementTemplate],
    direct: bool,
    customer: &ProviderCustomer,
) -> Result<CustomerOutcome, ChunkError> {
    let mut outcome = CustomerOutcome::default();
    let pa = match link(store, provider, customer).await? {
        Ok(pa) => pa,
        Err(reason) => {
            outcome.unmatched = Some(UnmatchedCustomer {
                customer_id: customer.id.clone(),
                name: customer.company_name.clone(),
                domain: customer.domain.clone(),
                reason,
            });
            return Ok(outcome);
        }
    };
    for t in templates {
        match create_one(store, job, t, &pa.id, &pa.account_id).await? {
            Outcome::Created => outcome.created += 1,
            Outcome::Skipped | Outcome::TemplateInactive => outcome.skipped += 1,
        }
    }
    if direct && !templates.is_empty() {
        let held = connector
            .customer_agreements(&customer.id)
            .await
            .map_err(transient)?;
        let mut direct_signed = None;
        for t in templates {
            let found = held
                .iter()
                .find(|a| a.template_id.eq_ignore_ascii_case(&t.template_id))
                .cloned();
            let pulled = match found {
                Some(pc) => Some(pc),
                // Signed by the customer in the Microsoft admin center: no partner attestation
                // to read, so the account's primary contact is recorded as the signer.
                None if t.template_id.eq_ignore_ascii_case(MCA_TEMPLATE_ID) => {
                    if direct_signed.is_none() {
                        direct_signed = Some(
                            connector
                                .direct_signed(&customer.id)
                                .await
                                .map_err(transient)?,
                        );
                    }
                    match direct_signed {
                        Some(true) => direct_signature(store, &pa).await?,
                        _ => None,
                    }
                }
                None => None,
            };
            if let Some(pc) = pulled {
                if accept_from_provider(store, t, &pa, &pc).await? {
                    outcome.accepted += 1;
                }
            }
        }
    }
    Ok(outcome)
}

/// The Microsoft Customer Agreement's templateId in Partner Center (docs/partner-center.md).
pub const MCA_TEMPLATE_ID: &str = "117a77b0-9360-443b-8795-c6dedc750cf9";

/// A direct signature as an acceptance record: today, by the account's primary contact.
async fn direct_signature(
    store: &Store,
    pa: &ProviderAccount,
) -> Result<Option<ProviderAgreement>, ChunkError> {
    let contacts: Vec<Contact> = store
        .query_all(&keys::account(&pa.account_id), keys::CONTACT_PREFIX, 1)
        .await?;
    Ok(contacts.first().map(|c| ProviderAgreement {
        template_id: MCA_TEMPLATE_ID.into(),
        agreement_type: "MicrosoftCustomerAgreement (signed directly)".into(),
        date_agreed: format!("{}T00:00:00Z", Day::today()),
        primary_contact: Some(contact_of(c)),
    }))
}

/// The customer's provider account: found by its id, or made for the one account whose e-mail
/// domain is the customer's. Err(reason) when no single account matches.
async fn link(
    store: &Store,
    provider: &Provider,
    customer: &ProviderCustomer,
) -> Result<Result<ProviderAccount, String>, ChunkError> {
    let Ok(tenant) = specific_id(&customer.id) else {
        return Ok(Err("the provider's customer id is not usable".into()));
    };
    let pk = keys::provider(&provider.id);
    let sk = keys::provider_account_sk(&tenant);
    if let Some(pa) = store.get::<ProviderAccount>(&pk, &sk).await? {
        return Ok(Ok(pa));
    }
    let Some(domain) = customer
        .domain
        .as_deref()
        .and_then(|d| validate::domain("domain", d).ok())
    else {
        return Ok(Err(
            "the customer has no domain to match an account by".into()
        ));
    };
    let matches = store.accounts_by_domain(&domain, 2).await?;
    let account = match matches.as_slice() {
        [one] => one.clone(),
        [] => return Ok(Err(format!("no account has the e-mail domain `{domain}`"))),
        _ => {
            return Ok(Err(format!(
                "several accounts have the e-mail domain `{domain}`"
            )))
        }
    };
    let input = NewProviderAccount {
        provider_id: provider.id.to_string(),
        provider_specific_id: tenant.clone(),
        name: if customer.company_name.trim().is_empty() {
            domain.clone()
        } else {
            customer.company_name.clone()
        },
        ..NewProviderAccount::default()
    };
    let pa = ProviderAccount::create(provider.id.clone(), account, &input, Instant::now())
        .map_err(|e| ChunkError::Retry(e.to_string()))?;
    match store.create(&pa).await {
        Ok(()) => {
            store.add_provider_accounts(&provider.id, 1).await?;
            Ok(Ok(pa))
        }
        // Linked concurrently by another delivery: use what is there.
        Err(StoreError::ConditionFailed) => Ok(store
            .get::<ProviderAccount>(&pk, &sk)
            .await?
            .ok_or_else(|| "the provider account vanished".to_string())),
        Err(e) => Err(e.into()),
    }
}

/// A Pending agreement of `template` for the account becomes Accepted from the provider's
/// record: signed by the contact of that e-mail (made from the provider's contact if the
/// account has none), on the provider's date. true when it changed.
async fn accept_from_provider(
    store: &Store,
    template: &AgreementTemplate,
    pa: &ProviderAccount,
    held: &ProviderAgreement,
) -> Result<bool, ChunkError> {
    let Some(open) = open_agreement(store, template, &pa.account_id).await? else {
        return Ok(false);
    };
    if open.status != AgreementStatus::Pending {
        return Ok(false);
    }
    let Some(primary) = &held.primary_contact else {
        return Ok(false);
    };
    let contacts: Vec<Contact> = store
        .query_all(&keys::account(&pa.account_id), keys::CONTACT_PREFIX, 1000)
        .await?;
    let contact = match contacts
        .into_iter()
        .find(|c| c.email.eq_ignore_ascii_case(&primary.email))
    {
        Some(c) => c,
        None => {
            let made = Contact::create(
                pa.account_id.clone(),
                NewContact {
                    first_name: primary.first_name.clone(),
                    last_name: primary.last_name.clone(),
                    email: primary.email.clone(),
                    phone: primary.phone_number.clone(),
                },
                Instant::now(),
            );
            match made {
                Ok(c) => {
                    store.create(&c).await?;
                    c
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the provider's contact cannot be recorded");
                    return Ok(false);
                }
            }
        }
    };
    let signed_on = held
        .date_agreed
        .get(..10)
        .and_then(Day::parse)
        .unwrap_or_else(Day::today);
    let details = serde_json::json!({"partner_center": {
        "customer_id": pa.provider_specific_id,
        "template_id": held.template_id,
        "type": held.agreement_type,
        "date_agreed": held.date_agreed,
        "primary_contact_email": primary.email,
    }});
    let signer = contact.id.clone();
    let apply = move |a: &Agreement| a.accepted(signer.clone(), signed_on, Instant::now());
    match transition(
        store,
        &open.id,
        Transition {
            action: HistoryAction::Accepted,
            actor: Actor::system("partner center sync"),
            source: AgreementSource::PartnerCenter,
            if_match: None,
            details: Some(details),
            apply: &apply,
        },
    )
    .await
    {
        Ok(_) => Ok(true),
        // Accepted or deactivated meanwhile: nothing to pull.
        Err(ServiceError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// After an acceptance: queue its attestation when the agreement's provider syncs agreements.
/// A failure to queue is logged and leaves the acceptance as it is.
pub async fn queue_attestation(store: &Store, queue: Option<&BulkQueue>, agreement: &Agreement) {
    let provider: Result<Option<Provider>, StoreError> = store
        .get_entity(keys::provider, &agreement.provider_id)
        .await;
    match provider {
        Ok(Some(p)) if is_direct_partner_center(&p) => {}
        Ok(_) => return,
        Err(e) => {
            tracing::error!(agreement_id = %agreement.id, error = %e, "cannot tell whether to attest");
            return;
        }
    }
    let Some(queue) = queue else {
        tracing::error!(agreement_id = %agreement.id, "no queue configured to attest the acceptance");
        return;
    };
    if let Err(e) = queue.send(&AttestMessage::new(agreement.id.as_str())).await {
        tracing::error!(agreement_id = %agreement.id, error = %e, "the attestation could not be queued");
    }
}

async fn note(
    store: &Store,
    agreement: &Agreement,
    action: HistoryAction,
    details: serde_json::Value,
) -> Result<(), ChunkError> {
    let event = HistoryEvent::note(
        agreement,
        action,
        Actor::system("partner center push"),
        AgreementSource::PartnerCenter,
        details,
    );
    store
        .append_to_list(&keys::agreement(&agreement.id), keys::META, HISTORY, &event)
        .await?;
    Ok(())
}

/// Attests an accepted agreement to Partner Center. Done once: a later delivery finds the
/// `attested` event and stops. A refusal is recorded on the agreement's history for staff.
pub async fn attest_agreement<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    message: &AttestMessage,
) -> Result<(), ChunkError> {
    let agreement = match require_agreement(store, &message.agreement_id).await {
        Ok(a) => a,
        Err(ServiceError::NotFound(d)) => return Err(ChunkError::Poison(d)),
        Err(e) => return Err(e.into()),
    };
    if agreement.status != AgreementStatus::Accepted {
        tracing::info!(agreement_id = %agreement.id, "not accepted (any more): nothing to attest");
        return Ok(());
    }
    let history: Vec<HistoryEvent> = store
        .get_list(&keys::agreement(&agreement.id), keys::META, HISTORY)
        .await?
        .unwrap_or_default();
    if history.iter().any(|e| e.action == HistoryAction::Attested) {
        return Ok(());
    }
    let template: AgreementTemplate = store
        .get_entity(keys::template, &agreement.template_id)
        .await?
        .ok_or_else(|| {
            ChunkError::Poison(format!("template {} is missing", agreement.template_id))
        })?;
    let links: Vec<ProviderAccount> = store
        .query_index_all(
            "GSI1",
            &keys::account(&agreement.account_id),
            &format!(
                "{}{}#",
                keys::PROVIDER_ACCOUNT_PREFIX,
                agreement.provider_id
            ),
            1,
        )
        .await?;
    let contact = match &agreement.signed_by {
        Some(c) => find_contact(store, &agreement.account_id, c).await?,
        None => None,
    };
    let (Some(pa), Some(contact)) = (links.first(), contact) else {
        note(
            store,
            &agreement,
            HistoryAction::AttestationFailed,
            serde_json::json!({"reason": "the account has no Partner Center tenant id or the signer is not a contact of the account"}),
        )
        .await?;
        return Ok(());
    };
    let attestation = Attestation {
        customer_id: pa.provider_specific_id.clone(),
        template_id: template.template_id.clone(),
        agreement_type: CUSTOMER_AGREEMENT.into(),
        date_agreed: agreement
            .signed_on
            .map(|d| d.to_string())
            .unwrap_or_else(|| Day::today().to_string()),
        primary_contact: contact_of(&contact),
    };
    match connector.attest(&attestation).await {
        Ok(confirmed) => {
            note(
                store,
                &agreement,
                HistoryAction::Attested,
                serde_json::json!({"partner_center": {"customer_id": attestation.customer_id,
                    "template_id": confirmed.template_id, "date_agreed": confirmed.date_agreed}}),
            )
            .await?;
            tracing::info!(agreement_id = %agreement.id, "acceptance attested to Partner Center");
            Ok(())
        }
        Err(e @ ConnectorError::Transient { .. }) => Err(transient(e)),
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
