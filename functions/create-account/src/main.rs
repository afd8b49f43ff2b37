//! POST /accounts: creates a customer account.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::accounts::create_account)
        .await
}
