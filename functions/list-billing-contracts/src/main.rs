//! GET /billing-contracts?account_id=…: an account's billing contracts.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::billing_contracts::list_contracts,
    )
    .await
}
