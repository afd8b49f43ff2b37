//! An agreement as the bulk worker writes it, shared by the ceiling loop and lean-bench's
//! write-unit figures so both measure the same item.

use shared::model::{
    Actor, Agreement, AgreementSource, AgreementTemplate, HistoryAction, HistoryEvent, Id, Instant,
};

use crate::error::{Context, Result};

/// A fresh pending agreement of `template` for `account`, with its job and provider account,
/// and its first history event (written in the same item).
pub fn agreement_item(
    template: &AgreementTemplate,
    account: Id,
    job: &Id,
) -> Result<(Agreement, HistoryEvent)> {
    let mut agreement = Agreement::pending(
        Id::generate(),
        template,
        account,
        None,
        None,
        AgreementSource::Bulk,
        Instant::now(),
    )
    .context("agreement")?;
    agreement.bulk_job_id = Some(job.clone());
    agreement.provider_account_id = Some(Id::generate());
    let event = HistoryEvent::of_change(
        None,
        &agreement,
        HistoryAction::Created,
        Actor::system(&format!("bulk job {job}")),
        AgreementSource::Bulk,
    );
    Ok((agreement, event))
}
