//! Agreements: create (one open per account and template), read, list, deactivate, history.
//!
//! Every write is a single conditional request on the agreement's own item, with the history
//! event appended to the same item in that request, so no change is ever half made.

use crate::error::{ServiceError, ServiceResult};
use crate::model::{
    Actor, Agreement, AgreementFilter, AgreementSource, AgreementStatus, AgreementTemplate,
    BulkJob, Day, HistoryAction, HistoryEvent, Id, Instant, JobKind, NewAgreement, Principal,
};
use crate::services::accounts::require_account;
use crate::services::templates::require_template;
use crate::services::{check_version, known_id, not_found, PageRequest, OPTIMISTIC_ATTEMPTS};
use crate::store::{Page, Store, StoreError};

/// An account cannot have had more agreements of one template than this, one after the other.
const MAX_GENERATIONS: u32 = 10_000;

/// How a new agreement is to be made, whoever asks for it.
#[derive(Debug, Clone)]
pub struct AgreementRequest {
    pub account_id: Id,
    pub name: Option<String>,
    pub executed_on: Option<Day>,
    pub source: AgreementSource,
    pub actor: Actor,
    /// The bulk job and provider account it is made for, if any.
    pub bulk: Option<(Id, Id)>,
}

/// What became of a request to make an agreement.
#[derive(Debug, Clone, PartialEq)]
pub enum Creation {
    Created(Box<Agreement>),
    /// The account already has an open agreement of the template: this one.
    AlreadyOpen(Box<Agreement>),
    /// The template is inactive.
    TemplateInactive,
}

/// The id of the n-th agreement of a template for an account.
///
/// The one-open-agreement rule lives in these ids: the n-th agreement is only ever written
/// (with `attribute_not_exists`) after the (n-1)-th was seen inactive, and inactive is final, so
/// every writer of an open agreement for the pair races for the same key and one wins.
pub fn slot_id(template: &AgreementTemplate, account_id: &Id, generation: u32) -> Id {
    let created = u64::try_from(template.created_at.unix_millis()).unwrap_or(0);
    Id::derived(
        created,
        format!("agreement/{}/{account_id}/{generation}", template.id).as_bytes(),
    )
}

/// Writes a new pending agreement with its first history event, unless the account has an open
/// agreement of the template. Repeating a request finds the agreement it made.
pub async fn insert_agreement(
    store: &Store,
    template: &AgreementTemplate,
    request: AgreementRequest,
) -> ServiceResult<Creation> {
    if !template.is_open(crate::model::Day::today()) {
        return Ok(Creation::TemplateInactive);
    }
    for generation in 0..MAX_GENERATIONS {
        let mut agreement = Agreement::pending(
            slot_id(template, &request.account_id, generation),
            template,
            request.account_id.clone(),
            request.name.as_deref(),
            request.executed_on,
            request.source,
            Instant::now(),
        )?;
        if let Some((job, pa)) = &request.bulk {
            agreement.bulk_job_id = Some(job.clone());
            agreement.provider_account_id = Some(pa.clone());
        }
        let event = HistoryEvent::of_change(
            None,
            &agreement,
            HistoryAction::Created,
            request.actor.clone(),
            request.source,
        );
        let existing = store.put_agreement_in_slot(&agreement, &[event]).await?;
        match existing {
            None => return Ok(Creation::Created(Box::new(agreement))),
            Some(e) if e.status.is_open() => return Ok(Creation::AlreadyOpen(Box::new(e))),
            Some(_) => continue,
        }
    }
    Err(ServiceError::conflict(
        "this account has had too many agreements of this template",
    ))
}

/// The account's open agreement of the template, if any, found by walking its generations.
pub async fn open_agreement(
    store: &Store,
    template: &AgreementTemplate,
    account_id: &Id,
) -> ServiceResult<Option<Agreement>> {
    for generation in 0..MAX_GENERATIONS {
        let found: Option<Agreement> = store
            .by_id(&slot_id(template, account_id, generation))
            .await?;
        match found {
            None => return Ok(None),
            Some(a) if a.status.is_open() => return Ok(Some(a)),
            Some(_) => continue,
        }
    }
    Ok(None)
}

/// The first free generation of the pair: where the next agreement would be written.
pub async fn free_slot(
    store: &Store,
    template: &AgreementTemplate,
    account_id: &Id,
) -> ServiceResult<Result<Id, Agreement>> {
    for generation in 0..MAX_GENERATIONS {
        let id = slot_id(template, account_id, generation);
        let found: Option<Agreement> = store.by_id(&id).await?;
        match found {
            None => return Ok(Ok(id)),
            Some(a) if a.status.is_open() => return Ok(Err(a)),
            Some(_) => continue,
        }
    }
    Err(ServiceError::conflict(
        "this account has had too many agreements of this template",
    ))
}

pub fn inactive(template: &AgreementTemplate) -> ServiceError {
    let why = template
        .closed_reason(crate::model::Day::today())
        .unwrap_or_else(|| format!("agreement template {} is inactive", template.id));
    ServiceError::conflict(format!(
        "{why}; agreements can only be made from an active template that has not expired"
    ))
}

