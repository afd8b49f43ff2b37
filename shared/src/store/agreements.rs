//! Agreements and their history: access patterns 12–18 of docs/data-model.md.

use std::collections::HashMap;

use super::item::{s, to_item, to_value};
use super::list::ListQuery;
use super::{keys, Page, PageSpec, Store, StoreError};
use crate::model::{Agreement, AgreementFilter, AgreementStatus, HistoryEvent, Id};

/// The attribute of an agreement's item that holds its history events, oldest first.
pub const HISTORY: &str = "history";

impl Store {
    /// Pattern 12: writes a new agreement with its first history events into its slot, unless
    /// the slot is taken; then answers the agreement that holds it, read in the same request.
    pub async fn put_agreement_in_slot(
        &self,
        agreement: &Agreement,
        history: &[HistoryEvent],
    ) -> Result<Option<Agreement>, StoreError> {
        self.put_new_or_existing(agreement_item(agreement, history)?)
            .await
    }

    /// Pattern 14: the agreement's next state and its history event, in one request, if the
    /// stored version is still `expected_version` (`ConditionFailed` otherwise).
    pub async fn update_agreement(
        &self,
        next: &Agreement,
        expected_version: u64,
        event: &HistoryEvent,
    ) -> Result<(), StoreError> {
        self.update_appending(to_item(next)?, expected_version, HISTORY, event)
            .await
    }

    /// Pattern 14 without an event: the agreement's next state (e.g. an attestation's scheduled
    /// check moving on) if the stored version is still `expected_version`.
    pub async fn update_agreement_quietly(
        &self,
        next: &Agreement,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.update_fields(to_item(next)?, expected_version, HISTORY, None)
            .await
    }

    /// Pattern 14, without a change of state: an event appended to the agreement's history
    /// (e.g. the outcome of an attestation).
    pub async fn note_on_agreement(&self, id: &Id, event: &HistoryEvent) -> Result<(), StoreError> {
        self.append_to_list(&keys::agreement(id), keys::META, HISTORY, event)
            .await
    }

    /// Patterns 15–17: agreements by the most selective collection for the filter (an
    /// account's, a template's, or all), the other filters applied to it.
    pub async fn agreements(
        &self,
        filter: &AgreementFilter,
        page: PageSpec<'_>,
    ) -> Result<Page<Agreement>, StoreError> {
        self.list(&agreement_query(filter), page).await
    }

    /// Patterns 15–17 with each agreement's history (the export's evidence): the same list,
    /// read with the `history` attribute the index projects.
    pub async fn agreements_with_history(
        &self,
        filter: &AgreementFilter,
        page: PageSpec<'_>,
    ) -> Result<Page<AgreementWithHistory>, StoreError> {
        self.list(&agreement_query(filter), page).await
    }

    /// Pattern 15 for the portal: an account's agreements that are not inactive.
    pub async fn open_agreements_of_account(
        &self,
        account: &Id,
        page: PageSpec<'_>,
    ) -> Result<Page<Agreement>, StoreError> {
        let filter = AgreementFilter {
            account_id: Some(account.clone()),
            ..AgreementFilter::default()
        };
        let query =
            agreement_query(&filter).not_equal("status", AgreementStatus::Inactive.as_str());
        self.list(&query, page).await
    }

    /// Pattern 18: an agreement's whole history, oldest first (None when there is no agreement).
    pub async fn history(&self, id: &Id) -> Result<Option<Vec<HistoryEvent>>, StoreError> {
        self.get_list(&keys::agreement(id), keys::META, HISTORY)
            .await
    }

    /// Pattern 18, paged by position under a sealed cursor.
    pub async fn history_page(
        &self,
        id: &Id,
        page: PageSpec<'_>,
    ) -> Result<Option<Page<HistoryEvent>>, StoreError> {
        let Some(events) = self.history(id).await? else {
            return Ok(None);
        };
        let scope = format!("history:{id}");
        let start = match page.cursor {
            None => 0,
            Some(c) => self
                .cursors()
                .await?
                .decode(&scope, c)?
                .get("offset")
                .and_then(|v| v.as_s().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or(StoreError::BadCursor)?,
        };
        let end = start.saturating_add(page.limit).min(events.len());
        let next_cursor = if end < events.len() {
            let key = HashMap::from([("offset".to_string(), s(end.to_string()))]);
            Some(self.cursors().await?.encode(&scope, &key)?)
        } else {
            None
        };
        Ok(Some(Page {
            items: events
                .get(start..end)
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
            next_cursor,
        }))
    }
}

/// An agreement as listed, with its history events, oldest first.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AgreementWithHistory {
    #[serde(flatten)]
    pub agreement: Agreement,
    #[serde(default)]
    pub history: Vec<HistoryEvent>,
}

/// An agreement's item with its history list.
pub(super) fn agreement_item(
    agreement: &Agreement,
    history: &[HistoryEvent],
) -> Result<super::item::Item, StoreError> {
    let mut item = to_item(agreement)?;
    // What is not set yet is not written: absent and null read alike (the model's optional
    // fields, every condition and filter), and the bytes count against the write's units.
    item.retain(|_, value| !matches!(value, aws_sdk_dynamodb::types::AttributeValue::Null(_)));
    item.insert(HISTORY.into(), to_value(&history)?);
    Ok(item)
}

/// The most selective collection for the filters; the rest become filter expressions.
pub(super) fn agreement_query(filter: &AgreementFilter) -> ListQuery {
    let mut query = if let Some(account) = &filter.account_id {
        let q = ListQuery::index(Some("GSI1"), keys::account(account), keys::AGREEMENT_PREFIX);
        match &filter.template_id {
            Some(t) => q.equal("template_id", t.to_string()),
            None => q,
        }
    } else {
        // Every agreement, its shards merged; a template's are those of its `template_id`,
        // which the index projects, so that filter runs in the index.
        let all = ListQuery::sharded(
            Some("GSI3"),
            keys::all_agreements_shards(),
            keys::AGREEMENT_PREFIX,
        );
        match &filter.template_id {
            Some(t) => all.equal("template_id", t.to_string()),
            None => all,
        }
    };
    if filter.created_from.is_some() || filter.created_to.is_some() {
        // The sort keys carry `created_at`, so a creation range is a key condition. A day's
        // instants (`<day>T…`) sort after the day itself and before `<day>~`.
        let from = filter
            .created_from
            .map(|d| d.to_string())
            .unwrap_or_default();
        let to = filter
            .created_to
            .map(|d| format!("{d}~"))
            .unwrap_or_else(|| "~".to_string());
        query = query.sort_between(
            format!("{}{from}", keys::AGREEMENT_PREFIX),
            format!("{}{to}", keys::AGREEMENT_PREFIX),
        );
    }
    if let Some(from) = filter.signed_from {
        query = query.at_least("signed_on", from.to_string());
    }
    if let Some(to) = filter.signed_to {
        query = query.at_most("signed_on", to.to_string());
    }
    if let Some(p) = &filter.provider_id {
        query = query.equal("provider_id", p.to_string());
    }
    if let Some(st) = filter.status {
        query = query.equal("status", st.as_str());
    }
    query = match filter.declined {
        Some(true) => query.set("declined_on"),
        Some(false) => query.empty("declined_on"),
        None => query,
    };
    match filter.awaiting_reacceptance {
        Some(true) => query.set("awaiting_document_version"),
        Some(false) => query.empty("awaiting_document_version"),
        None => query,
    }
}
