//! POST /provider-accounts/import: imports provider accounts from JSON or CSV.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::bulk::import_provider_accounts).await
}
