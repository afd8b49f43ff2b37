//! Agreement templates: create, read, list, change, activate and deactivate.

use crate::error::{ServiceError, ServiceResult};
use crate::model::{
    AgreementTemplate, BulkJob, Day, Id, Instant, JobKind, NewTemplate, NewTemplateVersion,
    Principal, TemplatePatch, TemplateState, TemplateVersion,
};
use crate::queue::{BulkQueue, JobMessage};
use crate::services::providers::require_provider;
use crate::services::{
    change_versioned, check_version, filter_id, known_id, not_found, PageRequest,
    OPTIMISTIC_ATTEMPTS,
};
use crate::store::{Page, Store, StoreError};

pub async fn create_template(
    store: &Store,
    caller: &Principal,
    input: NewTemplate,
) -> ServiceResult<AgreementTemplate> {
    caller.require_staff()?;
    // Providers are never deleted: one read is enough to know the template's provider exists.
    let provider = require_provider(store, &input.provider_id).await?;
    let template = AgreementTemplate::create(input, provider.id, Instant::now())?;
    store
        .create_template(&template, &template.first_version())
        .await?;
    tracing::info!(template_id = %template.id, "agreement template created");
    Ok(template)
}

pub async fn get_template(
    store: &Store,
    caller: &Principal,
    id: &str,
) -> ServiceResult<AgreementTemplate> {
    caller.require_staff()?;
    require_template(store, id).await
}

/// Loads a template named by a caller; a missing one is a 404.
pub async fn require_template(store: &Store, id: &str) -> ServiceResult<AgreementTemplate> {
    let id = known_id(id, "agreement template")?;
    load(store, &id).await
}

async fn load(store: &Store, id: &Id) -> ServiceResult<AgreementTemplate> {
    let found: Option<AgreementTemplate> = store.by_id(id).await?;
    found.ok_or_else(|| not_found("agreement template", id))
}

#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    pub provider_id: Option<String>,
    pub state: Option<String>,
}

pub async fn list_templates(
    store: &Store,
    caller: &Principal,
    filter: &TemplateFilter,
    page: &PageRequest,
) -> ServiceResult<Page<AgreementTemplate>> {
    caller.require_staff()?;
    let provider_id = filter_id(filter.provider_id.as_deref(), "provider_id")?;
    let state = filter
        .state
        .as_deref()
        .map(|state| {
            TemplateState::parse(state).ok_or_else(|| {
                ServiceError::Validation("`state` must be `active` or `inactive`".into())
            })
        })
        .transpose()?;
    Ok(store
        .templates(provider_id.as_ref(), state, page.spec())
        .await?)
}

pub async fn update_template(
    store: &Store,
    caller: &Principal,
    id: &str,
    patch: TemplatePatch,
    if_match: Option<u64>,
) -> ServiceResult<AgreementTemplate> {
    caller.require_staff()?;
    let id = known_id(id, "agreement template")?;
    let publisher = caller.subject().to_string();
    change_versioned(
        "template",
        if_match,
        || load(store, &id),
        |t| {
            let mut next = t.patched(patch.clone(), Instant::now())?;
            if next.document_version != t.document_version {
                // What changed in the earlier version does not describe this one.
                next.change_summary = None;
            }
            Ok(next)
        },
        |current, next| {
            let publisher = publisher.clone();
            async move {
                if next.document_version == current.document_version {
                    store.replace(&next, current.version).await?;
                } else {
                    // A document version set by PATCH is recorded as published, so the versions
                    // list stays whole (without re-acceptance: that is POST …/versions).
                    let version = TemplateVersion {
                        id: Id::generate(),
                        template_id: next.id.clone(),
                        document_version: next.document_version.clone(),
                        agreement_link: next.agreement_link.clone(),
                        effective_date: next.effective_date,
                        change_summary: None,
                        requires_reacceptance: false,
                        job_id: None,
                        published_by: publisher,
                        published_at: next.updated_at,
                    };
                    store
                        .publish_template_version(&next, current.version, &version, None)
                        .await?;
                }
                Ok(next)
            }
        },
    )
    .await
}

pub async fn set_template_state(
    store: &Store,
    caller: &Principal,
    id: &str,
    state: TemplateState,
    if_match: Option<u64>,
) -> ServiceResult<AgreementTemplate> {
    caller.require_staff()?;
    change(store, id, if_match, |t| {
        if state == TemplateState::Active && t.is_expired(Day::today()) {
            return Err(ServiceError::conflict(format!(
                "agreement template {} expired; change its expires_on before activating it",
                t.id
            )));
        }
        if t.state == state {
            return Err(ServiceError::conflict(format!(
                "agreement template {} is already {}",
                t.id,
                state.as_str()
            )));
        }
        let mut next = t.clone();
        next.state = state;
        next.updated_at = Instant::now();
        next.version += 1;
        Ok(next)
    })
    .await
}

