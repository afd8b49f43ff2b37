//! Entities, ids, states and their transitions, and the validation of what callers send. No I/O.

pub mod account;
pub mod agreement;
pub mod billing_contract;
pub mod bulk_job;
pub mod contact;
pub mod events;
pub mod export;
pub mod history;
pub mod ids;
pub mod notice;
pub mod portal_link;
pub mod principal;
pub mod provider;
pub mod provider_account;
pub mod template;
pub mod time;
pub mod validate;

pub use account::{Account, AccountPatch, NewAccount};

/// A record changed under optimistic locking: 1 on create, +1 on each change.
pub trait Versioned {
    fn version(&self) -> u64;
}

macro_rules! versioned {
    ($($t:ty),* $(,)?) => {
        $(impl Versioned for $t {
            fn version(&self) -> u64 {
                self.version
            }
        })*
    };
}

versioned!(Account, Contact, Provider, AgreementTemplate, BulkJob);
pub use agreement::{
    Agreement, AgreementAttestation, AgreementFilter, AgreementSource, AgreementStatus,
    AttestationStatus, NewAgreement, TEMPLATE_EXPIRED,
};
pub use billing_contract::{BillingContract, ContractTag, NewBillingContract};
pub use bulk_job::{
    BulkJob, BulkJobView, ItemFailure, JobFilter, JobKind, JobStatus, UnmatchedCustomer,
};
pub use contact::{Contact, ContactPatch, NewContact};
pub use export::{
    Export, ExportFilter, ExportFilterInput, ExportFormat, ExportStatus, ExportView, NewExport,
};
pub use history::{Actor, HistoryAction, HistoryEvent};
pub use ids::Id;
pub use notice::{NoticeRecord, NoticeStep, ReminderCadence};
pub use portal_link::{LinkClaims, LinkKey, LinkStatus, NewPortalLink, PortalLink};
pub use principal::Principal;
pub use provider::{AttestationMethod, NewProvider, Provider, ProviderKind, ProviderPatch};
pub use provider_account::{NewProviderAccount, ProviderAccount};
pub use template::{
    AgreementTemplate, NewTemplate, NewTemplateVersion, TemplatePatch, TemplateState,
    TemplateVersion, TemplateView,
};
pub use time::{Day, Instant};
