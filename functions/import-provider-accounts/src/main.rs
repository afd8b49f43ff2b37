//! POST /provider-accounts/import: imports provider accounts from JSON or CSV.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::provider_accounts::import_provider_accounts,
    )
    .await
}
