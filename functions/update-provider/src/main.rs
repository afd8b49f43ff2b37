//! PATCH /providers/{id}: changes a provider's writable fields.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::providers::update_provider,
    )
    .await
}
