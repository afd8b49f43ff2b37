//! POST /providers: creates a provider.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::providers::create_provider,
    )
    .await
}
