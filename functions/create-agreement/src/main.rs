//! POST /agreements: creates a pending agreement by hand.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::agreements::create_agreement).await
}
