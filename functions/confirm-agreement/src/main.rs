//! POST /portal/agreements/{id}/confirm: the customer accepts a pending agreement.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::portal::confirm_agreement).await
}
