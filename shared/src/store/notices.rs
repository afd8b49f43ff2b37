//! Portal links and the e-mails of agreements (access patterns 33–37 of docs/data-model.md).
//!
//! A notice step of an agreement is an attribute of the agreement's item, `notice:<step>`: a
//! sender claims it with a conditional write before it sends and records the outcome after, so
//! two senders of the same step (a redelivered message, a second schedule run) cannot both send.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::item::{conditional, from_item, key_map, n, s, sdk_error, to_value};
use super::list::ListQuery;
use super::{keys, Page, PageSpec, Store, StoreError, HISTORY};
use crate::model::{
    Agreement, AgreementStatus, Day, HistoryEvent, Id, Instant, NoticeRecord, NoticeStep,
    PortalLink,
};

/// The attribute of an agreement's item that records a step.
pub fn notice_attribute(step: &NoticeStep) -> String {
    format!("notice:{}", step.key())
}

/// What claiming a step found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The step is this sender's to send; the agreement as it is now, the claim included.
    Taken(Box<Agreement>),
    /// Another sender holds it, or it has ended (sent or failed): nothing to do.
    Held(Option<NoticeRecord>),
    /// No sender has it, but the agreement is not in the state the step wants: the agreement
    /// as it is.
    NotWanted(Box<Agreement>),
    /// The agreement does not exist.
    NoAgreement,
}

/// The state an agreement must be in for a step to be claimed, checked by the claim's own
/// condition (so an agreement accepted or declined a moment before is never e-mailed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// Whatever its state (recording a failure on a message's last receive).
    Any,
    Pending,
    /// Pending, and not declined by the customer.
    PendingNotDeclined,
    Accepted,
    /// Pending, or accepted and awaiting a newer document version (a reminder staff asked for).
    PendingOrAwaiting,
    /// Accepted and awaiting this document version.
    AwaitingVersion(String),
}

/// Which job counter an outcome adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobTally {
    Sent,
    Failed,
}

impl JobTally {
    fn attribute(self) -> &'static str {
        match self {
            JobTally::Sent => "emails_sent",
            JobTally::Failed => "emails_failed",
        }
    }
}

impl Store {
    /// Pattern 33: an account's portal links, oldest first.
    pub async fn portal_links_of_account(
        &self,
        account: &Id,
        page: PageSpec<'_>,
    ) -> Result<Page<PortalLink>, StoreError> {
        let query = ListQuery::index(Some("GSI1"), keys::account(account), keys::LINK_PREFIX);
        self.list(&query, page).await
    }

