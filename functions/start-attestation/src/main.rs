//! POST /agreements/{id}/attestation: staff start Microsoft's enhanced attestation.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::agreements::start_attestation,
    )
    .await
}
