//! POST /portal/agreements/{id}/confirm: the customer accepts a pending agreement.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::portal::confirm_agreement)
        .await
}
