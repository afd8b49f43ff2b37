//! POST /providers/{id}/sync: queues a sync of an automatic provider.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::sync::sync_provider).await
}
