//! One handler per HTTP operation, each the whole body of one Lambda function.

pub mod accounts;
pub mod agreements;
pub mod bulk;
pub mod contracts;
pub mod portal;
pub mod providers;
pub mod sync;
pub mod templates;
