//! POST /agreements/{id}/deactivate: deactivates an agreement, keeping it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::agreements::deactivate_agreement).await
}
