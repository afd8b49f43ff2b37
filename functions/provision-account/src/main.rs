//! POST /accounts/{id}/provision: the provider account and the agreement, together.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(
        shared::entrypoints::http::handlers::provisioning::provision_account,
    )
    .await
}
