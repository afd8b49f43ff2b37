//! Provisioning an account with a provider: the provider account and the agreement are made
//! together, both or neither. Where the provider confirms agreements (a Direct CSP partner's
//! Partner Center), the acceptance is first confirmed with the provider and the agreement
//! recorded from its answer.

use serde::{Deserialize, Serialize};

use crate::connectors::{confirms_agreements, Acceptance, AgreementContact, ProviderConnector};
use crate::error::{ServiceError, ServiceResult};
use crate::model::provider_account::specific_id;
use crate::model::{
    Actor, Agreement, AgreementSource, Contact, Day, HistoryAction, HistoryEvent, Instant,
    NewProviderAccount, Principal, ProviderAccount,
};
use crate::services::accounts::require_account;
use crate::services::agreements::{free_slot, inactive};
use crate::services::attestations::{
    after_provisioning, must_attest, open_remote, started_details, Follow,
};
use crate::services::providers::require_provider;
use crate::services::templates::require_template;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionRequest {
    pub provider_id: String,
    #[serde(default)]
    pub provider_specific_id: Option<String>,
    pub template_id: String,
    pub executed_on: Day,
}

#[derive(Debug, Clone, Serialize)]
pub struct Provisioned {
    pub provider_account: ProviderAccount,
    pub agreement: Agreement,
}

/// The contact named to the provider as the customer's primary contact: the account's first.
pub async fn primary_contact(
    store: &Store,
    account: &crate::model::Account,
) -> ServiceResult<Contact> {
    store.primary_contact(&account.id).await?.ok_or_else(|| {
        ServiceError::conflict(format!(
            "account {} has no contact to name as the primary contact; add one first",
            account.id
        ))
    })
}

pub async fn provision<C: ProviderConnector>(
    store: &Store,
    connector: &C,
    follow: Follow<'_>,
    caller: &Principal,
    account_id: &str,
    input: ProvisionRequest,
) -> ServiceResult<Provisioned> {
    caller.require_staff()?;
    let account = require_account(store, account_id).await?;
    let provider = require_provider(store, &input.provider_id).await?;
    let template = require_template(store, &input.template_id).await?;
    if template.provider_id != provider.id {
        return Err(ServiceError::Validation(format!(
            "template {} is not a template of provider {}",
            template.id, provider.id
        )));
    }
    if !template.is_open(crate::model::Day::today()) {
        return Err(inactive(&template));
    }
    let direct = confirms_agreements(&provider);
    // The MCA with Microsoft's enhanced attestation: the agreement is made pending with an
    // attestation whose link goes to the customer; it turns accepted once Partner Center has it.
    let enhanced = must_attest(&provider, &template);
    let tenant =
        match input.provider_specific_id.as_deref() {
            Some(raw) => specific_id(raw)?,
            None if direct => return Err(ServiceError::Validation(
                "`provider_specific_id` (the customer's tenant id) is required for Partner Center"
                    .into(),
            )),
            None => account.id.to_string().to_lowercase(),
        };
    let now = Instant::now();
    let new_pa = ProviderAccount::create(
        provider.id.clone(),
        account.id.clone(),
        &NewProviderAccount {
            provider_id: provider.id.to_string(),
            provider_specific_id: tenant.clone(),
            name: account.name.clone(),
            ..NewProviderAccount::default()
        },
        now,
    )?;
    let existing_pa = store.provider_account(&provider.id, &tenant).await?;
    if let Some(pa) = &existing_pa {
        if pa.account_id != account.id {
            return Err(ServiceError::conflict(format!(
                "provider-specific id `{tenant}` of provider {} belongs to account {}",
                provider.id, pa.account_id
            )));
        }
    }
    let slot = match free_slot(store, &template, &account.id).await? {
        Ok(id) => id,
        Err(open) => {
            return Err(ServiceError::Conflict {
                detail: format!(
                    "account {} already has an open agreement of template {}: {}",
                    account.id, template.id, open.id
                ),
                existing_id: Some(open.id.to_string()),
            })
        }
    };

    let mut agreement = Agreement::pending(
        slot,
        &template,
        account.id.clone(),
        None,
        Some(input.executed_on),
        AgreementSource::Provisioning,
        now,
    )?;
    let actor = Actor::of(caller);
    let mut history = vec![HistoryEvent::of_change(
        None,
        &agreement,
        HistoryAction::Created,
        actor.clone(),
        AgreementSource::Provisioning,
    )];
    if enhanced {
        let contact = primary_contact(store, &account).await?;
        let attestation = open_remote(connector, &account, &contact).await?;
        agreement.attestation = Some(attestation.clone());
        agreement.version += 1;
        let mut event = HistoryEvent::of_change(
            None,
            &agreement,
            HistoryAction::AttestationStarted,
            actor.clone(),
            AgreementSource::PartnerCenter,
        );
        event.from_status = Some(agreement.status);
        event.details = Some(started_details(&attestation, &contact));
        history.push(event);
    } else if direct {
        let contact = primary_contact(store, &account).await?;
        let confirmed = connector
            .confirm_acceptance(&Acceptance {
                customer_id: tenant.clone(),
                template_id: template.template_id.clone(),
                accepted_on: input.executed_on,
                signer: AgreementContact::from(&contact),
            })
            .await?;
        let signed_on = confirmed
            .date_agreed
            .get(..10)
            .and_then(Day::parse)
            .unwrap_or(input.executed_on);
        let accepted = agreement.accepted(contact.id.clone(), signed_on, now)?;
        let mut event = HistoryEvent::of_change(
            Some(&agreement),
            &accepted,
            HistoryAction::Accepted,
            actor,
            AgreementSource::PartnerCenter,
        );
        event.details = Some(serde_json::json!({
            "partner_center": {
                "customer_id": tenant,
                "template_id": confirmed.template_id,
                "type": confirmed.agreement_type,
                "date_agreed": confirmed.date_agreed,
            }
        }));
        history.push(event);
        agreement = accepted;
    }

    let new_link = existing_pa.is_none();
    match store
        .provision(&agreement, &history, new_link.then_some(&new_pa))
        .await
    {
        Ok(()) => {}
        Err(StoreError::Cancelled(_)) => {
            return Err(ServiceError::conflict(
                "the account was provisioned concurrently; read it and retry",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    if enhanced {
        after_provisioning(follow, &agreement).await;
    }
    tracing::info!(account_id = %account.id, agreement_id = %agreement.id, direct, enhanced, "account provisioned");
    Ok(Provisioned {
        provider_account: existing_pa.unwrap_or(new_pa),
        agreement,
    })
}
