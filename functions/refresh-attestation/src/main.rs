//! POST /agreements/{id}/attestation/refresh: ask Partner Center where the attestation stands now.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::agreements::refresh_attestation,
    )
    .await
}
