//! POST /billing-contracts/{id}/agreements: tags an agreement on a contract.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::contracts::tag_agreement).await
}
