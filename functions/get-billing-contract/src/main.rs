//! GET /billing-contracts/{id}: a contract with its agreement ids.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::contracts::get_contract).await
}
