//! GET /accounts: lists accounts.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::accounts::list_accounts).await
}
