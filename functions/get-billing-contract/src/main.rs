//! GET /billing-contracts/{id}: a contract with its agreement ids.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::billing_contracts::get_contract,
    )
    .await
}
