//! GET /accounts/{id}: reads one account.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::accounts::get_account)
        .await
}
