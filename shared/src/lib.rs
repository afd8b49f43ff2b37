//! The agreements domain crate: model (no I/O) → services → store (DynamoDB), the provider
//! connectors, and the entrypoints (HTTP, SQS, schedule) that every function of the workspace
//! shares. docs/architecture.md maps it.

pub mod config;
pub mod connectors;
pub mod email;
pub mod entrypoints;
pub mod error;
pub mod model;
pub mod queue;
pub mod secrets;
pub mod services;
pub mod store;
pub mod tls;

pub use config::AppContext;
pub use error::{ServiceError, ServiceResult};
