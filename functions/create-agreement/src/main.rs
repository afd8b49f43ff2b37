//! POST /agreements: creates a pending agreement by hand.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::agreements::create_agreement,
    )
    .await
}
