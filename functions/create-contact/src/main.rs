//! POST /accounts/{id}/contacts: adds a contact to an account.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::entrypoints::http::serve(shared::entrypoints::http::handlers::accounts::create_contact)
        .await
}
