//! GET /agreements/{id}: reads one agreement.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::agreements::get_agreement).await
}
