//! GET /provider-accounts: lists a provider's or an account's provider accounts.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::provider_accounts::list_provider_accounts,
    )
    .await
}
