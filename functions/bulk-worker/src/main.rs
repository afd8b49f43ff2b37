//! The bulk queue's worker: creates agreements one chunk of a job per message.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::sqs::serve_bulk_worker().await
}
