//! GET /provider-accounts: lists a provider's or an account's provider accounts.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::bulk::list_provider_accounts).await
}
