//! The edges of the functions: `http` (API Gateway requests), `sqs` (the bulk queue's batches)
//! and `schedule` (EventBridge schedule events). Each turns its event into service calls and
//! their outcome into the answer its caller expects.

pub mod authorizer;
pub mod email;
pub mod exports;
pub mod http;
pub mod schedule;
pub mod sqs;
