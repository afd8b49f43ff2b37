//! GET /bulk-jobs/{id}: a bulk job's status and counts.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::bulk::get_bulk_job).await
}
