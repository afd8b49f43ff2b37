//! Microsoft's enhanced attestation of an agreement (the Microsoft Customer Agreement of a
//! Partner Center provider that syncs agreements, with the `enhanced` method):
//!
//! 1. **start**: Partner Center creates an attestation for the signing contact; its id, status
//!    and Microsoft's acceptance link are stored on the agreement (`attestation`), with an
//!    `attestation_started` event. A live one (open, link not expired) is reused.
//! 2. **follow**: a delayed queue message checks it every `ATTESTATION_CHECK_SECONDS` (no table
//!    scan) until Microsoft reports the customer's acceptance, the link expires, or the
//!    attestation fails; `refresh` checks now. Each message carries the number of the check it
//!    is (`check`), and only the message of the stored number acts, moving the number on in the
//!    same conditional write: a redelivered or duplicated message finds another number and stops.
//! 3. **finish**: once accepted, the agreement is created in Partner Center with the attestation
//!    id (600061: it exists, done); only then is the local agreement accepted, with the evidence
//!    in its `accepted` event (source `partner_center`), and the receipt e-mail queued.
//!
//! A refusal sets `attestation.status: failed` with Partner Center's code and description and an
//! `attestation_failed` event; throttling and outages are retried within the call, then by the
//! next scheduled check. Nothing is accepted locally that Partner Center did not confirm.

use serde::Deserialize;
use serde_json::json;

use crate::connectors::partner_center::is_mca;
use crate::connectors::{
    confirms_agreements, AgreementContact, AttestationStart, AttestedAgreement, ConnectorError,
    ProviderAgreement, ProviderConnector, RemoteAttestation, RemoteAttestationState,
};
use crate::error::{ServiceError, ServiceResult};
use crate::model::{
    Account, Actor, Agreement, AgreementAttestation, AgreementSource, AgreementStatus,
    AgreementTemplate, AttestationMethod, AttestationStatus, Contact, Day, HistoryAction,
    HistoryEvent, Id, Instant, NoticeStep, Principal, Provider,
};
use crate::queue::{BulkQueue, EmailQueue, JobMessage, NoticeMessage};
use crate::services::accounts::{find_contact, require_account};
use crate::services::agreements::require_agreement;
use crate::services::jobs::JobError;
use crate::services::notices::queue_receipt;
use crate::services::{known_id, OPTIMISTIC_ATTEMPTS};
use crate::store::{Store, StoreError};

/// The default seconds between two scheduled checks of an open attestation.
pub const DEFAULT_CHECK_SECS: u32 = 300;

/// How long an accepted attestation whose agreement Partner Center keeps failing to create is
/// followed past its link's expiry, before it is given up as failed.
const ACCEPTED_GRACE_DAYS: i64 = 1;

/// `ATTESTATION_CHECK_SECONDS` (1–900, SQS's longest delay), else [`DEFAULT_CHECK_SECS`].
pub fn check_secs_from_env() -> u32 {
    std::env::var("ATTESTATION_CHECK_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|v| (1..=900).contains(v))
        .unwrap_or(DEFAULT_CHECK_SECS)
}

/// What the attestation's work needs besides the store and the connector: where its checks
/// and e-mails are queued, and how often it is checked.
#[derive(Clone, Copy, Debug)]
pub struct Follow<'a> {
    pub queue: Option<&'a BulkQueue>,
    pub emails: Option<&'a EmailQueue>,
    pub check_secs: u32,
}

/// Whether agreements of `template` must be accepted through Microsoft's enhanced attestation:
/// the MCA of a Partner Center provider that syncs agreements with the `enhanced` method.
pub fn must_attest(provider: &Provider, template: &AgreementTemplate) -> bool {
    confirms_agreements(provider)
        && provider.attestation_method == AttestationMethod::Enhanced
        && is_mca(&template.template_id)
}

async fn provider_and_template(
    store: &Store,
    agreement: &Agreement,
) -> ServiceResult<(Provider, AgreementTemplate)> {
    let provider: Option<Provider> = store.by_id(&agreement.provider_id).await?;
    let template: Option<AgreementTemplate> = store.by_id(&agreement.template_id).await?;
    match (provider, template) {
        (Some(p), Some(t)) => Ok((p, t)),
        _ => Err(ServiceError::internal(format!(
            "agreement {}'s provider or template is missing",
            agreement.id
        ))),
    }
}

