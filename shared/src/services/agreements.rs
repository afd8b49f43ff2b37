//! Agreements: create (one open per account and template), read, list, deactivate, history.

use crate::error::{ServiceError, ServiceResult};
use crate::model::{
    Actor, Agreement, AgreementFilter, AgreementSource, AgreementStatus, AgreementTemplate, Day,
    HistoryAction, HistoryEvent, Id, Instant, NewAgreement, Principal,
};
use crate::services::accounts::{failed, require_account};
use crate::services::templates::require_template;
use crate::services::{check_version, known_id, not_found, PageRequest, OPTIMISTIC_ATTEMPTS};
use crate::store::records::OpenAgreementGuard;
use crate::store::{keys, to_item, Keys, ListQuery, Page, Record, Store, StoreError, WriteAction};

/// How a new agreement is to be made, whoever asks for it.
#[derive(Debug, Clone)]
pub struct AgreementRequest {
    pub id: Id,
    pub account_id: Id,
    pub name: Option<String>,
    pub executed_on: Option<Day>,
    pub source: AgreementSource,
    pub actor: Actor,
}

/// What became of a request to make an agreement.
#[derive(Debug, Clone, PartialEq)]
pub enum Creation {
    Created(Agreement),
    /// The account already has an open agreement of the template: this one.
    AlreadyOpen(Id),
}

/// The write of a new pending agreement, all or nothing: the agreement, the guard that makes it
/// the account's one open agreement of the template, its first history event, and the checks
/// that the template is still active and the account exists.
pub async fn insert_agreement(
    store: &Store,
    template: &AgreementTemplate,
    request: AgreementRequest,
) -> ServiceResult<Creation> {
    let agreement = Agreement::pending(
        request.id,
        template,
        request.account_id.clone(),
        request.name.as_deref(),
        request.executed_on,
        request.source,
        Instant::now(),
    )?;
    let guard = OpenAgreementGuard {
        account_id: agreement.account_id.clone(),
        template_id: template.id.clone(),
        agreement_id: agreement.id.clone(),
    };
    let event = HistoryEvent::of_change(
        None,
        &agreement,
        HistoryAction::Created,
        request.actor,
        request.source,
    );
    let written = store
        .transact(vec![
            WriteAction::Create(to_item(&agreement)?),
            WriteAction::Create(to_item(&guard)?),
            WriteAction::Create(to_item(&event)?),
            WriteAction::Check(
                Keys::new(keys::template(&template.id), keys::META),
                Some(("state", "active".into())),
            ),
            WriteAction::Check(Keys::new(keys::account(&agreement.account_id), keys::META), None),
        ])
        .await;
    match written {
        Ok(()) => Ok(Creation::Created(agreement)),
        Err(StoreError::Cancelled(reasons)) if failed(&reasons, 1) => {
            let guard_keys = guard.keys();
            let holder: Option<OpenAgreementGuard> =
                store.get(&guard_keys.pk, &guard_keys.sk).await?;
            match holder {
                Some(h) => Ok(Creation::AlreadyOpen(h.agreement_id)),
                // Deactivated between our write and this read: the caller may simply retry.
                None => Err(ServiceError::conflict(
                    "the account's open agreement of this template changed concurrently; retry",
                )),
            }
        }
        Err(StoreError::Cancelled(reasons)) if failed(&reasons, 3) => Err(inactive(&template.id)),
        Err(StoreError::Cancelled(reasons)) if failed(&reasons, 4) => {
            Err(not_found("account", &agreement.account_id))
        }
        Err(StoreError::Cancelled(reasons)) if failed(&reasons, 0) => {
            // Only a repeated deterministic id lands here: the agreement exists already.
            Ok(Creation::AlreadyOpen(agreement.id))
        }
        Err(e) => Err(e.into()),
    }
}

