//! How each entity is stored: its item type and the keys it lives under.

use serde::{de::DeserializeOwned, Serialize};

use crate::model::{Account, Agreement, AgreementTemplate, Contact, HistoryEvent, Provider};
use crate::store::keys::{self, Keys, META};

/// An entity with a place in the table.
pub trait Record: Serialize + DeserializeOwned + Send + Sync {
    /// The item's `type` attribute.
    const TYPE: &'static str;
    fn keys(&self) -> Keys;
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

impl Record for AgreementTemplate {
    const TYPE: &'static str = "agreement_template";
    fn keys(&self) -> Keys {
        let pk = keys::template(&self.id);
        Keys::new(pk.clone(), META)
            .gsi1(keys::ALL_TEMPLATES, pk.clone())
            .gsi2(keys::provider(&self.provider_id), pk)
    }
}

impl Record for Agreement {
    const TYPE: &'static str = "agreement";
    fn keys(&self) -> Keys {
        let pk = keys::agreement(&self.id);
        Keys::new(pk.clone(), META)
            .gsi1(keys::account(&self.account_id), pk.clone())
            .gsi2(keys::template(&self.template_id), pk.clone())
            .gsi3(keys::ALL_AGREEMENTS, pk)
    }
}

impl Record for HistoryEvent {
    const TYPE: &'static str = "history_event";
    fn keys(&self) -> Keys {
        Keys::new(
            keys::agreement(&self.agreement_id),
            keys::history_sk(self.agreement_version, &self.id),
        )
    }
}

/// The item that holds an account's one open agreement of a template.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OpenAgreementGuard {
    pub account_id: crate::model::Id,
    pub template_id: crate::model::Id,
    pub agreement_id: crate::model::Id,
}

impl Record for OpenAgreementGuard {
    const TYPE: &'static str = "open_agreement";
    fn keys(&self) -> Keys {
        Keys::new(
            keys::account(&self.account_id),
            keys::open_agreement_sk(&self.template_id),
        )
    }
}
