//! On a schedule: queues a sync of every automatic provider.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::entrypoints::schedule::serve_scheduled_sync().await
}
