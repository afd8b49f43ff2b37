//! GET /bulk-jobs/{id}: a bulk job's status and counts.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::bulk_jobs::get_bulk_job)
        .await
}
