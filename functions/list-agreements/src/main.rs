//! GET /agreements: lists agreements with filters.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::agreements::list_agreements).await
}
