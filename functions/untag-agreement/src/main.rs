//! DELETE /billing-contracts/{id}/agreements/{agreement_id}: untags an agreement.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::billing_contracts::untag_agreement,
    )
    .await
}
