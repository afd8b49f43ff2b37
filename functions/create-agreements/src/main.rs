//! POST /agreement-templates/{id}/create-agreements: queues a bulk job.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::bulk_jobs::create_agreements,
    )
    .await
}
