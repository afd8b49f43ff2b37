//! POST /accounts/{id}/provision: the provider account and the agreement, together.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::serve(shared::http::routes::sync::provision_account).await
}
