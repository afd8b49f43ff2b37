//! POST /providers: creates a provider.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::providers::create_provider).await
}
