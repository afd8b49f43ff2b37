//! GET /providers/{id}: reads one provider.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::providers::get_provider).await
}
