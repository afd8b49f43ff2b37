//! GET /agreements: lists agreements with filters.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::agreements::list_agreements,
    )
    .await
}
