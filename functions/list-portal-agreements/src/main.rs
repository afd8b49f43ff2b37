//! GET /portal/agreements: the customer's own open agreements.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::portal::list_own_agreements,
    )
    .await
}
