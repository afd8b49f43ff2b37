//! Agreement templates: create, read, list, change, activate and deactivate.

use crate::error::{ServiceError, ServiceResult};
use crate::model::{
    AgreementTemplate, Id, Instant, NewTemplate, Principal, TemplatePatch, TemplateState,
};
use crate::services::providers::require_provider;
use crate::services::{change_versioned, filter_id, known_id, not_found, PageRequest};
use crate::store::{Page, Store};

pub async fn create_template(
    store: &Store,
    caller: &Principal,
    input: NewTemplate,
) -> ServiceResult<AgreementTemplate> {
    caller.require_staff()?;
    // Providers are never deleted: one read is enough to know the template's provider exists.
    let provider = require_provider(store, &input.provider_id).await?;
    let template = AgreementTemplate::create(input, provider.id, Instant::now())?;
    store.create(&template).await?;
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
    change(store, id, if_match, |t| {
        t.patched(patch.clone(), Instant::now())
    })
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