/// Whether this agreement must be accepted in Microsoft's page rather than confirmed here.
pub async fn requires_attestation(store: &Store, agreement: &Agreement) -> ServiceResult<bool> {
    let (provider, template) = provider_and_template(store, agreement).await?;
    Ok(must_attest(&provider, &template))
}

/// The optional body of `POST /agreements/{id}/attestation`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The signatory: a contact of the agreement's account (default its primary contact).
    #[serde(default)]
    pub contact_id: Option<String>,
}

/// Staff start (or reuse) the attestation of an agreement, to send its link themselves.
pub async fn start_for_staff<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    follow: Follow<'_>,
    caller: &Principal,
    id: &str,
    input: StartRequest,
) -> ServiceResult<AgreementAttestation> {
    caller.require_staff()?;
    let agreement = require_agreement(store, id).await?;
    let contact = match input.contact_id.as_deref() {
        Some(raw) => {
            let contact_id = known_id(raw, "contact")?;
            find_contact(store, &agreement.account_id, &contact_id)
                .await?
                .ok_or_else(|| {
                    ServiceError::NotFound(format!(
                        "contact {contact_id} is not a contact of account {}",
                        agreement.account_id
                    ))
                })?
        }
        None => store
            .primary_contact(&agreement.account_id)
            .await?
            .ok_or_else(|| {
                ServiceError::conflict(format!(
                    "account {} has no contact to sign; add one first",
                    agreement.account_id
                ))
            })?,
    };
    start(
        store,
        connector,
        follow,
        Actor::of(caller),
        agreement,
        contact,
    )
    .await
}

