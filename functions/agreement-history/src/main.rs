//! GET /agreements/{id}/history: lists an agreement's history events.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::agreements::agreement_history,
    )
    .await
}
