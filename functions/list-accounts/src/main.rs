//! GET /accounts: lists accounts.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::accounts::list_accounts)
        .await
}
