//! Agreement templates: access pattern 10 of docs/data-model.md (9 and 11 are `create` and
//! `replace`).

use super::list::ListQuery;
use super::{keys, Page, PageSpec, Store, StoreError};
use crate::model::{AgreementTemplate, Id, TemplateState};

/// A provider has few templates; a sync reads them all.
const MAX_TEMPLATES: usize = 1000;

impl Store {
    /// Pattern 10: the templates, all or of one provider, optionally in one state.
    pub async fn templates(
        &self,
        provider: Option<&Id>,
        state: Option<TemplateState>,
        page: PageSpec<'_>,
    ) -> Result<Page<AgreementTemplate>, StoreError> {
        let mut query = match provider {
            Some(p) => ListQuery::index(Some("GSI2"), keys::provider(p), keys::TEMPLATE_PREFIX),
            None => ListQuery::index(
                Some("GSI1"),
                keys::ALL_TEMPLATES.into(),
                keys::TEMPLATE_PREFIX,
            ),
        };
        if let Some(state) = state {
            query = query.equal("state", state.as_str());
        }
        self.list(&query, page).await
    }

    /// Pattern 10, whole: every template of a provider (a sync creates agreements of the active).
    pub async fn templates_of_provider(
        &self,
        provider: &Id,
    ) -> Result<Vec<AgreementTemplate>, StoreError> {
        self.collection(
            Some("GSI2"),
            &keys::provider(provider),
            keys::TEMPLATE_PREFIX,
            MAX_TEMPLATES,
        )
        .await
    }
}
