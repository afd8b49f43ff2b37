//! Portal links, as staff manage them: make one for a contact of an account (and e-mail it),
//! list an account's, revoke one.

use serde::Serialize;

use crate::config::EmailSettings;
use crate::email::render::{self, AgreementLine, LinkMail};
use crate::error::{ServiceError, ServiceResult};
use crate::model::{
    Account, AgreementFilter, AgreementStatus, Id, Instant, LinkKey, LinkStatus, NewPortalLink,
    PortalLink, Principal,
};
use crate::services::notices::link_url;
use crate::services::PageRequest;
use crate::store::{Page, PageSpec, Store, StoreError};

/// A link as staff see it. `url` (which carries the token) is only in the answer that made it.
#[derive(Debug, Clone, Serialize)]
pub struct PortalLinkView {
    pub id: Id,
    pub account_id: Id,
    pub contact_id: Id,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub expires_at: Instant,
    pub status: LinkStatus,
    pub sent_at: Option<Instant>,
    pub created_at: Instant,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement_id: Option<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Instant>,
    /// Why `send` did not send it (the link was made all the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_error: Option<String>,
    pub version: u64,
}

impl PortalLinkView {
    pub fn of(link: PortalLink, now: Instant) -> Self {
        PortalLinkView {
            status: link.status_at(now),
            id: link.id,
            account_id: link.account_id,
            contact_id: link.contact_id,
            url: None,
            expires_at: link.expires_at,
            sent_at: link.sent_at,
            created_at: link.created_at,
            created_by: link.created_by,
            agreement_id: link.agreement_id,
            revoked_at: link.revoked_at,
            send_error: None,
            version: link.version,
        }
    }
}

fn parse_id(raw: &str, what: &str) -> ServiceResult<Id> {
    Id::parse(raw).ok_or_else(|| ServiceError::NotFound(format!("no {what} {raw}")))
}

async fn account(store: &Store, raw: &str) -> ServiceResult<Account> {
    let id = parse_id(raw, "account")?;
    store
        .by_id(&id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no account {raw}")))
}

/// The most agreements a link e-mail names.
const MAX_LISTED: usize = 20;

/// `POST /accounts/{id}/portal-links`.
pub async fn create_link(
    store: &Store,
    key: &LinkKey,
    email: Option<&EmailSettings>,
    portal_url: &str,
    caller: &Principal,
    account_id: &str,
    input: NewPortalLink,
) -> ServiceResult<PortalLinkView> {
    caller.require_staff()?;
    let account = account(store, account_id).await?;
    let contact_id = Id::parse(&input.contact_id);
    let contact = match contact_id {
        Some(c) => store.contact(&account.id, &c).await?,
        None => None,
    }
    .ok_or_else(|| {
        ServiceError::NotFound(format!(
            "account {} has no contact {}",
            account.id, input.contact_id
        ))
    })?;
    if input.send && email.is_none() {
        return Err(ServiceError::internal("EMAIL_SENDER is not configured"));
    }
    let now = Instant::now();
    let mut link = PortalLink::create(
        account.id.clone(),
        contact.id.clone(),
        input.expires_in_days,
        caller.subject().to_string(),
        None,
        now,
    )?;
    store.create_fresh(&link).await?;
    let url = link_url(portal_url, &key.sign(&link.claims()));
    let mut send_error = None;
    if let (true, Some(email)) = (input.send, email) {
        let pending = store
            .agreements(
                &AgreementFilter {
                    account_id: Some(account.id.clone()),
                    status: Some(AgreementStatus::Pending),
                    declined: Some(false),
                    ..AgreementFilter::default()
                },
                PageSpec {
                    limit: MAX_LISTED,
                    cursor: None,
                },
            )
            .await?;
        let mail = render::link_mail(&LinkMail {
            reminder: false,
            contact_name: contact.full_name(),
            account_name: account.name.clone(),
            agreements: pending
                .items
                .iter()
                .map(|a| AgreementLine {
                    name: a.name.clone(),
                    document_version: a.document_version.clone(),
                    change_summary: None,
                })
                .collect(),
            url: url.clone(),
            expires_on: link.expires_at.day().to_string(),
        });
        match email.mailer.send(&contact.email, &mail).await {
            Ok(message_id) => {
                let mut sent = link.clone();
                sent.sent_at = Some(Instant::now());
                sent.updated_at = Instant::now();
                sent.version += 1;
                store.replace(&sent, link.version).await?;
                tracing::info!(link_id = %link.id, message_id, "portal link e-mailed");
                link = sent;
            }
            Err(e) => {
                tracing::warn!(link_id = %link.id, error = %e, "portal link not e-mailed");
                send_error = Some(match e {
                    crate::email::SendError::Rejected(_) => "SES refused the e-mail".to_string(),
                    crate::email::SendError::NotSent(_) => {
                        "SES did not send the e-mail; send the link again later".to_string()
                    }
                    crate::email::SendError::Unknown(_) => {
                        "the outcome of the send is unknown".to_string()
                    }
                });
            }
        }
    }
    let mut view = PortalLinkView::of(link, Instant::now());
    view.url = Some(url);
    view.send_error = send_error;
    Ok(view)
}

/// `GET /accounts/{id}/portal-links`.
pub async fn list_links(
    store: &Store,
    caller: &Principal,
    account_id: &str,
    page: &PageRequest,
) -> ServiceResult<Page<PortalLinkView>> {
    caller.require_staff()?;
    let account = account(store, account_id).await?;
    let now = Instant::now();
    Ok(store
        .portal_links_of_account(&account.id, page.spec())
        .await?
        .map(|l| PortalLinkView::of(l, now)))
}

/// `POST /portal-links/{id}/revoke`: refused from then on (within the authorizer's cache time).
pub async fn revoke_link(
    store: &Store,
    caller: &Principal,
    id: &str,
) -> ServiceResult<PortalLinkView> {
    caller.require_staff()?;
    let id = parse_id(id, "portal link")?;
    for _ in 0..3 {
        let link: PortalLink = store
            .by_id(&id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no portal link {id}")))?;
        let revoked = link.revoked(caller.subject(), Instant::now())?;
        match store.replace(&revoked, link.version).await {
            Ok(()) => {
                tracing::info!(link_id = %id, "portal link revoked");
                return Ok(PortalLinkView::of(revoked, Instant::now()));
            }
            // Changed meanwhile (e.g. marked sent): read it again.
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::conflict(format!(
        "portal link {id} kept changing; try again"
    )))
}
