//! The export queue's worker: writes each queued export to S3 as one streamed file.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::entrypoints::exports::serve_export_worker().await
}
