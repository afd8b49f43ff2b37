//! GET /portal/agreements/{id}: one of the customer's own agreements.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::portal::get_own_agreement)
        .await
}
