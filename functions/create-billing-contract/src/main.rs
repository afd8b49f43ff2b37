//! POST /billing-contracts: creates a billing contract.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::contracts::create_contract).await
}
