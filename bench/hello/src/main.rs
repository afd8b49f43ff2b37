//! The baseline of the cold-start benchmark: the least a Rust Lambda function does (the same
//! tokio runtime and Lambda runtime client as the functions), answering each event with itself.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
