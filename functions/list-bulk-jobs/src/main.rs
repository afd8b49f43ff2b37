//! GET /bulk-jobs: bulk jobs, newest first, with filters.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::bulk_jobs::list_bulk_jobs)
        .await
}
