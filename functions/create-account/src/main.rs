//! POST /accounts: creates a customer account.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::accounts::create_account).await
}
