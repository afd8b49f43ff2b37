//! The bulk queue's worker: chunks of "Create Agreements" and provider sync jobs, and the
//! attestation of accepted agreements, one message at a time.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::entrypoints::sqs::serve_bulk_worker().await
}
