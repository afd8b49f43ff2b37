//! POST /agreement-templates/{id}/create-agreements: queues a bulk job.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::bulk::create_agreements).await
}