    /// Pattern 34: claims `step` of an agreement for the sender `claim`, unless a sender took it
    /// before (whatever came of it) or the agreement is not as `wanted`. One request: the
    /// answer carries the agreement either way.
    pub async fn claim_notice(
        &self,
        agreement: &Id,
        step: &NoticeStep,
        wanted: Wanted,
        claim: &str,
        now: Instant,
    ) -> Result<Claim, StoreError> {
        let record = NoticeRecord::Sending {
            claim: claim.to_string(),
            at: i64::try_from(now.unix_millis()).unwrap_or(i64::MAX),
        };
        let attribute = notice_attribute(step);
        let mut condition = "attribute_exists(PK) AND attribute_not_exists(#n)".to_string();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::agreement(agreement), keys::META)))
            .update_expression("SET #n = :record")
            .expression_attribute_names("#n", &attribute)
            .expression_attribute_values(":record", to_value(&record)?)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let status = match &wanted {
            Wanted::Any | Wanted::PendingOrAwaiting => None,
            Wanted::Pending | Wanted::PendingNotDeclined => Some(AgreementStatus::Pending),
            Wanted::Accepted | Wanted::AwaitingVersion(_) => Some(AgreementStatus::Accepted),
        };
        if let Some(status) = status {
            condition.push_str(" AND #status = :status");
            request = request
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()));
        }
        match &wanted {
            Wanted::PendingOrAwaiting => {
                condition.push_str(
                    " AND (#status = :pending OR (#status = :accepted AND attribute_exists(#awaiting) \
                     AND NOT attribute_type(#awaiting, :null)))",
                );
                request = request
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_names("#awaiting", "awaiting_document_version")
                    .expression_attribute_values(":pending", s(AgreementStatus::Pending.as_str()))
                    .expression_attribute_values(":accepted", s(AgreementStatus::Accepted.as_str()))
                    .expression_attribute_values(":null", s("NULL"));
            }
            Wanted::AwaitingVersion(version) => {
                condition.push_str(" AND #awaiting = :awaiting");
                request = request
                    .expression_attribute_names("#awaiting", "awaiting_document_version")
                    .expression_attribute_values(":awaiting", s(version.as_str()));
            }
            _ => {}
        }
        if wanted == Wanted::PendingNotDeclined {
            condition.push_str(
                " AND (attribute_not_exists(#declined) OR attribute_type(#declined, :null))",
            );
            request = request
                .expression_attribute_names("#declined", "declined_on")
                .expression_attribute_values(":null", s("NULL"));
        }
        match request.condition_expression(condition).send().await {
            Ok(out) => Ok(Claim::Taken(Box::new(from_item(
                out.attributes.unwrap_or_default(),
            )?))),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let Some(item) = failed.item() else {
                        return Ok(Claim::NoAgreement);
                    };
                    match item.get(&attribute) {
                        Some(held) => Ok(Claim::Held(
                            serde_dynamo::from_attribute_value(held.clone()).ok(),
                        )),
                        None => Ok(Claim::NotWanted(Box::new(from_item(item.clone())?))),
                    }
                }
                _ => Err(sdk_error(e)),
            },
        }
    }

    /// Pattern 35: gives a claimed step back (the e-mail was certainly not sent), so that a
    /// later attempt may take it.
    pub async fn release_notice(
        &self,
        agreement: &Id,
        step: &NoticeStep,
        claim: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::agreement(agreement), keys::META)))
            .update_expression("REMOVE #n")
            .condition_expression("#n.#claim = :claim")
            .expression_attribute_names("#n", notice_attribute(step))
            .expression_attribute_names("#claim", "claim")
            .expression_attribute_values(":claim", s(claim))
            .send()
            .await;
        conditional(result)
    }

    /// Pattern 36: the outcome of a claimed step, its history event and (for a job's e-mail)
    /// the job's counter, all or nothing; only the holder of `claim` can record it, once.
    pub async fn finish_notice(
        &self,
        agreement: &Agreement,
        step: &NoticeStep,
        claim: &str,
        outcome: &NoticeRecord,
        event: &HistoryEvent,
        job: Option<(&Id, JobTally)>,
    ) -> Result<(), StoreError> {
        let event_item: super::item::Item = serde_dynamo::to_item(event)?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::agreement(&agreement.id), keys::META)))
            .update_expression(
                "SET #n = :outcome, #history = list_append(if_not_exists(#history, :empty), :event), \
                 #version = #version + :one, #updated = :now",
            )
            .condition_expression("#n.#claim = :claim")
            .expression_attribute_names("#n", notice_attribute(step))
            .expression_attribute_names("#claim", "claim")
            .expression_attribute_names("#history", HISTORY)
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_values(":outcome", to_value(outcome)?)
            .expression_attribute_values(":claim", s(claim))
            .expression_attribute_values(
                ":event",
                AttributeValue::L(vec![AttributeValue::M(event_item)]),
            )
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(event.at.to_string()))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        let mut actions = vec![TransactWriteItem::builder().update(update).build()];
        if let Some((job_id, tally)) = job {
            actions.push(self.add_action(&keys::job(job_id), keys::META, tally.attribute(), 1)?);
        }
        match self.transact(actions).await {
            Err(StoreError::Cancelled(reasons))
                if reasons.first().map(String::as_str) == Some("ConditionalCheckFailed") =>
            {
                Err(StoreError::ConditionFailed)
            }
            other => other,
        }
    }

    /// Pattern 37: pending agreements created from `oldest` to `newest` (days, inclusive) that
    /// were not declined and have no record of `step`: whom a reminder run e-mails.
    pub async fn due_for_reminder(
        &self,
        oldest: Day,
        newest: Day,
        step: &NoticeStep,
        page: PageSpec<'_>,
    ) -> Result<Page<Agreement>, StoreError> {
        let query = ListQuery::sharded(
            Some("GSI3"),
            keys::all_agreements_shards(),
            keys::AGREEMENT_PREFIX,
        )
        .sort_between(
            format!("{}{oldest}", keys::AGREEMENT_PREFIX),
            // Every instant of `newest` sorts before its next day's date.
            format!("{}{}", keys::AGREEMENT_PREFIX, newest.plus_days(1)),
        )
        .equal("status", AgreementStatus::Pending.as_str())
        .empty("declined_on")
        .empty(notice_attribute(step));
        self.list(&query, page).await
    }

    /// Pattern 16 for a re-acceptance reminder: the template's accepted agreements that still
    /// await `version` and have no record of `step`.
    pub async fn awaiting_reminder(
        &self,
        template: &Id,
        version: &str,
        step: &NoticeStep,
        page: PageSpec<'_>,
    ) -> Result<Page<Agreement>, StoreError> {
        let filter = crate::model::AgreementFilter {
            template_id: Some(template.clone()),
            status: Some(AgreementStatus::Accepted),
            ..Default::default()
        };
        let query = super::agreements::agreement_query(&filter)
            .equal("awaiting_document_version", version.to_string())
            .empty(notice_attribute(step));
        self.list(&query, page).await
    }
}
