//! POST /billing-contracts: creates a billing contract.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::billing_contracts::create_contract,
    )
    .await
}
