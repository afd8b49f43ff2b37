//! POST /portal/agreements/{id}/decline: the customer declines a pending agreement.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::portal::decline_agreement)
        .await
}
