//! The provider sync job: a page of an automatic provider's customers per chunk; each customer
//! is linked to its account's provider account, gets a Pending agreement of every Active
//! template of the provider, and — where the provider confirms agreements (Partner Center) —
//! has its Pending agreements accepted from the acceptances the provider holds.

use futures::stream::{self, StreamExt};

use super::runner::{
    queue_job, with_retries, Chunk, ChunkWork, JobError, JobSettings, FAILURES_PER_CHUNK,
};
use crate::connectors::{
    confirms_agreements, AgreementContact, ProviderAgreement, ProviderConnector, ProviderCustomer,
};
use crate::error::{ServiceError, ServiceResult};
use crate::model::provider_account::specific_id;
use crate::model::{
    validate, Actor, Agreement, AgreementSource, AgreementStatus, AgreementTemplate, BulkJob,
    Contact, Day, HistoryAction, Instant, ItemFailure, JobKind, JobStatus, NewContact,
    NewProviderAccount, Principal, Provider, ProviderAccount, ProviderKind, UnmatchedCustomer,
};
use crate::queue::BulkQueue;
use crate::services::agreements::{
    create_for_job, open_agreement, transition, JobCreation, Transition,
};
use crate::services::providers::require_provider;
use crate::store::{ChunkCounts, ChunkEnd, Store, StoreError};

/// Unmatched customers a chunk records on the job (all are counted in `failed`).
const UNMATCHED_PER_CHUNK: usize = 50;

/// Queues a sync of an automatic provider; answers at once.
pub async fn start_provider_sync(
    store: &Store,
    queue: &BulkQueue,
    requested_by: &str,
    provider_id: &str,
    can_sync: &(dyn Fn(&Provider) -> bool + Sync),
) -> ServiceResult<BulkJob> {
    let provider = require_provider(store, provider_id).await?;
    if provider.kind != ProviderKind::Automatic {
        return Err(ServiceError::conflict(format!(
            "provider {} is manual; only automatic providers sync",
            provider.id
        )));
    }
    if !can_sync(&provider) {
        return Err(ServiceError::conflict(format!(
            "provider {} has no connection configured for its platform `{}`; \
             configure the platform's credentials before syncing",
            provider.id, provider.platform
        )));
    }
    let job = BulkJob::queued(
        JobKind::ProviderSync,
        None,
        provider.id.clone(),
        requested_by.to_string(),
        Instant::now(),
    );
    queue_job(store, queue, &job).await?;
    tracing::info!(job_id = %job.id, provider_id = %provider.id, "provider sync queued");
    Ok(job)
}

/// Staff ask for a sync now.
pub async fn request_provider_sync(
    store: &Store,
    queue: &BulkQueue,
    caller: &Principal,
    provider_id: &str,
    can_sync: &(dyn Fn(&Provider) -> bool + Sync),
) -> ServiceResult<BulkJob> {
    caller.require_staff()?;
    start_provider_sync(store, queue, caller.subject(), provider_id, can_sync).await
}

/// The schedule: a sync job for every automatic provider that has a connection; the others are
/// logged and left alone.
pub async fn sync_all_providers(
    store: &Store,
    queue: &BulkQueue,
    can_sync: &(dyn Fn(&Provider) -> bool + Sync),
) -> ServiceResult<Vec<BulkJob>> {
    let providers = store.all_providers().await?;
    let mut jobs = Vec::new();
    for p in providers
        .iter()
        .filter(|p| p.kind == ProviderKind::Automatic)
    {
        if !can_sync(p) {
            tracing::warn!(provider_id = %p.id, platform = %p.platform, "no connection configured; not synced");
            continue;
        }
        jobs.push(start_provider_sync(store, queue, "schedule", p.id.as_str(), can_sync).await?);
    }
    Ok(jobs)
}

/// The chunks of a provider sync: a page of the provider's customers each.
pub struct ProviderSync<'a, C> {
    pub store: &'a Store,
    pub connector: &'a C,
    pub settings: JobSettings,
}