/// Staff make one agreement by hand.
pub async fn create_agreement(
    store: &Store,
    caller: &Principal,
    input: NewAgreement,
) -> ServiceResult<Agreement> {
    caller.require_staff()?;
    let template = require_template(store, &input.template_id).await?;
    // Accounts are never deleted: one read is enough to know the account exists.
    let account = require_account(store, &input.account_id).await?;
    let request = AgreementRequest {
        account_id: account.id,
        name: input.name,
        executed_on: input.executed_on,
        source: AgreementSource::Manual,
        actor: Actor::of(caller),
        bulk: None,
    };
    match insert_agreement(store, &template, request).await? {
        Creation::Created(a) => {
            tracing::info!(agreement_id = %a.id, "agreement created");
            Ok(*a)
        }
        Creation::AlreadyOpen(existing) => Err(ServiceError::Conflict {
            detail: format!(
                "account {} already has an open agreement of template {}: {}",
                existing.account_id, template.id, existing.id
            ),
            existing_id: Some(existing.id.to_string()),
        }),
        Creation::TemplateInactive => Err(inactive(&template)),
    }
}

pub async fn get_agreement(
    store: &Store,
    caller: &Principal,
    id: &str,
) -> ServiceResult<Agreement> {
    caller.require_staff()?;
    require_agreement(store, id).await
}

pub async fn require_agreement(store: &Store, id: &str) -> ServiceResult<Agreement> {
    let id = known_id(id, "agreement")?;
    load(store, &id).await
}

async fn load(store: &Store, id: &Id) -> ServiceResult<Agreement> {
    let found: Option<Agreement> = store.by_id(id).await?;
    found.ok_or_else(|| not_found("agreement", id))
}

pub async fn list_agreements(
    store: &Store,
    caller: &Principal,
    filter: &AgreementFilter,
    page: &PageRequest,
) -> ServiceResult<Page<Agreement>> {
    caller.require_staff()?;
    Ok(store.agreements(filter, page.spec()).await?)
}

/// A change of an agreement's state, written with its history event under the read version.
pub struct Transition<'a> {
    pub action: HistoryAction,
    pub actor: Actor,
    pub source: AgreementSource,
    pub if_match: Option<u64>,
    pub details: Option<serde_json::Value>,
    /// Computes the next state from the current one, or refuses.
    pub apply: &'a (dyn Fn(&Agreement) -> ServiceResult<Agreement> + Send + Sync),
}

pub async fn transition(store: &Store, id: &Id, t: Transition<'_>) -> ServiceResult<Agreement> {
    for _ in 0..OPTIMISTIC_ATTEMPTS {
        let current = load(store, id).await?;
        check_version(t.if_match, current.version)?;
        let next = (t.apply)(&current)?;
        let mut event =
            HistoryEvent::of_change(Some(&current), &next, t.action, t.actor.clone(), t.source);
        event.details = t.details.clone();
        match store.update_agreement(&next, current.version, &event).await {
            Ok(()) => {
                tracing::info!(agreement_id = %id, status = next.status.as_str(), version = next.version, "agreement changed");
                return Ok(next);
            }
            Err(StoreError::ConditionFailed) if t.if_match.is_some() => {
                return Err(ServiceError::PreconditionFailed(
                    "the agreement changed while this request was applied".into(),
                ))
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::conflict(
        "the agreement is being changed by others; retry",
    ))
}

pub async fn deactivate_agreement(
    store: &Store,
    caller: &Principal,
    id: &str,
    reason: Option<String>,
    if_match: Option<u64>,
) -> ServiceResult<Agreement> {
    caller.require_staff()?;
    let id = known_id(id, "agreement")?;
    let apply = move |a: &Agreement| a.deactivated(reason.clone(), Instant::now());
    transition(
        store,
        &id,
        Transition {
            action: HistoryAction::Deactivated,
            actor: Actor::of(caller),
            source: AgreementSource::Manual,
            if_match,
            details: None,
            apply: &apply,
        },
    )
    .await
}

/// The history, oldest first, paged by position under a sealed cursor.
pub async fn agreement_history(
    store: &Store,
    caller: &Principal,
    id: &str,
    page: &PageRequest,
) -> ServiceResult<Page<HistoryEvent>> {
    caller.require_staff()?;
    let id = known_id(id, "agreement")?;
    store
        .history_page(&id, page.spec())
        .await?
        .ok_or_else(|| not_found("agreement", &id))
}

/// Only for filters given as text by callers.
pub fn parse_status(raw: &str) -> ServiceResult<AgreementStatus> {
    AgreementStatus::parse(raw).ok_or_else(|| {
        ServiceError::Validation("`status` must be `pending`, `accepted` or `inactive`".into())
    })
}

/// What became of one agreement of a job (a provider account's, in a chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobCreation {
    /// This job's agreement (written now, or by an earlier delivery of the same chunk).
    Created(Id),
    Skipped,
    TemplateInactive,
}

/// Creates the agreement of `template` that a job makes for one provider account. An agreement
/// made by an earlier delivery of the same chunk counts as this job's creation, not a skip.
pub async fn create_for_job(
    store: &Store,
    job: &BulkJob,
    template: &AgreementTemplate,
    provider_account_id: &Id,
    account_id: &Id,
) -> ServiceResult<JobCreation> {
    let source = match job.kind {
        JobKind::ProviderSync => AgreementSource::ProviderSync,
        _ => AgreementSource::Bulk,
    };
    let request = AgreementRequest {
        account_id: account_id.clone(),
        name: None,
        executed_on: None,
        source,
        actor: Actor::system(&format!("bulk job {}", job.id)),
        bulk: Some((job.id.clone(), provider_account_id.clone())),
    };
    Ok(match insert_agreement(store, template, request).await? {
        Creation::Created(a) => JobCreation::Created(a.id),
        Creation::AlreadyOpen(a)
            if a.bulk_job_id.as_ref() == Some(&job.id)
                && a.provider_account_id.as_ref() == Some(provider_account_id) =>
        {
            JobCreation::Created(a.id)
        }
        Creation::AlreadyOpen(_) => JobCreation::Skipped,
        Creation::TemplateInactive => JobCreation::TemplateInactive,
    })
}
