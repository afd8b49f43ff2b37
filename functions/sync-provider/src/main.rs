//! POST /providers/{id}/sync: queues a sync of an automatic provider.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::providers::sync_provider)
        .await
}
