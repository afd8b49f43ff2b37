//! The e-mails of an agreement — its signing contact's portal link, reminders, the receipt of
//! acceptance — each sent at most once per (agreement, step).
//!
//! A step is claimed on the agreement's item before the send and its outcome recorded after
//! (with the history event, and the job's counter for a bulk job's e-mail), so a redelivered
//! message or a second reminder run finds it taken. A claim whose sender vanished (the function
//! died between claim and record) is not sent again, since the e-mail may have gone: it is
//! recorded as failed once it is older than [`STALE_CLAIM_MS`].

use std::collections::HashMap;

use crate::config::EmailSettings;
use crate::email::render::{self, AgreementLine, LinkMail, ReceiptMail, Rendered};
use crate::email::SendError;
use crate::error::{ServiceError, ServiceResult};
use crate::model::{
    Actor, Agreement, AgreementStatus, AgreementTemplate, Contact, Day, HistoryAction,
    HistoryEvent, Id, Instant, LinkKey, NoticeRecord, NoticeStep, PortalLink, Principal,
};
use crate::queue::{EmailQueue, NoticeMessage};
use crate::store::{Claim, JobTally, PageSpec, Store, StoreError, Wanted};

/// A claim older than this belongs to a sender that stopped (a sender's function runs at most
/// 60 s): its step is recorded as failed, never sent again.
pub const STALE_CLAIM_MS: i64 = 120_000;

/// Days a missed reminder run is made good by a later one.
pub const REMINDER_CATCH_UP_DAYS: u16 = 2;

/// What sending needs: the store, SES, the link key, and the portal page's address.
#[derive(Clone, Copy)]
pub struct Notifier<'a> {
    pub store: &'a Store,
    pub email: &'a EmailSettings,
    pub key: &'a LinkKey,
    /// The portal page, e.g. `https://api.example.com/portal`; links add `#token=…`.
    pub portal_url: &'a str,
}

/// What came of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent {
        to: String,
        at: Instant,
        message_id: String,
    },
    /// Recorded as failed (refused, no one to send to, or an outcome that cannot be known).
    Failed(String),
    /// Not sent and not recorded: the agreement no longer wants it (accepted, declined,
    /// inactive, gone).
    NotWanted(String),
    /// Another sender took the step; it was sent, failed, or is under way.
    AlreadyTaken,
}

