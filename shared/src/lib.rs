//! The agreements domain crate: model, services, the DynamoDB store and the HTTP/SQS entrypoints
//! that every function of the workspace shares.

pub mod config;
pub mod error;
pub mod http;
pub mod model;
pub mod queue;
pub mod schedule;
pub mod services;
pub mod sqs;
pub mod store;

pub use config::AppContext;
pub use error::{ServiceError, ServiceResult};
pub mod connectors;
