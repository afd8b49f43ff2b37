//! GET /agreements/{id}: reads one agreement.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::agreements::get_agreement)
        .await
}
