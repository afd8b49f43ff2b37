//! POST /bulk-jobs/{id}/cancel: ends a bulk job that has not ended.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::bulk_jobs::cancel_bulk_job,
    )
    .await
}
