//! POST /billing-contracts/{id}/agreements: tags an agreement on a contract.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::billing_contracts::tag_agreement,
    )
    .await
}