/// Starts the attestation of a pending agreement for `contact`, or answers the live one.
pub async fn start<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    follow: Follow<'_>,
    actor: Actor,
    agreement: Agreement,
    contact: Contact,
) -> ServiceResult<AgreementAttestation> {
    if agreement.status != AgreementStatus::Pending {
        return Err(ServiceError::conflict(format!(
            "agreement {} is {}; only a pending agreement is attested",
            agreement.id,
            agreement.status.as_str()
        )));
    }
    let (provider, template) = provider_and_template(store, &agreement).await?;
    if !must_attest(&provider, &template) {
        return Err(ServiceError::conflict(format!(
            "agreement {} is not one Microsoft accepts through an enhanced attestation (the \
             Microsoft Customer Agreement of a Partner Center provider that syncs agreements, \
             attestation_method `enhanced`)",
            agreement.id
        )));
    }
    let now = Instant::now();
    if let Some(live) = agreement.attestation.as_ref().filter(|a| a.is_live(now)) {
        return Ok(rearm_if_stale(store, follow, &agreement, live).await);
    }
    let account = require_account(store, agreement.account_id.as_str()).await?;
    let tenant = tenant_of(store, &agreement).await?.ok_or_else(|| {
        ServiceError::conflict(format!(
            "account {} has no provider account of provider {} (the customer's tenant id); \
             link it first",
            account.id, provider.id
        ))
    })?;
    tracing::debug!(agreement_id = %agreement.id, %tenant, "starting an enhanced attestation");
    let attestation = match open_remote(connector, &account, &contact).await {
        Ok(a) => a,
        Err(refusal) => {
            if let ServiceError::ProviderFailed {
                source: ConnectorError::Refused { code, detail },
                ..
            } = &refusal
            {
                let event = HistoryEvent::note(
                    &agreement,
                    HistoryAction::AttestationFailed,
                    actor.clone(),
                    AgreementSource::PartnerCenter,
                    json!({"stage": "start", "partner_center": {"code": code, "description": detail}}),
                );
                if let Err(e) = store.note_on_agreement(&agreement.id, &event).await {
                    tracing::error!(agreement_id = %agreement.id, error = %crate::error::Chain(&e), "the refusal could not be recorded");
                }
            }
            return Err(refusal);
        }
    };
    for _ in 0..OPTIMISTIC_ATTEMPTS {
        let current = load(store, &agreement.id).await?;
        if current.status != AgreementStatus::Pending {
            return Err(ServiceError::conflict(format!(
                "agreement {} was {} meanwhile",
                current.id,
                current.status.as_str()
            )));
        }
        if let Some(live) = current.attestation.as_ref().filter(|a| a.is_live(now)) {
            // Another start won the race; its attestation stands, this one is left unused.
            tracing::warn!(agreement_id = %current.id, unused = %attestation.attestation_id, "a concurrent start stored its attestation first");
            return Ok(live.clone());
        }
        let mut next = current.clone();
        next.attestation = Some(attestation.clone());
        next.updated_at = Instant::now();
        next.version += 1;
        let mut event = HistoryEvent::of_change(
            Some(&current),
            &next,
            HistoryAction::AttestationStarted,
            actor.clone(),
            AgreementSource::PartnerCenter,
        );
        event.details = Some(started_details(&attestation, &contact));
        match store.update_agreement(&next, current.version, &event).await {
            Ok(()) => {
                schedule(
                    follow,
                    &next.id,
                    &attestation.attestation_id,
                    attestation.check,
                )
                .await;
                tracing::info!(agreement_id = %next.id, attestation_id = %attestation.attestation_id, "enhanced attestation started");
                return Ok(attestation);
            }
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::conflict(
        "the agreement is being changed by others; retry",
    ))
}

/// The history details of a start: the attestation and whom it names.
pub fn started_details(attestation: &AgreementAttestation, contact: &Contact) -> serde_json::Value {
    json!({
        "attestation_id": attestation.attestation_id,
        "link": attestation.link,
        "expires_at": attestation.expires_at,
        "signatory": {"contact_id": contact.id, "name": contact.full_name(), "email": contact.email},
    })
}

/// Creates the attestation in Partner Center for `contact` of `account`: nothing is written.
/// The account must have its country and language.
pub async fn open_remote<C: ProviderConnector>(
    connector: &C,
    account: &Account,
    contact: &Contact,
) -> ServiceResult<AgreementAttestation> {
    let (Some(country), Some(language)) = (&account.country, &account.language) else {
        return Err(ServiceError::conflict(format!(
            "account {} needs its `country` and `language` for Microsoft's attestation",
            account.id
        )));
    };
    let remote = connector
        .start_attestation(&AttestationStart {
            country: country.clone(),
            language: language.clone(),
            company_name: account.name.clone(),
            signatory: AgreementContact::from(contact),
        })
        .await?;
    let now = Instant::now();
    Ok(AgreementAttestation {
        attestation_id: remote.attestation_id.clone(),
        status: match remote.state {
            RemoteAttestationState::CustomerAccepted => AttestationStatus::CustomerAccepted,
            RemoteAttestationState::LinkExpired => AttestationStatus::LinkExpired,
            _ => AttestationStatus::LinkGenerated,
        },
        link: Some(remote.link.clone()),
        expires_at: remote.expires_at,
        updated_at: now,
        detail: Some(json!({"microsoft_status": remote.raw_status})),
        contact_id: contact.id.clone(),
        started_at: now,
        check: 1,
        checked_at: None,
    })
}

/// Queues the `check`-th check of an attestation, due after the check interval. A failure is
/// logged: the attestation stays open and the next start or refresh re-arms its checks.
pub async fn schedule(follow: Follow<'_>, agreement_id: &Id, attestation_id: &str, check: u64) {
    let Some(queue) = follow.queue else {
        tracing::error!(%agreement_id, "no queue configured to follow the attestation");
        return;
    };
    let message = JobMessage::follow_attestation(agreement_id.as_str(), attestation_id, check);
    if let Err(e) = queue.send_after(&message, follow.check_secs).await {
        tracing::error!(%agreement_id, error = %crate::error::Chain(&e), "the attestation's next check could not be queued");
    }
}

/// Whether an open attestation's checks have evidently stopped (no check for three intervals).
fn is_stale(attestation: &AgreementAttestation, check_secs: u32, now: Instant) -> bool {
    let last = attestation.checked_at.unwrap_or(attestation.started_at);
    let quiet = now.unix_secs() - last.unix_secs();
    attestation.status.is_open() && quiet > 3 * i64::from(check_secs) + 60
}

/// An open attestation whose checks stopped (a message that could not be queued) gets a new
/// check number and its check queued; answers the attestation as stored.
async fn rearm_if_stale(
    store: &Store,
    follow: Follow<'_>,
    agreement: &Agreement,
    attestation: &AgreementAttestation,
) -> AgreementAttestation {
    if !is_stale(attestation, follow.check_secs, Instant::now()) {
        return attestation.clone();
    }
    let mut next = agreement.clone();
    let mut rearmed = attestation.clone();
    rearmed.check += 1;
    rearmed.checked_at = Some(Instant::now());
    next.attestation = Some(rearmed.clone());
    next.version += 1;
    match store
        .update_agreement_quietly(&next, agreement.version)
        .await
    {
        Ok(()) => {
            tracing::warn!(agreement_id = %agreement.id, check = rearmed.check, "the attestation's checks had stopped; re-armed");
            schedule(
                follow,
                &agreement.id,
                &rearmed.attestation_id,
                rearmed.check,
            )
            .await;
            rearmed
        }
        Err(e) => {
            tracing::warn!(agreement_id = %agreement.id, error = %crate::error::Chain(&e), "the attestation's checks could not be re-armed now");
            attestation.clone()
        }
    }
}

async fn load(store: &Store, id: &Id) -> ServiceResult<Agreement> {
    require_agreement(store, id.as_str()).await
}

async fn tenant_of(store: &Store, agreement: &Agreement) -> ServiceResult<Option<String>> {
    Ok(store
        .provider_account_of_account(&agreement.account_id, &agreement.provider_id)
        .await?
        .map(|pa| pa.provider_specific_id))
}

/// Staff: check with Partner Center now, and act on the answer as a scheduled check would.
pub async fn refresh<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    follow: Follow<'_>,
    caller: &Principal,
    id: &str,
) -> ServiceResult<AgreementAttestation> {
    caller.require_staff()?;
    let agreement = require_agreement(store, id).await?;
    let Some(attestation) = agreement.attestation.clone() else {
        return Err(ServiceError::conflict(format!(
            "agreement {} has no attestation; start one with POST /agreements/{}/attestation",
            agreement.id, agreement.id
        )));
    };
    if attestation.status == AttestationStatus::AgreementCreated {
        return Ok(attestation);
    }
    let after = check(store, connector, follow, &agreement, &attestation, None).await?;
    Ok(match after {
        Checked::Now(a) => {
            let current = load(store, &agreement.id).await?;
            rearm_if_stale(store, follow, &current, &a).await
        }
        Checked::Superseded => load(store, &agreement.id)
            .await?
            .attestation
            .unwrap_or(attestation),
    })
}

