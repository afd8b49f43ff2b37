//! POST /provider-accounts: links a customer account to a provider.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::provider_accounts::create_provider_account,
    )
    .await
}
