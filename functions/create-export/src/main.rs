//! POST /exports: queues an export of the agreements matching a filter.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::exports::create_export)
        .await
}
