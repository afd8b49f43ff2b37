//! How each entity is stored: its item type and the keys it lives under.

use serde::{de::DeserializeOwned, Serialize};

use crate::model::{
    Account, Agreement, AgreementTemplate, BillingContract, BulkJob, Contact, ContractTag, Export,
    Id, PortalLink, Provider, ProviderAccount, TemplateVersion,
};
use crate::store::keys::{self, Keys, META};

/// An entity with a place in the table.
pub trait Record: Serialize + DeserializeOwned + Send + Sync {
    /// The item's `type` attribute.
    const TYPE: &'static str;
    fn keys(&self) -> Keys;
}

/// A record with an item of its own under `#META`, read by id (access pattern 1).
pub trait Entity: Record {
    /// The partition of the entity's own item.
    fn partition(id: &Id) -> String;
}

macro_rules! entity {
    ($($t:ty => $partition:path),* $(,)?) => {
        $(impl Entity for $t {
            fn partition(id: &Id) -> String {
                $partition(id)
            }
        })*
    };
}

entity! {
    Provider => keys::provider,
    Account => keys::account,
    AgreementTemplate => keys::template,
    Agreement => keys::agreement,
    BulkJob => keys::job,
    BillingContract => keys::contract,
    PortalLink => keys::portal_link,
    Export => keys::export,
}

/// An export is only read by id.
impl Record for Export {
    const TYPE: &'static str = "export";
    fn keys(&self) -> Keys {
        Keys::new(keys::export(&self.id), META)
    }
}

/// A portal link is read by id (the authorizer, revocation) and listed in its account's
/// collection; `ttl` lets the table drop it a while after it expired.
impl Record for PortalLink {
    const TYPE: &'static str = "portal_link";
    fn keys(&self) -> Keys {
        let pk = keys::portal_link(&self.id);
        Keys::new(pk.clone(), META).gsi1(keys::account(&self.account_id), pk)
    }
}

impl Record for Provider {
    const TYPE: &'static str = "provider";
    fn keys(&self) -> Keys {
        let pk = keys::provider(&self.id);
        Keys::new(pk.clone(), META).gsi1(keys::ALL_PROVIDERS, pk)
    }
}

impl Record for Account {
    const TYPE: &'static str = "account";
    fn keys(&self) -> Keys {
        let pk = keys::account(&self.id);
        let k = Keys::new(pk.clone(), META).gsi1(keys::ALL_ACCOUNTS, pk.clone());
        match &self.email_domain {
            Some(d) => k.gsi2(keys::domain(d), pk),
            None => k,
        }
    }
}

impl Record for Contact {
    const TYPE: &'static str = "contact";
    fn keys(&self) -> Keys {
        Keys::new(keys::account(&self.account_id), keys::contact_sk(&self.id))
    }
}

impl Record for ProviderAccount {
    const TYPE: &'static str = "provider_account";
    fn keys(&self) -> Keys {
        Keys::new(
            keys::provider(&self.provider_id),
            keys::provider_account_sk(&self.provider_specific_id),
        )
        .gsi1(
            keys::account(&self.account_id),
            keys::provider_account_by_account(&self.provider_id, &self.provider_specific_id),
        )
    }
}

/// Every job sits in the `JOBS` collection (GSI2; ids are ULIDs, so by time), which staff list.
/// A job that has not ended also sits in the sparse `OPEN_JOBS` collection (GSI1), which the
/// sweep reads; the write that ends a job removes it from there.
impl Record for BulkJob {
    const TYPE: &'static str = "bulk_job";
    fn keys(&self) -> Keys {
        let pk = keys::job(&self.id);
        let k = Keys::new(pk.clone(), META).gsi2(keys::ALL_JOBS, pk.clone());
        if self.status.is_finished() {
            k
        } else {
            k.gsi1(keys::OPEN_JOBS, pk)
        }
    }
}

impl Record for AgreementTemplate {
    const TYPE: &'static str = "agreement_template";
    fn keys(&self) -> Keys {
        let pk = keys::template(&self.id);
        Keys::new(pk.clone(), META)
            .gsi1(keys::ALL_TEMPLATES, pk.clone())
            .gsi2(keys::provider(&self.provider_id), pk)
    }
}

/// A template's published versions live in its partition, beside its `#META`.
impl Record for TemplateVersion {
    const TYPE: &'static str = "template_version";
    fn keys(&self) -> Keys {
        Keys::new(
            keys::template(&self.template_id),
            keys::template_version_sk(&self.id),
        )
    }
}

impl Record for Agreement {
    const TYPE: &'static str = "agreement";
    fn keys(&self) -> Keys {
        // Agreement ids are derived, not time-ordered: the index sort keys carry the creation time.
        // Two collections only (each index entry is a write unit): the account's, and all
        // agreements, spread over shards; a template's agreements are the latter's entries with
        // its `template_id`, which the index projects.
        let sk = keys::agreement_in_collection(&self.created_at.to_string(), &self.id);
        Keys::new(keys::agreement(&self.id), META)
            .gsi1(keys::account(&self.account_id), sk.clone())
            .gsi3(keys::all_agreements_shard(&self.id), sk)
    }
}

impl Record for BillingContract {
    const TYPE: &'static str = "billing_contract";
    fn keys(&self) -> Keys {
        let pk = keys::contract(&self.id);
        Keys::new(pk.clone(), META).gsi1(keys::account(&self.account_id), pk)
    }
}

/// A tag lives in its contract's partition (the contract's agreements) and, through GSI1, in
/// its agreement's collection (the agreement's contracts).
impl Record for ContractTag {
    const TYPE: &'static str = "contract_tag";
    fn keys(&self) -> Keys {
        Keys::new(
            keys::contract(&self.contract_id),
            keys::agreement(&self.agreement_id),
        )
        .gsi1(
            keys::agreement(&self.agreement_id),
            keys::contract(&self.contract_id),
        )
    }
}

/// An import's rows live in its job's partition, a part per item.
impl Record for super::provider_accounts::ImportPart {
    const TYPE: &'static str = "import_part";
    fn keys(&self) -> Keys {
        Keys::new(keys::job(&self.job_id), keys::import_part_sk(self.part))
    }
}