impl<C: ProviderConnector> ChunkWork for ProviderSync<'_, C> {
    const KIND: JobKind = JobKind::ProviderSync;

    async fn chunk(&self, job: &BulkJob, cursor: &str) -> Result<Chunk, JobError> {
        let (store, connector) = (self.store, self.connector);
        let provider: Provider = store.by_id(&job.provider_id).await?.ok_or_else(|| {
            JobError::Poison(format!("provider {} does not exist", job.provider_id))
        })?;
        if job.status == JobStatus::Queued {
            store.start_job(&job.id, 0, Instant::now()).await?;
        }
        if !connector.serves(&provider) {
            // No retry can help: the job ends now, saying why.
            return Ok(Chunk::ended(
                ChunkCounts::default(),
                ChunkEnd::Fail(format!(
                    "the worker has no connection for platform `{}`",
                    provider.platform
                )),
            ));
        }
        let page = connector
            .customers((!cursor.is_empty()).then_some(cursor))
            .await?;
        let templates: Vec<AgreementTemplate> = store
            .templates_of_provider(&provider.id)
            .await?
            .into_iter()
            .filter(|t| t.is_open(crate::model::Day::today()))
            .collect();
        let direct = confirms_agreements(&provider);
        let attempts = self.settings.item_attempts;
        let results: Vec<(&ProviderCustomer, Result<CustomerOutcome, String>)> =
            stream::iter(page.customers.iter())
                .map(|customer| {
                    let (provider, templates) = (&provider, &templates);
                    async move {
                        let synced = with_retries(attempts, || {
                            sync_customer(
                                store, connector, job, provider, templates, direct, customer,
                            )
                        })
                        .await;
                        (customer, synced)
                    }
                })
                .buffer_unordered(self.settings.concurrency.max(1))
                .collect()
                .await;
        let mut counts = ChunkCounts::default();
        let mut unmatched = Vec::new();
        let mut failures = Vec::new();
        for (customer, r) in results {
            let r = match r {
                Ok(r) => r,
                Err(reason) => {
                    counts.failed += 1;
                    if failures.len() < FAILURES_PER_CHUNK {
                        failures.push(ItemFailure {
                            item: format!("customer {}", customer.id),
                            reason,
                        });
                    }
                    continue;
                }
            };
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
            failures,
        })
    }
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
) -> Result<CustomerOutcome, JobError> {
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
        match create_for_job(store, job, t, &pa.id, &pa.account_id).await? {
            JobCreation::Created(_) => outcome.created += 1,
            JobCreation::Skipped | JobCreation::TemplateInactive => outcome.skipped += 1,
        }
    }
    if direct && !templates.is_empty() {
        let held = connector.customer_agreements(&customer.id).await?;
        for t in templates {
            let found = held
                .iter()
                .find(|a| a.template_id.eq_ignore_ascii_case(&t.template_id))
                .cloned();
            let pulled = match found {
                Some(pc) => Some(pc),
                // Signed by the customer directly with the provider (for Partner Center: the
                // MCA in the Microsoft admin center): the provider names no signer, so the
                // account's primary contact is recorded as the signer.
                None => match connector
                    .direct_acceptance(&customer.id, &t.template_id)
                    .await?
                {
                    Some(direct) => signed_by_primary_contact(store, &pa, direct).await?,
                    None => None,
                },
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

/// A direct acceptance as the account's record: signed by its primary contact (None when the
/// account has no contact to name).
async fn signed_by_primary_contact(
    store: &Store,
    pa: &ProviderAccount,
    mut direct: ProviderAgreement,
) -> Result<Option<ProviderAgreement>, JobError> {
    let Some(primary) = store.primary_contact(&pa.account_id).await? else {
        return Ok(None);
    };
    direct.primary_contact = Some(AgreementContact::from(&primary));
    Ok(Some(direct))
}

/// The customer's provider account: found by its id, or made for the one account whose e-mail
/// domain is the customer's. Err(reason) when no single account matches.
async fn link(
    store: &Store,
    provider: &Provider,
    customer: &ProviderCustomer,
) -> Result<Result<ProviderAccount, String>, JobError> {
    let Ok(tenant) = specific_id(&customer.id) else {
        return Ok(Err("the provider's customer id is not usable".into()));
    };
    if let Some(pa) = store.provider_account(&provider.id, &tenant).await? {
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
    let pa = ProviderAccount::create(provider.id.clone(), account, &input, Instant::now())?;
    match store.create_provider_account(&pa).await {
        Ok(()) => Ok(Ok(pa)),
        // Linked concurrently by another delivery: use what is there.
        Err(StoreError::ConditionFailed) => Ok(store
            .provider_account(&provider.id, &tenant)
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
) -> Result<bool, JobError> {
    let Some(open) = open_agreement(store, template, &pa.account_id).await? else {
        return Ok(false);
    };
    if open.status != AgreementStatus::Pending {
        return Ok(false);
    }
    let Some(primary) = &held.primary_contact else {
        return Ok(false);
    };
    let contacts = store.all_contacts(&pa.account_id).await?;
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
