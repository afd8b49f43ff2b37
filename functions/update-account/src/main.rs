//! PATCH /accounts/{id}: changes an account's writable fields.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::accounts::update_account)
        .await
}
