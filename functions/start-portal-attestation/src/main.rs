//! POST /portal/agreements/{id}/attestation: the customer gets Microsoft's acceptance link.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::portal::start_attestation)
        .await
}
