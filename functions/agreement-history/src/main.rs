//! GET /agreements/{id}/history: lists an agreement's history events.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::agreements::agreement_history).await
}
