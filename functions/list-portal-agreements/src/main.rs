//! GET /portal/agreements: the customer's own open agreements.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::portal::list_own_agreements).await
}
