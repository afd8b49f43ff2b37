//! The key schema: every partition and sort key the table uses, in one place.
//! docs/data-model.md lists the access pattern each one serves.

use crate::model::Id;

/// The sort key of an entity's own item in its partition.
pub const META: &str = "#META";

pub fn provider(id: &Id) -> String {
    format!("PROVIDER#{id}")
}
pub fn account(id: &Id) -> String {
    format!("ACCOUNT#{id}")
}
pub fn template(id: &Id) -> String {
    format!("TEMPLATE#{id}")
}
pub fn agreement(id: &Id) -> String {
    format!("AGREEMENT#{id}")
}
pub fn contact_sk(id: &Id) -> String {
    format!("CONTACT#{id}")
}
pub fn domain(domain: &str) -> String {
    format!("DOMAIN#{domain}")
}

/// The sort key of a history event: ordered by the agreement version it records, then by id.
pub fn history_sk(agreement_version: u64, event_id: &Id) -> String {
    format!("HISTORY#{agreement_version:010}#{event_id}")
}

/// The guard item that holds an account's one open agreement of a template.
pub fn open_agreement_sk(template_id: &Id) -> String {
    format!("OPEN#TEMPLATE#{template_id}")
}

pub const ALL_PROVIDERS: &str = "PROVIDERS";
pub const ALL_ACCOUNTS: &str = "ACCOUNTS";
pub const ALL_TEMPLATES: &str = "TEMPLATES";
pub const ALL_AGREEMENTS: &str = "AGREEMENTS";

pub const CONTACT_PREFIX: &str = "CONTACT#";
pub const HISTORY_PREFIX: &str = "HISTORY#";
pub const PROVIDER_PREFIX: &str = "PROVIDER#";
pub const ACCOUNT_PREFIX: &str = "ACCOUNT#";
pub const TEMPLATE_PREFIX: &str = "TEMPLATE#";
pub const AGREEMENT_PREFIX: &str = "AGREEMENT#";

/// The keys one item is stored under: its primary key and its place in each index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    pub pk: String,
    pub sk: String,
    pub gsi1: Option<(String, String)>,
    pub gsi2: Option<(String, String)>,
    pub gsi3: Option<(String, String)>,
}

impl Keys {
    pub fn new(pk: String, sk: impl Into<String>) -> Self {
        Keys {
            pk,
            sk: sk.into(),
            ..Keys::default()
        }
    }

    pub fn gsi1(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi1 = Some((pk.into(), sk.into()));
        self
    }

    pub fn gsi2(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi2 = Some((pk.into(), sk.into()));
        self
    }

    pub fn gsi3(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi3 = Some((pk.into(), sk.into()));
        self
    }
}
