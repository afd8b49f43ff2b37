//! GET /exports/{id}: an export's status, and its download address once completed.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::exports::get_export).await
}
