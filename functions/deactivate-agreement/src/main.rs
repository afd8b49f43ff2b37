//! POST /agreements/{id}/deactivate: deactivates an agreement, keeping it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::agreements::deactivate_agreement,
    )
    .await
}
