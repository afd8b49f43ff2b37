//! Agreement templates: access pattern 10 of docs/data-model.md (9 and 11 are `create` and
//! `replace`).

use super::item::{n, to_item};
use super::list::ListQuery;
use super::{keys, Page, PageSpec, Store, StoreError};
use crate::model::{AgreementTemplate, BulkJob, Id, TemplateState, TemplateVersion};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

/// A provider has few templates; a sync reads them all.
const MAX_TEMPLATES: usize = 1000;

/// A template's versions are published by hand, a few a year.
const MAX_VERSIONS: usize = 10_000;

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

    /// Pattern 10, whole: every template (the daily expiry run), at most `MAX_TEMPLATES` per
    /// provider's worth.
    pub async fn all_templates(&self) -> Result<Vec<AgreementTemplate>, StoreError> {
        self.collection(
            Some("GSI1"),
            keys::ALL_TEMPLATES,
            keys::TEMPLATE_PREFIX,
            MAX_TEMPLATES * 10,
        )
        .await
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

    /// Pattern 9 with its first version: a new template and the record of the version it was
    /// created on, together.
    pub async fn create_template(
        &self,
        template: &AgreementTemplate,
        first: &TemplateVersion,
    ) -> Result<(), StoreError> {
        let actions = vec![
            self.put_new_action(to_item(template)?)?,
            self.put_new_action(to_item(first)?)?,
        ];
        self.transact(actions).await.map_err(cancelled_as_condition)
    }

    /// Pattern 42: a new document version: the template on it (if its stored version is still
    /// `expected`), the version's record and, when accepted agreements must accept it again,
    /// the job that flags them — all or nothing.
    pub async fn publish_template_version(
        &self,
        next: &AgreementTemplate,
        expected: u64,
        version: &TemplateVersion,
        job: Option<&BulkJob>,
    ) -> Result<(), StoreError> {
        let mut new = vec![to_item(version)?];
        if let Some(job) = job {
            new.push(to_item(job)?);
        }
        self.replace_template_with(next, expected, new).await
    }

    /// Pattern 44: an expired template ended (inactive) together with the job that ends its
    /// pending agreements, if its stored version is still `expected`.
    pub async fn expire_template(
        &self,
        next: &AgreementTemplate,
        expected: u64,
        job: &BulkJob,
    ) -> Result<(), StoreError> {
        self.replace_template_with(next, expected, vec![to_item(job)?])
            .await
    }

    /// The template replaced under a version check and new items written, all or nothing.
    async fn replace_template_with(
        &self,
        next: &AgreementTemplate,
        expected: u64,
        new: Vec<super::item::Item>,
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(next)?))
            .condition_expression("attribute_exists(PK) AND #version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(expected))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        let mut actions = vec![TransactWriteItem::builder().put(put).build()];
        for item in new {
            actions.push(self.put_new_action(item)?);
        }
        self.transact(actions).await.map_err(cancelled_as_condition)
    }

    /// Pattern 43: a template's versions, oldest first.
    pub async fn template_versions(
        &self,
        template: &Id,
        page: PageSpec<'_>,
    ) -> Result<Page<TemplateVersion>, StoreError> {
        let query = ListQuery::table(keys::template(template), keys::VERSION_PREFIX);
        self.list(&query, page).await
    }

    /// Pattern 43, whole: a template's versions, oldest first (the daily reminder run looks for
    /// the record of the current one).
    pub async fn all_template_versions(
        &self,
        template: &Id,
    ) -> Result<Vec<TemplateVersion>, StoreError> {
        self.collection(
            None,
            &keys::template(template),
            keys::VERSION_PREFIX,
            MAX_VERSIONS,
        )
        .await
    }
}

/// A transaction cancelled by a condition is the caller's `ConditionFailed`.
fn cancelled_as_condition(e: StoreError) -> StoreError {
    match e {
        StoreError::Cancelled(reasons) if reasons.iter().any(|r| r == "ConditionalCheckFailed") => {
            StoreError::ConditionFailed
        }
        e => e,
    }
}