/// What a check left behind.
enum Checked {
    /// The attestation as now stored.
    Now(AgreementAttestation),
    /// Another start replaced it, or the agreement left pending: nothing more to do with it.
    Superseded,
}

/// One check: Partner Center's answer, acted on. `next_check` (a scheduled check) moves the
/// check number on in the write that records the answer, on the condition that it is still
/// the number this check was; None (a refresh) leaves it. Partner Center unavailable is
/// `ProviderFailed` (nothing written).
async fn check<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    follow: Follow<'_>,
    agreement: &Agreement,
    attestation: &AgreementAttestation,
    next_check: Option<u64>,
) -> ServiceResult<Checked> {
    let now = Instant::now();
    let remote = match connector
        .attestation_state(&attestation.attestation_id)
        .await
    {
        Ok(r) => r,
        Err(ConnectorError::Refused { code, detail }) => {
            return fail(store, agreement, attestation, &code, &detail, next_check).await
        }
        Err(ConnectorError::Malformed(detail)) => {
            return fail(
                store,
                agreement,
                attestation,
                "unreadable",
                &detail,
                next_check,
            )
            .await
        }
        Err(e) => return Err(e.into()),
    };
    match remote.state {
        RemoteAttestationState::Pending => {
            if now > deadline(attestation, follow.check_secs) {
                return expire(
                    store,
                    agreement,
                    attestation,
                    &remote,
                    "the link's lifetime passed without Microsoft reporting the customer's acceptance",
                    next_check,
                )
                .await;
            }
            let raw = remote.raw_status.clone();
            let expires = remote.expires_at;
            let link = remote.link.clone();
            let status = attestation.status;
            record(
                store,
                agreement,
                attestation,
                next_check,
                None,
                &move |a: &mut AgreementAttestation| {
                    a.status = if status == AttestationStatus::CustomerAccepted {
                        status
                    } else {
                        AttestationStatus::LinkGenerated
                    };
                    a.detail = Some(json!({"microsoft_status": raw}));
                    a.expires_at = expires.or(a.expires_at);
                    a.link = Some(link.clone());
                },
            )
            .await
        }
        RemoteAttestationState::LinkExpired => {
            expire(
                store,
                agreement,
                attestation,
                &remote,
                "Microsoft reports the link expired",
                next_check,
            )
            .await
        }
        RemoteAttestationState::CustomerAccepted | RemoteAttestationState::AgreementCreated => {
            finish(
                store,
                connector,
                follow,
                agreement,
                attestation,
                &remote,
                next_check,
            )
            .await
        }
    }
}

