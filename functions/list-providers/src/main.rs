//! GET /providers: lists providers.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::providers::list_providers)
        .await
}