/// Why a step must be tried again later (the message goes back to the queue).
#[derive(Debug, thiserror::Error)]
pub enum RetryLater {
    #[error("another sender is on this step; try again after it")]
    InProgress,
    #[error("SES did not send it: {0}")]
    NotSent(#[source] SendError),
    /// Failed before SES was asked (reading the contact, writing the link): certainly not sent.
    #[error("not sent: {0}")]
    BeforeSend(#[source] Box<RetryLater>),
    #[error("the table could not be read or written")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The portal page's URL carrying a link's token.
pub fn link_url(portal_url: &str, token: &str) -> String {
    format!("{}#token={token}", portal_url.trim_end_matches('/'))
}

impl Notifier<'_> {
    /// Sends `step` of `agreement_id` unless it was sent (or taken) before.
    pub async fn deliver(
        &self,
        agreement_id: &Id,
        step: &NoticeStep,
        job_id: Option<&Id>,
    ) -> Result<Delivery, RetryLater> {
        let store = self.store;
        let claim = Id::generate().to_string();
        let agreement = match store
            .claim_notice(agreement_id, step, step.wanted(), &claim, Instant::now())
            .await?
        {
            Claim::Taken(agreement) => agreement,
            Claim::NoAgreement => return Ok(Delivery::NotWanted("no such agreement".into())),
            Claim::NotWanted(agreement) => {
                let why = unwanted(&agreement, step)
                    .unwrap_or_else(|| "the agreement changed while it was claimed".into());
                return Ok(Delivery::NotWanted(why));
            }
            Claim::Held(Some(NoticeRecord::Sending { claim: held, at })) => {
                let age = i64::try_from(Instant::now().unix_millis()).unwrap_or(i64::MAX) - at;
                if age < STALE_CLAIM_MS {
                    return Err(RetryLater::InProgress);
                }
                let reason = "the sender stopped after taking this e-mail; it may have gone, \
                              so it is not sent again";
                // The agreement as recorded, for the failure's history event.
                let Some(agreement) = store.by_id::<Agreement>(agreement_id).await? else {
                    return Ok(Delivery::NotWanted("no such agreement".into()));
                };
                self.record_failure(&agreement, step, &held, None, reason, job_id)
                    .await?;
                return Ok(Delivery::Failed(reason.into()));
            }
            Claim::Held(_) => return Ok(Delivery::AlreadyTaken),
        };
        match self.send_claimed(&agreement, step, &claim, job_id).await {
            Ok(delivery) => Ok(delivery),
            Err(e @ (RetryLater::NotSent(_) | RetryLater::BeforeSend(_))) => {
                // Certainly not sent: give the step back for the next attempt.
                store.release_notice(agreement_id, step, &claim).await?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// On a message's last receive: records a step that still could not be sent as failed, once,
    /// so that its job's counts add up. A step another sender holds is left to it.
    pub async fn give_up(
        &self,
        agreement_id: &Id,
        step: &NoticeStep,
        job_id: Option<&Id>,
        reason: &str,
    ) -> Result<(), StoreError> {
        let claim = Id::generate().to_string();
        match self
            .store
            .claim_notice(agreement_id, step, Wanted::Any, &claim, Instant::now())
            .await?
        {
            Claim::Taken(agreement) => {
                self.record_failure(&agreement, step, &claim, None, reason, job_id)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// What a step sends, to whom: reads the contact, account and template and, for a link or
    /// reminder, writes the portal link the e-mail carries. `None`: no one to send to.
    async fn prepare(
        &self,
        agreement: &Agreement,
        step: &NoticeStep,
    ) -> Result<Option<(Contact, Rendered, Option<PortalLink>)>, RetryLater> {
        let store = self.store;
        let (account, contacts) = store.account_with_contacts(&agreement.account_id).await?;
        // An accepted agreement's e-mails go to its signer while the signer is a contact.
        let signer = agreement
            .signed_by
            .as_ref()
            .and_then(|signer| contacts.iter().find(|c| &c.id == signer));
        let contact = match step {
            NoticeStep::Receipt(_) => signer,
            _ if agreement.awaits_reacceptance() => {
                signer.or_else(|| Contact::primary_of(&contacts))
            }
            _ => Contact::primary_of(&contacts),
        };
        let Some(contact) = contact.cloned() else {
            return Ok(None);
        };
        let account_name = account.map(|a| a.name).unwrap_or_default();
        let (mail, link) = match step {
            NoticeStep::Receipt(version) => {
                let template: Option<AgreementTemplate> =
                    store.by_id(&agreement.template_id).await?;
                let mail = render::receipt_mail(&ReceiptMail {
                    contact_name: contact.full_name(),
                    account_name,
                    agreement_id: agreement.id.to_string(),
                    agreement_name: agreement.name.clone(),
                    document_version: version.clone(),
                    agreement_link: template
                        .as_ref()
                        .map(|t| t.agreement_link.clone())
                        .unwrap_or_default(),
                    signer_name: contact.full_name(),
                    signer_email: contact.email.clone(),
                    accepted_at: agreement.updated_at.to_string(),
                });
                (mail, None)
            }
            _ => {
                let link = PortalLink::create(
                    agreement.account_id.clone(),
                    contact.id.clone(),
                    None,
                    format!("system:{}", step.action_name()),
                    Some(agreement.id.clone()),
                    Instant::now(),
                )?;
                store.create_fresh(&link).await?;
                let url = link_url(self.portal_url, &self.key.sign(&link.claims()));
                let mail = render::link_mail(&LinkMail {
                    reminder: !matches!(step, NoticeStep::Link | NoticeStep::Reaccept(_)),
                    contact_name: contact.full_name(),
                    account_name,
                    agreements: vec![self.line(agreement).await?],
                    url,
                    expires_on: link.expires_at.day().to_string(),
                });
                (mail, Some(link))
            }
        };
        Ok(Some((contact, mail, link)))
    }

    /// The agreement as an e-mail names it: for one awaiting a newer document version, that
    /// version and what changed in it.
    async fn line(&self, agreement: &Agreement) -> Result<AgreementLine, RetryLater> {
        let Some(awaiting) = agreement
            .awaiting_document_version
            .clone()
            .filter(|_| agreement.awaits_reacceptance())
        else {
            return Ok(AgreementLine {
                name: agreement.name.clone(),
                document_version: agreement.document_version.clone(),
                change_summary: None,
            });
        };
        let template: Option<AgreementTemplate> = self.store.by_id(&agreement.template_id).await?;
        let change_summary = template
            .filter(|t| t.document_version == awaiting)
            .and_then(|t| t.change_summary)
            .or_else(|| Some("a new version of this agreement".into()));
        Ok(AgreementLine {
            name: agreement.name.clone(),
            document_version: awaiting,
            change_summary,
        })
    }

    async fn send_claimed(
        &self,
        agreement: &Agreement,
        step: &NoticeStep,
        claim: &str,
        job_id: Option<&Id>,
    ) -> Result<Delivery, RetryLater> {
        let prepared = self
            .prepare(agreement, step)
            .await
            .map_err(|e| RetryLater::BeforeSend(Box::new(e)))?;
        let Some((contact, mail, link)) = prepared else {
            let reason = "the account has no contact to e-mail";
            self.record_failure(agreement, step, claim, None, reason, job_id)
                .await?;
            return Ok(Delivery::Failed(reason.into()));
        };
        match self.email.mailer.send(&contact.email, &mail).await {
            Ok(message_id) => {
                let at = Instant::now();
                let details = serde_json::json!({
                    "step": step.key(),
                    "to": contact.email,
                    "contact_id": contact.id,
                    "message_id": message_id,
                    "link_id": link.as_ref().map(|l| l.id.clone()),
                    "link_expires_at": link.as_ref().map(|l| l.expires_at),
                });
                let outcome = NoticeRecord::Sent {
                    at: at.to_string(),
                    message_id: message_id.clone(),
                };
                let event = event(agreement, step.action(), details, at);
                self.store
                    .finish_notice(
                        agreement,
                        step,
                        claim,
                        &outcome,
                        &event,
                        job_id.map(|j| (j, JobTally::Sent)),
                    )
                    .await?;
                tracing::info!(agreement_id = %agreement.id, step = %step, message_id, "e-mail sent");
                Ok(Delivery::Sent {
                    to: contact.email,
                    at,
                    message_id,
                })
            }
            Err(e @ SendError::NotSent(_)) => Err(RetryLater::NotSent(e)),
            Err(e) => {
                let reason = e.to_string();
                tracing::warn!(agreement_id = %agreement.id, step = %step, error = %reason, "e-mail failed");
                self.record_failure(agreement, step, claim, Some(&contact), &reason, job_id)
                    .await?;
                Ok(Delivery::Failed(reason))
            }
        }
    }

    async fn record_failure(
        &self,
        agreement: &Agreement,
        step: &NoticeStep,
        claim: &str,
        contact: Option<&Contact>,
        reason: &str,
        job_id: Option<&Id>,
    ) -> Result<(), StoreError> {
        let at = Instant::now();
        let details = serde_json::json!({
            "step": step.key(),
            "to": contact.map(|c| c.email.clone()),
            "reason": reason,
        });
        let outcome = NoticeRecord::Failed {
            at: at.to_string(),
            reason: reason.to_string(),
        };
        let event = event(agreement, HistoryAction::NoticeFailed, details, at);
        match self
            .store
            .finish_notice(
                agreement,
                step,
                claim,
                &outcome,
                &event,
                job_id.map(|j| (j, JobTally::Failed)),
            )
            .await
        {
            // Another sender recorded it first: one record is enough.
            Err(StoreError::ConditionFailed) => Ok(()),
            other => other,
        }
    }
}

impl NoticeStep {
    /// The state of the agreement the step is sent in.
    fn wanted(&self) -> Wanted {
        match self {
            NoticeStep::Receipt(_) => Wanted::Accepted,
            // Staff asked for this one: a declined agreement is still reminded, and so is an
            // accepted one awaiting a newer version.
            NoticeStep::Manual(_) => Wanted::PendingOrAwaiting,
            NoticeStep::Reaccept(version) | NoticeStep::ReacceptReminder { version, .. } => {
                Wanted::AwaitingVersion(version.clone())
            }
            NoticeStep::Link | NoticeStep::Reminder(_) => Wanted::PendingNotDeclined,
        }
    }

    fn action_name(&self) -> &'static str {
        match self {
            NoticeStep::Link => "link",
            NoticeStep::Reminder(_) | NoticeStep::ReacceptReminder { .. } => "reminder",
            NoticeStep::Manual(_) => "remind",
            NoticeStep::Receipt(_) => "receipt",
            NoticeStep::Reaccept(_) => "reaccept",
        }
    }
}

/// Why the agreement no longer wants `step`, if it does not.
fn unwanted(agreement: &Agreement, step: &NoticeStep) -> Option<String> {
    match step {
        NoticeStep::Receipt(_) if agreement.status != AgreementStatus::Accepted => Some(format!(
            "the agreement is {}, not accepted",
            agreement.status.as_str()
        )),
        NoticeStep::Receipt(_) => None,
        // Staff asked for this one: a declined agreement is still reminded.
        NoticeStep::Manual(_) if agreement.awaits_reacceptance() => None,
        NoticeStep::Manual(_) if agreement.status != AgreementStatus::Pending => Some(format!(
            "the agreement is {}, not pending",
            agreement.status.as_str()
        )),
        NoticeStep::Manual(_) => None,
        NoticeStep::Reaccept(version) | NoticeStep::ReacceptReminder { version, .. }
            if agreement.awaiting_document_version.as_deref() != Some(version.as_str()) =>
        {
            Some(format!(
                "the agreement does not await document version {version}"
            ))
        }
        NoticeStep::Reaccept(_) | NoticeStep::ReacceptReminder { .. } => None,
        _ if agreement.declined_on.is_some() && agreement.status == AgreementStatus::Pending => {
            Some("the customer declined it".into())
        }
        _ if agreement.status != AgreementStatus::Pending => Some(format!(
            "the agreement is {}, not pending",
            agreement.status.as_str()
        )),
        _ => None,
    }
}

fn event(
    agreement: &Agreement,
    action: HistoryAction,
    details: serde_json::Value,
    at: Instant,
) -> HistoryEvent {
    HistoryEvent {
        id: Id::generate(),
        agreement_id: agreement.id.clone(),
        at,
        action,
        from_status: Some(agreement.status),
        to_status: agreement.status,
        // The record's version after this change: the update adds one to what is stored.
        agreement_version: agreement.version + 1,
        actor: Actor::system("email"),
        source: agreement.source,
        reason: None,
        details: Some(details),
    }
}

/// `POST /agreements/{id}/remind`: a reminder now, to the signing contact; 409 unless pending.
pub async fn remind_now(
    notifier: Notifier<'_>,
    caller: &Principal,
    id: &str,
) -> ServiceResult<Delivery> {
    caller.require_staff()?;
    let id = Id::parse(id).ok_or_else(|| ServiceError::NotFound(format!("no agreement {id}")))?;
    let agreement: Agreement = notifier
        .store
        .by_id(&id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no agreement {id}")))?;
    if agreement.status != AgreementStatus::Pending && !agreement.awaits_reacceptance() {
        return Err(ServiceError::conflict(format!(
            "agreement {id} is {}; only a pending agreement (or an accepted one awaiting a new \
             document version) is reminded",
            agreement.status.as_str()
        )));
    }
    let step = NoticeStep::Manual(Id::generate());
    let delivered = notifier
        .deliver(&id, &step, None)
        .await
        .map_err(|e| match e {
            RetryLater::BeforeSend(cause) => *cause,
            e => e,
        });
    match delivered {
        Ok(Delivery::Failed(reason)) => Err(ServiceError::EmailFailed {
            detail: "the e-mail was not sent (see the agreement's history)".into(),
            source: SendError::Rejected(reason),
        }),
        Ok(Delivery::NotWanted(why)) => Err(ServiceError::conflict(why)),
        Ok(delivery) => Ok(delivery),
        Err(RetryLater::NotSent(e)) => Err(ServiceError::EmailFailed {
            detail: "SES did not send the e-mail now; try again later".into(),
            source: e,
        }),
        Err(RetryLater::Store(e)) => Err(e.into()),
        Err(RetryLater::Service(e)) => Err(e),
        Err(RetryLater::InProgress) => Err(ServiceError::conflict("a reminder is being sent")),
        Err(e @ RetryLater::BeforeSend(_)) => Err(ServiceError::internal(e.to_string())),
    }
}

/// Queues the receipt of an acceptance; a failure to queue is logged, the acceptance stands.
pub async fn queue_receipt(queue: Option<&EmailQueue>, agreement: &Agreement) {
    let Some(queue) = queue else { return };
    let step = NoticeStep::Receipt(
        agreement
            .accepted_document_version
            .clone()
            .unwrap_or_else(|| agreement.document_version.clone()),
    );
    let message = NoticeMessage::new(agreement.id.as_str(), &step, None);
    if let Err(e) = queue.send_all(&[message]).await {
        tracing::error!(agreement_id = %agreement.id, error = %crate::error::Chain(&e), "the receipt could not be queued");
    }
}

/// What a reminder run queued, per step.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReminderRun {
    pub today: String,
    pub queued: HashMap<String, usize>,
}

/// The daily run: queues the reminder of every pending, undeclined agreement whose reminder day
/// is `today` (or was up to [`REMINDER_CATCH_UP_DAYS`] before, if that run was missed) and that
/// has no record of that reminder. Reads only the agreements created on those days, through the
/// index of all agreements by creation time; never the table.
///
/// Re-acceptance follows the same cadence, counted from the day a document version asking for
/// it was published: each open template whose current version asks for re-acceptance and was
/// published on a due day has its agreements still awaiting that version reminded
/// (`reaccept-reminder:<day>:<version>`, once each).
pub async fn queue_reminders(
    store: &Store,
    queue: &EmailQueue,
    cadence: &crate::model::ReminderCadence,
    today: Day,
) -> ServiceResult<ReminderRun> {
    let mut run = ReminderRun {
        today: today.to_string(),
        queued: HashMap::new(),
    };
    let due = cadence.due_on(today, REMINDER_CATCH_UP_DAYS);
    for (step, oldest, newest) in &due {
        let queued = queue_all(queue, step, |cursor| async move {
            let page = PageSpec {
                limit: 500,
                cursor: cursor.as_deref(),
            };
            store.due_for_reminder(*oldest, *newest, step, page).await
        })
        .await?;
        tracing::info!(step = %step, %oldest, %newest, queued, "reminders queued");
        run.queued.insert(step.key(), queued);
    }
    for (template, version) in reacceptances(store, today).await? {
        for (step, oldest, newest) in &due {
            let NoticeStep::Reminder(day) = step else {
                continue;
            };
            let published = version.published_at.day();
            if published < *oldest || published > *newest {
                continue;
            }
            let step = NoticeStep::ReacceptReminder {
                version: version.document_version.clone(),
                day: *day,
            };
            let (step, template_id) = (&step, &template.id);
            let awaited = version.document_version.as_str();
            let queued = queue_all(queue, step, |cursor| async move {
                let page = PageSpec {
                    limit: 500,
                    cursor: cursor.as_deref(),
                };
                store
                    .awaiting_reminder(template_id, awaited, step, page)
                    .await
            })
            .await?;
            tracing::info!(step = %step, template_id = %template.id, queued, "re-acceptance reminders queued");
            *run.queued.entry(step.key()).or_default() += queued;
        }
    }
    Ok(run)
}

/// Queues `step` for every agreement of every page `read` answers; answers how many.
async fn queue_all<F, Fut>(
    queue: &EmailQueue,
    step: &NoticeStep,
    mut read: F,
) -> ServiceResult<usize>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<crate::store::Page<Agreement>, StoreError>>,
{
    let mut cursor: Option<String> = None;
    let mut queued = 0usize;
    loop {
        let page = read(cursor.take()).await?;
        let messages: Vec<NoticeMessage> = page
            .items
            .iter()
            .map(|a| NoticeMessage::new(a.id.as_str(), step, None))
            .collect();
        queued += queue.send_all(&messages).await?;
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok(queued);
        }
    }
}

/// The open templates whose current document version asks for re-acceptance, with that
/// version's record.
async fn reacceptances(
    store: &Store,
    today: Day,
) -> ServiceResult<Vec<(AgreementTemplate, crate::model::TemplateVersion)>> {
    let mut found = Vec::new();
    for template in store.all_templates().await? {
        if !template.is_open(today) {
            continue;
        }
        let current = store
            .all_template_versions(&template.id)
            .await?
            .into_iter()
            .rev()
            .find(|v| v.document_version == template.document_version);
        if let Some(version) = current.filter(|v| v.requires_reacceptance) {
            found.push((template, version));
        }
    }
    Ok(found)
}