/// When a still-pending attestation is given up: its link's expiry (or, not known, the day a
/// week after it started) plus one check interval; an accepted one a day later still.
fn deadline(attestation: &AgreementAttestation, check_secs: u32) -> Instant {
    let expiry = attestation
        .expires_at
        .unwrap_or_else(|| attestation.started_at.plus_days(7));
    let base =
        Instant::from_unix_secs(expiry.unix_secs() + i64::from(check_secs)).unwrap_or(expiry);
    if attestation.status == AttestationStatus::CustomerAccepted {
        base.plus_days(ACCEPTED_GRACE_DAYS)
    } else {
        base
    }
}

/// Writes a change of the agreement's attestation (and of the agreement, through `agreement_change`
/// if given, with its event), conditional on the version read, re-reading on a lost race.
/// Stops (Superseded) when the stored attestation is another one, the check number moved on
/// (for a scheduled check), or it is no longer open.
async fn record(
    store: &Store,
    agreement: &Agreement,
    attestation: &AgreementAttestation,
    next_check: Option<u64>,
    event: Option<(HistoryAction, serde_json::Value)>,
    change: &(dyn Fn(&mut AgreementAttestation) + Send + Sync),
) -> ServiceResult<Checked> {
    let mut current = agreement.clone();
    for _ in 0..OPTIMISTIC_ATTEMPTS {
        let Some(stored) = current.attestation.clone() else {
            return Ok(Checked::Superseded);
        };
        if stored.attestation_id != attestation.attestation_id
            || !stored.status.is_open()
            || current.status != AgreementStatus::Pending
            || next_check.is_some_and(|n| stored.check + 1 != n)
        {
            return Ok(Checked::Superseded);
        }
        let mut updated = stored;
        change(&mut updated);
        let now = Instant::now();
        updated.updated_at = now;
        updated.checked_at = Some(now);
        if let Some(n) = next_check {
            updated.check = n;
        }
        let mut next = current.clone();
        next.attestation = Some(updated.clone());
        next.version += 1;
        let written = match &event {
            Some((action, details)) => {
                next.updated_at = now;
                let mut e = HistoryEvent::of_change(
                    Some(&current),
                    &next,
                    *action,
                    Actor::system("partner center attestation"),
                    AgreementSource::PartnerCenter,
                );
                e.details = Some(details.clone());
                store.update_agreement(&next, current.version, &e).await
            }
            None => store.update_agreement_quietly(&next, current.version).await,
        };
        match written {
            Ok(()) => return Ok(Checked::Now(updated)),
            Err(StoreError::ConditionFailed) => current = load(store, &agreement.id).await?,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::conflict(
        "the agreement is being changed by others; retry",
    ))
}

async fn fail(
    store: &Store,
    agreement: &Agreement,
    attestation: &AgreementAttestation,
    code: &str,
    description: &str,
    next_check: Option<u64>,
) -> ServiceResult<Checked> {
    tracing::warn!(agreement_id = %agreement.id, %code, "Partner Center refused the attestation");
    let detail = json!({"code": code, "description": description});
    let details = json!({"attestation_id": attestation.attestation_id, "partner_center": detail});
    let d = detail.clone();
    record(
        store,
        agreement,
        attestation,
        next_check,
        Some((HistoryAction::AttestationFailed, details)),
        &move |a: &mut AgreementAttestation| {
            a.status = AttestationStatus::Failed;
            a.detail = Some(d.clone());
        },
    )
    .await
}

async fn expire(
    store: &Store,
    agreement: &Agreement,
    attestation: &AgreementAttestation,
    remote: &RemoteAttestation,
    why: &str,
    next_check: Option<u64>,
) -> ServiceResult<Checked> {
    let accepted_before = attestation.status == AttestationStatus::CustomerAccepted;
    let detail = json!({"microsoft_status": remote.raw_status, "reason": why});
    let details = json!({"attestation_id": attestation.attestation_id, "detail": detail});
    let d = detail.clone();
    let (action, status) = if accepted_before {
        // Accepted, but Partner Center never created the agreement in time: visible to staff.
        (HistoryAction::AttestationFailed, AttestationStatus::Failed)
    } else {
        (
            HistoryAction::AttestationExpired,
            AttestationStatus::LinkExpired,
        )
    };
    record(
        store,
        agreement,
        attestation,
        next_check,
        Some((action, details)),
        &move |a: &mut AgreementAttestation| {
            a.status = status;
            a.detail = Some(d.clone());
        },
    )
    .await
}

/// Microsoft reports the customer's acceptance: create the agreement in Partner Center with
/// the attestation id, then accept the local agreement with the evidence.
async fn finish<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    follow: Follow<'_>,
    agreement: &Agreement,
    attestation: &AgreementAttestation,
    remote: &RemoteAttestation,
    next_check: Option<u64>,
) -> ServiceResult<Checked> {
    let template: Option<AgreementTemplate> = store.by_id(&agreement.template_id).await?;
    let tenant = tenant_of(store, agreement).await?;
    let contact = find_contact(store, &agreement.account_id, &attestation.contact_id).await?;
    let (Some(template), Some(tenant), Some(contact)) = (template, tenant, contact) else {
        return fail(
            store,
            agreement,
            attestation,
            "incomplete",
            "the account has no Partner Center tenant id, or the signatory is no longer a contact of the account",
            next_check,
        )
        .await;
    };
    let created = connector
        .create_attested_agreement(&AttestedAgreement {
            customer_id: tenant.clone(),
            template_id: template.template_id.clone(),
            attestation_id: attestation.attestation_id.clone(),
            accepted_on: Day::today(),
            signer: AgreementContact::from(&contact),
        })
        .await;
    let held = match created {
        Ok(held) => held,
        Err(ConnectorError::Refused { code, detail }) => {
            return fail(store, agreement, attestation, &code, &detail, next_check).await
        }
        Err(ConnectorError::Malformed(detail)) => {
            return fail(
                store,
                agreement,
                attestation,
                "unreadable",
                &detail,
                next_check,
            )
            .await
        }
        Err(e) => {
            // Accepted at Microsoft, not created yet: shown as such, and tried again by the
            // next check.
            tracing::warn!(agreement_id = %agreement.id, error = %e, "the attested agreement could not be created now");
            let raw = remote.raw_status.clone();
            return record(
                store,
                agreement,
                attestation,
                next_check,
                None,
                &move |a: &mut AgreementAttestation| {
                    a.status = AttestationStatus::CustomerAccepted;
                    a.detail = Some(json!({"microsoft_status": raw, "retrying": e.to_string()}));
                },
            )
            .await;
        }
    };
    accept_locally(
        store,
        follow,
        agreement,
        attestation,
        remote,
        &tenant,
        &contact,
        &held,
    )
    .await
}

