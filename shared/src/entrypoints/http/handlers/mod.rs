//! One handler per HTTP operation, each the whole body of one Lambda function, in one module
//! per resource it serves.

pub mod accounts;
pub mod agreements;
pub mod billing_contracts;
pub mod bulk_jobs;
pub mod exports;
pub mod portal;
pub mod portal_links;
pub mod provider_accounts;
pub mod providers;
pub mod provisioning;
pub mod templates;
