//! GET /providers/{id}: reads one provider.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::providers::get_provider)
        .await
}