/// The evidence of an acceptance through Microsoft, for the `accepted` event.
fn evidence(
    attestation: &AgreementAttestation,
    remote: &RemoteAttestation,
    tenant: &str,
    contact: &Contact,
    held: &ProviderAgreement,
) -> serde_json::Value {
    json!({
        "attestation": {
            "attestation_id": attestation.attestation_id,
            "link": attestation.link,
            "microsoft_status": remote.raw_status,
            "started_at": attestation.started_at,
        },
        "signatory": {"contact_id": contact.id, "name": contact.full_name(), "email": contact.email},
        "partner_center": {
            "customer_id": tenant,
            "template_id": held.template_id,
            "type": held.agreement_type,
            "date_agreed": held.date_agreed,
            "primary_contact": held.primary_contact,
        },
        "source": "partner_center",
    })
}

#[allow(clippy::too_many_arguments)]
async fn accept_locally(
    store: &Store,
    follow: Follow<'_>,
    agreement: &Agreement,
    attestation: &AgreementAttestation,
    remote: &RemoteAttestation,
    tenant: &str,
    contact: &Contact,
    held: &ProviderAgreement,
) -> ServiceResult<Checked> {
    let proof = evidence(attestation, remote, tenant, contact, held);
    let signed_on = held
        .date_agreed
        .get(..10)
        .and_then(Day::parse)
        .unwrap_or_else(Day::today);
    let mut current = agreement.clone();
    for _ in 0..OPTIMISTIC_ATTEMPTS {
        let Some(stored) = current.attestation.clone() else {
            return Ok(Checked::Superseded);
        };
        if stored.attestation_id != attestation.attestation_id
            || stored.status == AttestationStatus::AgreementCreated
        {
            return Ok(Checked::Superseded);
        }
        let now = Instant::now();
        let mut done = stored;
        done.status = AttestationStatus::AgreementCreated;
        done.updated_at = now;
        done.checked_at = Some(now);
        done.detail = Some(json!({
            "microsoft_status": remote.raw_status,
            "partner_center": proof["partner_center"].clone(),
        }));
        let (next, action) = if current.status == AgreementStatus::Pending {
            let mut accepted = current.accepted(contact.id.clone(), signed_on, now)?;
            accepted.attestation = Some(done.clone());
            (accepted, HistoryAction::Accepted)
        } else {
            // Accepted (or ended) here by other means meanwhile: the attestation is recorded.
            let mut next = current.clone();
            next.attestation = Some(done.clone());
            next.updated_at = now;
            next.version += 1;
            (next, HistoryAction::Attested)
        };
        let mut event = HistoryEvent::of_change(
            Some(&current),
            &next,
            action,
            Actor::system("partner center attestation"),
            AgreementSource::PartnerCenter,
        );
        event.details = Some(proof.clone());
        match store.update_agreement(&next, current.version, &event).await {
            Ok(()) => {
                tracing::info!(agreement_id = %next.id, attestation_id = %done.attestation_id, "accepted through Microsoft's attestation");
                if action == HistoryAction::Accepted {
                    queue_receipt(follow.emails, &next).await;
                }
                return Ok(Checked::Now(done));
            }
            Err(StoreError::ConditionFailed) => current = load(store, &agreement.id).await?,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::conflict(
        "the agreement is being changed by others; retry",
    ))
}

/// A scheduled check (a queue message): acts only when `check` is the stored check number of
/// the agreement's open attestation `attestation_id`, then queues the next check while the
/// attestation stays open. Partner Center unavailable: the next check tries again.
pub async fn follow<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    follow: Follow<'_>,
    agreement_id: &str,
    attestation_id: &str,
    check_number: u64,
) -> Result<(), JobError> {
    let agreement = match require_agreement(store, agreement_id).await {
        Ok(a) => a,
        Err(ServiceError::NotFound(d)) => return Err(JobError::Poison(d)),
        Err(e) => return Err(e.into()),
    };
    let Some(attestation) = agreement.attestation.clone() else {
        return Err(JobError::Poison(format!(
            "agreement {agreement_id} has no attestation"
        )));
    };
    if attestation.attestation_id != attestation_id
        || attestation.check != check_number
        || !attestation.status.is_open()
        || agreement.status != AgreementStatus::Pending
    {
        tracing::info!(%agreement_id, check_number, stored = attestation.check, "a stale or duplicate check; nothing to do");
        return Ok(());
    }
    let next_number = check_number + 1;
    let outcome = check(
        store,
        connector,
        follow,
        &agreement,
        &attestation,
        Some(next_number),
    )
    .await;
    let after = match outcome {
        Ok(Checked::Now(a)) => a,
        Ok(Checked::Superseded) => return Ok(()),
        Err(ServiceError::ProviderFailed { source, .. }) => {
            // Partner Center did not answer (after the call's own retries): take the next
            // number and try again at the next check, unless the attestation is past due.
            tracing::warn!(%agreement_id, error = %source, "Partner Center unavailable for the check; trying at the next");
            if Instant::now() > deadline(&attestation, follow.check_secs) {
                let remote = RemoteAttestation {
                    attestation_id: attestation.attestation_id.clone(),
                    state: RemoteAttestationState::Pending,
                    raw_status: String::new(),
                    link: attestation.link.clone().unwrap_or_default(),
                    expires_at: attestation.expires_at,
                };
                expire(
                    store,
                    &agreement,
                    &attestation,
                    &remote,
                    "Partner Center did not answer before the link's lifetime passed",
                    Some(next_number),
                )
                .await?;
                return Ok(());
            }
            let detail = attestation.detail.clone();
            match record(
                store,
                &agreement,
                &attestation,
                Some(next_number),
                None,
                &move |a: &mut AgreementAttestation| a.detail = detail.clone(),
            )
            .await?
            {
                Checked::Now(a) => a,
                Checked::Superseded => return Ok(()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    if after.status.is_open() {
        send_next(store, follow, &agreement.id, &after).await?;
    }
    Ok(())
}

/// Queues the check numbered as stored. If the queue refuses, the number is moved back so that
/// the redelivered message (of the number before) acts again.
async fn send_next(
    store: &Store,
    follow: Follow<'_>,
    agreement_id: &Id,
    after: &AgreementAttestation,
) -> Result<(), JobError> {
    let queue = follow
        .queue
        .ok_or_else(|| ServiceError::internal("BULK_QUEUE_URL is not configured"))?;
    let message =
        JobMessage::follow_attestation(agreement_id.as_str(), &after.attestation_id, after.check);
    let Err(sent) = queue.send_after(&message, follow.check_secs).await else {
        return Ok(());
    };
    let current = load(store, agreement_id).await?;
    if let Some(stored) = current
        .attestation
        .as_ref()
        .filter(|a| a.attestation_id == after.attestation_id && a.check == after.check)
    {
        let mut back = current.clone();
        let mut a = stored.clone();
        a.check -= 1;
        back.attestation = Some(a);
        back.version += 1;
        if let Err(e) = store.update_agreement_quietly(&back, current.version).await {
            tracing::error!(%agreement_id, error = %crate::error::Chain(&e), "the check number could not be moved back; the next start or refresh re-arms the checks");
        }
    }
    Err(JobError::Queue(sent))
}

/// The queue will not deliver a check again (its receives are spent): the attestation fails
/// visibly, unless it was superseded meanwhile.
pub async fn give_up(
    store: &Store,
    agreement_id: &str,
    attestation_id: &str,
    reason: &str,
) -> Result<(), JobError> {
    let agreement = match require_agreement(store, agreement_id).await {
        Ok(a) => a,
        Err(ServiceError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let Some(attestation) = agreement
        .attestation
        .clone()
        .filter(|a| a.attestation_id == attestation_id)
    else {
        return Ok(());
    };
    fail(store, &agreement, &attestation, "gave_up", reason, None).await?;
    Ok(())
}

/// After a write that made `agreement` with a new attestation (provisioning): queue its first
/// check and the signing contact's portal link e-mail (where e-mail is configured).
pub async fn after_provisioning(follow: Follow<'_>, agreement: &Agreement) {
    let Some(attestation) = &agreement.attestation else {
        return;
    };
    schedule(
        follow,
        &agreement.id,
        &attestation.attestation_id,
        attestation.check,
    )
    .await;
    if let Some(emails) = follow.emails {
        let message = NoticeMessage::new(agreement.id.as_str(), &NoticeStep::Link, None);
        if let Err(e) = emails.send_all(&[message]).await {
            tracing::error!(agreement_id = %agreement.id, error = %crate::error::Chain(&e), "the link e-mail could not be queued");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attestation(status: AttestationStatus) -> AgreementAttestation {
        let now = Instant::now();
        AgreementAttestation {
            attestation_id: "a".into(),
            status,
            link: None,
            expires_at: Some(now.plus_days(7)),
            updated_at: now,
            detail: None,
            contact_id: Id::generate(),
            started_at: now,
            check: 1,
            checked_at: None,
        }
    }

    #[test]
    fn deadlines_follow_the_link_and_give_an_accepted_one_a_day_more() {
        let open = attestation(AttestationStatus::LinkGenerated);
        let expires = open.expires_at.expect("set");
        assert_eq!(deadline(&open, 300).unix_secs(), expires.unix_secs() + 300);
        let accepted = attestation(AttestationStatus::CustomerAccepted);
        assert_eq!(
            deadline(&accepted, 300).unix_secs(),
            expires.unix_secs() + 300 + 86_400
        );
        let mut unknown = open.clone();
        unknown.expires_at = None;
        assert_eq!(
            deadline(&unknown, 60).unix_secs(),
            unknown.started_at.plus_days(7).unix_secs() + 60
        );
    }

    #[test]
    fn checks_are_stale_after_three_quiet_intervals() {
        let mut a = attestation(AttestationStatus::LinkGenerated);
        let now = Instant::now();
        assert!(!is_stale(&a, 300, now));
        a.started_at = now.plus_days(-1);
        assert!(is_stale(&a, 300, now));
        a.checked_at = Some(now);
        assert!(!is_stale(&a, 300, now));
        let mut done = attestation(AttestationStatus::AgreementCreated);
        done.started_at = now.plus_days(-1);
        assert!(!is_stale(&done, 300, now), "only open ones are re-armed");
    }

    #[test]
    fn a_live_attestation_is_open_and_unexpired() {
        let now = Instant::now();
        let mut a = attestation(AttestationStatus::LinkGenerated);
        assert!(a.is_live(now));
        a.expires_at = Some(now.plus_days(-1));
        assert!(!a.is_live(now));
        assert!(!attestation(AttestationStatus::LinkExpired).is_live(now));
        assert!(!attestation(AttestationStatus::Failed).is_live(now));
        assert!(attestation(AttestationStatus::CustomerAccepted).is_live(now));
    }
}