/// Read, apply, write back under the read version (`change_versioned`).
async fn change(
    store: &Store,
    id: &str,
    if_match: Option<u64>,
    apply: impl Fn(&AgreementTemplate) -> ServiceResult<AgreementTemplate>,
) -> ServiceResult<AgreementTemplate> {
    let id = known_id(id, "agreement template")?;
    change_versioned(
        "template",
        if_match,
        || load(store, &id),
        apply,
        |current, next| async move {
            store.replace(&next, current.version).await?;
            Ok(next)
        },
    )
    .await
}

/// A newly published version: the template on it, and the re-acceptance job if one was asked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Published {
    pub template: AgreementTemplate,
    pub job_id: Option<Id>,
}

/// `POST /agreement-templates/{id}/versions`: the template moves to a new document version,
/// the version is recorded, and with `requires_reacceptance` a job asks every accepted
/// agreement of the template to accept it — all in one transaction, so no version is published
/// without its job. The job's first message follows; if it cannot be sent, the job sweep sends
/// it (the job is written as queued).
pub async fn publish_version(
    store: &Store,
    queue: &BulkQueue,
    caller: &Principal,
    id: &str,
    input: NewTemplateVersion,
    if_match: Option<u64>,
) -> ServiceResult<Published> {
    caller.require_staff()?;
    let id = known_id(id, "agreement template")?;
    for _ in 0..OPTIMISTIC_ATTEMPTS {
        let current = load(store, &id).await?;
        check_version(if_match, current.version)?;
        let now = Instant::now();
        let mut job = input.requires_reacceptance.then(|| {
            BulkJob::queued(
                JobKind::RequestReacceptance,
                Some(current.id.clone()),
                current.provider_id.clone(),
                caller.subject().to_string(),
                now,
            )
        });
        let (next, version) = current.published(
            input.clone(),
            caller.subject(),
            job.as_ref().map(|j| j.id.clone()),
            now,
        )?;
        if let Some(job) = job.as_mut() {
            job.document_version = Some(next.document_version.clone());
            job.notify = input.notify;
        }
        match store
            .publish_template_version(&next, current.version, &version, job.as_ref())
            .await
        {
            Ok(()) => {
                tracing::info!(template_id = %id, document_version = %next.document_version, reacceptance = job.is_some(), "template version published");
                if let Some(job) = &job {
                    if let Err(e) = queue.send(&JobMessage::chunk_of(job, None)).await {
                        tracing::error!(job_id = %job.id, error = %crate::error::Chain(&e), "re-acceptance job not sent; the job sweep sends it");
                    }
                }
                return Ok(Published {
                    template: next,
                    job_id: job.map(|j| j.id),
                });
            }
            Err(StoreError::ConditionFailed) if if_match.is_none() => continue,
            Err(StoreError::ConditionFailed) => {
                return Err(ServiceError::PreconditionFailed(
                    "the template changed while this request was applied".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::conflict(
        "the template is being changed by others; retry",
    ))
}

/// `GET /agreement-templates/{id}/versions`: the published versions, oldest first.
pub async fn list_versions(
    store: &Store,
    caller: &Principal,
    id: &str,
    page: &PageRequest,
) -> ServiceResult<Page<TemplateVersion>> {
    caller.require_staff()?;
    let template = require_template(store, id).await?;
    Ok(store.template_versions(&template.id, page.spec()).await?)
}

/// What a daily expiry run did: each template it ended, with the job ending its pending
/// agreements.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExpiryRun {
    pub today: String,
    pub expired: Vec<ExpiredTemplate>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExpiredTemplate {
    pub template_id: Id,
    pub job_id: Id,
}

/// The daily expiry run: every template past its `expires_on` that the schedule has not ended
/// yet is made inactive and gets a job that ends its pending agreements (inactive,
/// `template_expired`); accepted agreements stay accepted. The template's write and its job's
/// are one transaction under the template's version, so two runs end a template once.
pub async fn expire_templates(
    store: &Store,
    queue: &BulkQueue,
    today: Day,
) -> ServiceResult<ExpiryRun> {
    let mut run = ExpiryRun {
        today: today.to_string(),
        expired: Vec::new(),
    };
    for template in store.all_templates().await? {
        let now = Instant::now();
        let Some(next) = template.ended_by_expiry(today, now) else {
            continue;
        };
        let job = BulkJob::queued(
            JobKind::ExpireAgreements,
            Some(template.id.clone()),
            template.provider_id.clone(),
            "system:expiry".into(),
            now,
        );
        match store.expire_template(&next, template.version, &job).await {
            Ok(()) => {}
            // Changed since it was read (another run, or staff): the next run looks again.
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
        tracing::info!(template_id = %template.id, job_id = %job.id, "template expired");
        if let Err(e) = queue.send(&JobMessage::chunk_of(&job, None)).await {
            tracing::error!(job_id = %job.id, error = %crate::error::Chain(&e), "expiry job not sent; the job sweep sends it");
        }
        run.expired.push(ExpiredTemplate {
            template_id: template.id,
            job_id: job.id,
        });
    }
    Ok(run)
}
