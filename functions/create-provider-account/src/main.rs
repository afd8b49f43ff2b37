//! POST /provider-accounts: links a customer account to a provider.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::bulk::create_provider_account).await
}