fn inactive(template_id: &Id) -> ServiceError {
    ServiceError::conflict(format!(
        "agreement template {template_id} is inactive; agreements can only be made from an active template"
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
    let account = require_account(store, &input.account_id).await?;
    let request = AgreementRequest {
        id: Id::generate(),
        account_id: account.id,
        name: input.name,
        executed_on: input.executed_on,
        source: AgreementSource::Manual,
        actor: Actor::of(caller),
    };
    match insert_agreement(store, &template, request).await? {
        Creation::Created(a) => {
            tracing::info!(agreement_id = %a.id, "agreement created");
            Ok(a)
        }
        Creation::AlreadyOpen(existing) => Err(ServiceError::Conflict {
            detail: format!(
                "account {} already has an open agreement of template {}: {existing}",
                input.account_id, template.id
            ),
            existing_id: Some(existing.to_string()),
        }),
    }
}

pub async fn get_agreement(store: &Store, caller: &Principal, id: &str) -> ServiceResult<Agreement> {
    caller.require_staff()?;
    require_agreement(store, id).await
}

pub async fn require_agreement(store: &Store, id: &str) -> ServiceResult<Agreement> {
    let id = known_id(id, "agreement")?;
    load(store, &id).await
}

async fn load(store: &Store, id: &Id) -> ServiceResult<Agreement> {
    let found: Option<Agreement> = store.get_entity(keys::agreement, id).await?;
    found.ok_or_else(|| not_found("agreement", id))
}

pub async fn list_agreements(
    store: &Store,
    caller: &Principal,
    filter: &AgreementFilter,
    page: &PageRequest,
) -> ServiceResult<Page<Agreement>> {
    caller.require_staff()?;
    store.list(&agreement_query(filter), page.limit, page.cursor.as_deref()).await
}

/// The most selective index for the filters; the rest become filter expressions.
pub fn agreement_query(filter: &AgreementFilter) -> ListQuery {
    let mut query = if let Some(account) = &filter.account_id {
        let mut q = ListQuery::new(Some("GSI1"), keys::account(account), keys::AGREEMENT_PREFIX);
        if let Some(t) = &filter.template_id {
            q.equals.push(("template_id", t.to_string()));
        }
        q
    } else if let Some(template) = &filter.template_id {
        ListQuery::new(Some("GSI2"), keys::template(template), keys::AGREEMENT_PREFIX)
    } else {
        ListQuery::new(Some("GSI3"), keys::ALL_AGREEMENTS.into(), keys::AGREEMENT_PREFIX)
    };
    if let Some(p) = &filter.provider_id {
        query.equals.push(("provider_id", p.to_string()));
    }
    if let Some(s) = filter.status {
        query.equals.push(("status", s.as_str().to_string()));
    }
    query
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
        let mut actions = vec![
            WriteAction::Replace(to_item(&next)?, current.version),
            WriteAction::Create(to_item(&event)?),
        ];
        if current.status.is_open() && !next.status.is_open() {
            actions.push(WriteAction::Delete(Keys::new(
                keys::account(&current.account_id),
                keys::open_agreement_sk(&current.template_id),
            )));
        }
        match store.transact(actions).await {
            Ok(()) => {
                tracing::info!(agreement_id = %id, status = next.status.as_str(), version = next.version, "agreement changed");
                return Ok(next);
            }
            Err(StoreError::Cancelled(reasons)) if failed(&reasons, 0) || failed(&reasons, 1) => {
                if t.if_match.is_some() {
                    return Err(ServiceError::PreconditionFailed(
                        "the agreement changed while this request was applied".into(),
                    ));
                }
            }
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

pub async fn agreement_history(
    store: &Store,
    caller: &Principal,
    id: &str,
    page: &PageRequest,
) -> ServiceResult<Page<HistoryEvent>> {
    caller.require_staff()?;
    let agreement = require_agreement(store, id).await?;
    let query = ListQuery::new(None, keys::agreement(&agreement.id), keys::HISTORY_PREFIX);
    store.list(&query, page.limit, page.cursor.as_deref()).await
}

/// Only for filters given as text by callers.
pub fn parse_status(raw: &str) -> ServiceResult<AgreementStatus> {
    AgreementStatus::parse(raw).ok_or_else(|| {
        ServiceError::Validation("`status` must be `pending`, `accepted` or `inactive`".into())
    })
}
