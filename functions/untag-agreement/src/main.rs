//! DELETE /billing-contracts/{id}/agreements/{agreement_id}: untags an agreement.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::contracts::untag_agreement).await
}
