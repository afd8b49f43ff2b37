//! GET /accounts/{id}: reads one account.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::accounts::get_account).await
}
