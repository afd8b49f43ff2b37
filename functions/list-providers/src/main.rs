//! GET /providers: lists providers.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::providers::list_providers).await
}
