//! GET /portal/agreements/{id}: one of the customer's own agreements.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::portal::get_own_agreement).await
}
