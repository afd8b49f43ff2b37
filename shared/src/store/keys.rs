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
/// The sort key, in an account's partition, of the item naming its primary contact.
pub const PRIMARY_CONTACT: &str = "PRIMARY_CONTACT";

pub fn domain(domain: &str) -> String {
    format!("DOMAIN#{domain}")
}

/// A provider account's item sits in its provider's partition, keyed by the provider's own id,
/// so the key itself makes (provider, provider-specific id) unique and the bulk worker can page
/// through a provider's customers in key order.
pub fn provider_account_sk(provider_specific_id: &str) -> String {
    format!("PA#{provider_specific_id}")
}

/// A provider account in its account's collection (GSI1).
pub fn provider_account_by_account(provider_id: &Id, provider_specific_id: &str) -> String {
    format!("PA#{provider_id}#{provider_specific_id}")
}

pub fn contract(id: &Id) -> String {
    format!("CONTRACT#{id}")
}

pub fn job(id: &Id) -> String {
    format!("JOB#{id}")
}

pub fn export(id: &Id) -> String {
    format!("EXPORT#{id}")
}

/// A part of an import's rows, in its job's partition.
pub fn import_part_sk(part: u32) -> String {
    format!("ROWS#{part:05}")
}

/// An agreement's place in its collections (account, template, all): oldest first.
pub fn agreement_in_collection(created_at: &str, id: &Id) -> String {
    format!("AGREEMENT#{created_at}#{id}")
}

pub fn portal_link(id: &Id) -> String {
    format!("LINK#{id}")
}

pub const ALL_PROVIDERS: &str = "PROVIDERS";
pub const ALL_ACCOUNTS: &str = "ACCOUNTS";
pub const ALL_TEMPLATES: &str = "TEMPLATES";
/// Every agreement, in [`AGREEMENT_SHARDS`] partitions of GSI3 by a hash of its id, so that no
/// index partition takes more than its share of a bulk job's writes.
pub const AGREEMENT_SHARDS: u32 = 16;
const ALL_AGREEMENTS: &str = "AGREEMENTS";

/// The all-agreements partition an agreement is written to: `AGREEMENTS#00` … `AGREEMENTS#15`
/// by FNV-1a of its id (stable across builds and platforms).
pub fn all_agreements_shard(id: &Id) -> String {
    let hash = id.as_str().bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{ALL_AGREEMENTS}#{:02}", hash % AGREEMENT_SHARDS)
}

/// Every partition of the all-agreements collection, in order.
pub fn all_agreements_shards() -> Vec<String> {
    (0..AGREEMENT_SHARDS)
        .map(|shard| format!("{ALL_AGREEMENTS}#{shard:02}"))
        .collect()
}
/// Every job, newest first by id (GSI2).
pub const ALL_JOBS: &str = "JOBS";
/// Jobs that have not ended (sparse: an ended job leaves it).
pub const OPEN_JOBS: &str = "OPEN_JOBS";

pub const CONTACT_PREFIX: &str = "CONTACT#";
pub const PROVIDER_ACCOUNT_PREFIX: &str = "PA#";
pub const PROVIDER_PREFIX: &str = "PROVIDER#";
pub const ACCOUNT_PREFIX: &str = "ACCOUNT#";
pub const TEMPLATE_PREFIX: &str = "TEMPLATE#";
pub const AGREEMENT_PREFIX: &str = "AGREEMENT#";
pub const CONTRACT_PREFIX: &str = "CONTRACT#";
pub const JOB_PREFIX: &str = "JOB#";
pub const LINK_PREFIX: &str = "LINK#";
pub const VERSION_PREFIX: &str = "VERSION#";

/// A template's version record, in the template's partition; ids are ULIDs, so the versions
/// sort by their publication.
pub fn template_version_sk(id: &Id) -> String {
    format!("{VERSION_PREFIX}{id}")
}

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
